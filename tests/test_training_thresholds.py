"""Threshold calibration: target false-alarm rate, best F1, per device."""

from __future__ import annotations

import numpy as np
import pytest

from training.thresholds import alarms, calibrate, far_threshold


def test_target_far_bounds_the_alarm_rate_on_validation_and_on_fresh_data():
    rng = np.random.default_rng(0)
    val = rng.normal(size=20_000)
    for far in (0.001, 0.01, 0.05):
        t = calibrate(val, target_far=far)
        assert t["method"] == "target_far" and t["target_false_alarm_rate"] == far
        assert (val > t["global"]).mean() <= far
        assert (val > t["global"]).mean() >= far - 1 / len(val) - 1e-12
        fresh = rng.normal(size=20_000)  # same distribution: the rate generalises
        assert abs((fresh > t["global"]).mean() - far) < 3 * np.sqrt(far / 20_000) + 0.002


def test_best_f1_with_labels_separates_the_classes():
    rng = np.random.default_rng(1)
    normal, anom = rng.normal(0, 1, 2000), rng.normal(6, 1, 50)
    s = np.r_[normal, anom]
    y = np.r_[np.zeros(2000), np.ones(50)].astype(int)
    t = calibrate(s, labels=y, target_far=0.01)
    assert t["method"] == "best_f1"
    pred = alarms(s, None, t)
    tp = (pred & (y == 1)).sum()
    assert tp >= 45 and (pred & (y == 0)).sum() <= 10
    # An alarm is score > threshold: the best-F1 score itself alarms.
    assert pred[np.argmin(np.where(pred, s, np.inf))]


def test_labels_with_one_class_fall_back_to_far_on_normals():
    s = np.linspace(0, 1, 1001)
    t = calibrate(s, labels=np.zeros(1001, int), target_far=0.1)
    assert t["method"] == "target_far" and t["global"] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="both classes"):
        calibrate(s, labels=np.zeros(1001, int), method="best_f1")


def test_per_device_thresholds_when_data_allows():
    rng = np.random.default_rng(2)
    noisy, quiet, tiny = rng.normal(0, 5, 1000), rng.normal(0, 1, 1000), rng.normal(0, 1, 50)
    s = np.r_[noisy, quiet, tiny]
    dev = np.array(["noisy"] * 1000 + ["quiet"] * 1000 + ["tiny"] * 50)
    t = calibrate(s, dev, target_far=0.01, min_device_rows=200)
    assert set(t["per_device"]) == {"noisy", "quiet"}  # "tiny" has too few rows: global
    assert t["per_device"]["noisy"] > 3 * t["per_device"]["quiet"]
    pred = alarms(s, dev, t)
    for d in ("noisy", "quiet"):
        assert pred[dev == d].mean() <= 0.01


def test_bad_calibration_input():
    with pytest.raises(ValueError, match="no finite"):
        far_threshold(np.array([np.nan]), 0.01)
    with pytest.raises(ValueError, match="target_far"):
        far_threshold(np.ones(3), 1.5)
    with pytest.raises(ValueError, match="unknown threshold method"):
        calibrate(np.ones(3), method="magic")
