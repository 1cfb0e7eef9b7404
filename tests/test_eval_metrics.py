"""Point-wise / event-wise metrics and detection delay."""

import numpy as np
import pytest

from training.metrics import best_f1_threshold, event_metrics, point_metrics, segments


def test_point_metrics_counts_and_rates():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    p = np.array([1, 0, 0, 0, 0, 1, 1, 0, 0, 0])
    m = point_metrics(y, p)
    assert (m.tp, m.fp, m.tn, m.fn) == (2, 1, 5, 2)
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(0.5)
    assert m.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert m.far == pytest.approx(1 / 6)
    assert m.mar == pytest.approx(0.5)


def test_point_metrics_degenerate_cases_are_zero_not_nan():
    m = point_metrics([0, 0, 0], [0, 0, 0])
    assert (m.precision, m.recall, m.f1, m.far, m.mar) == (0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        point_metrics([0, 1], [0, 1, 1])
    with pytest.raises(ValueError):
        point_metrics([0.0, np.nan], [0, 1])


def test_segments():
    assert segments(np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)) == [(0, 1), (4, 4), (6, 8)]
    assert segments(np.zeros(0, dtype=bool)) == []


def test_event_metrics_delay_and_tolerance():
    y = np.zeros(30, dtype=int)
    y[5:10] = 1
    y[20:23] = 1
    p = np.zeros(30, dtype=int)
    p[8] = 1            # detects event 1 with delay 3
    p[24] = 1           # 1 point after event 2: only with tolerance
    p[14:16] = 1        # false alarm
    ts = np.arange(30) * 500
    e = event_metrics(y, p, ts_ms=ts)
    assert (e.events, e.detected, e.alarms, e.correct_alarms) == (2, 1, 3, 1)
    assert e.delays_points == [3] and e.delays_ms == [1500]
    assert e.recall == 0.5 and e.precision == pytest.approx(1 / 3)
    e2 = event_metrics(y, p, ts_ms=ts, tolerance=2)
    assert (e2.detected, e2.correct_alarms) == (2, 2)
    assert e2.delays_points == [3, 4]
    assert e2.mean_delay_ms == pytest.approx(1750)


def test_best_f1_threshold_ties_detect_together():
    thr, f1 = best_f1_threshold([0, 1, 1, 0], [0.5, 0.5, 0.9, 0.1])
    # At 0.9: P=1, R=.5 -> .667; at 0.5 both tied rows fire: P=2/3, R=1 -> .8
    assert thr == 0.5 and f1 == pytest.approx(0.8)
