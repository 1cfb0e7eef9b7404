"""SKAB protocol: split, training-only threshold, pooled F1 / FAR / MAR on real valve1 files."""

import numpy as np
import pytest

from eval_fixtures import require_dataset
from training.evaluate import SKAB_SENSORS, _skab_frame
from training.skab_protocol import SKAB_TRAIN_ROWS, SkabFileResult, pool, ucl_threshold


def test_ucl_threshold_uses_quantile_and_factor_above_the_median():
    s = np.r_[np.linspace(0, 1, 1001), np.nan]
    assert ucl_threshold(s, q=0.999, factor=4 / 3) == pytest.approx(0.5 + (0.999 - 0.5) * 4 / 3)
    neg = np.linspace(-1, 1, 101)
    assert ucl_threshold(neg, q=0.99, factor=2.0) == pytest.approx(0.0 + 2 * 0.98)
    # Offset-invariant: shifting every score shifts the limit by the same amount.
    assert ucl_threshold(s + 0.5) == pytest.approx(ucl_threshold(s) + 0.5)
    with pytest.raises(ValueError):
        ucl_threshold(np.array([np.nan]))


def test_pool_is_one_confusion_matrix_over_concatenated_files():
    a = SkabFileResult("a", 0.5, np.array([0, 0, 1, 1]), np.array([1, 0, 1, 1]), np.zeros(4), np.arange(4))
    b = SkabFileResult("b", 0.5, np.array([1, 1, 0, 0]), np.array([0, 0, 0, 0]), np.zeros(4), np.arange(4))
    r = pool([a, b])
    assert (r.point.tp, r.point.fp, r.point.tn, r.point.fn) == (2, 1, 3, 2)
    assert r.point.far == pytest.approx(1 / 4) and r.point.mar == pytest.approx(2 / 4)
    # Mean of per-file F1 would be (0.8 + 0) / 2 = 0.4; pooled F1 is 2*2 / (2*2 + 1 + 2) = 4/7.
    assert r.point.f1 == pytest.approx(4 / 7)
    s = r.summary()
    assert s["files"]["a"]["f1"] == pytest.approx(0.8) and s["event"]["events"] == 2


def test_skab_protocol_on_real_files_with_training_only_threshold():
    root = require_dataset("skab/valve1")
    files = []
    for name in ("1", "2"):
        f = _skab_frame(root / f"{name}.csv", device=f"valve1-{name}")
        assert list(f.columns[2:-1]) == SKAB_SENSORS and len(f) > SKAB_TRAIN_ROWS
        assert f["label"].iloc[:SKAB_TRAIN_ROWS].sum() == 0, "SKAB's training rows are anomaly-free"
        # A transparent detector: max robust z-score over sensors vs the first 400 rows.
        x = f[SKAB_SENSORS].to_numpy()
        med = np.median(x[:SKAB_TRAIN_ROWS], axis=0)
        mad = np.median(np.abs(x[:SKAB_TRAIN_ROWS] - med), axis=0) + 1e-9
        score = np.abs((x - med) / mad).max(axis=1)
        thr = ucl_threshold(score[:SKAB_TRAIN_ROWS], q=0.99, factor=4 / 3)
        pred = score > thr
        files.append(SkabFileResult(name, thr, f["label"].to_numpy()[SKAB_TRAIN_ROWS:], pred[SKAB_TRAIN_ROWS:],
                                    score[SKAB_TRAIN_ROWS:], f["ts"].to_numpy()[SKAB_TRAIN_ROWS:]))
    r = pool(files)
    n_scored = sum(len(f.labels) for f in files)
    assert r.point.tp + r.point.fp + r.point.tn + r.point.fn == n_scored
    assert r.point.tp + r.point.fn == sum(int(f.labels.sum()) for f in files) > 0
    assert 0.0 <= r.point.far <= 1.0 and 0.0 <= r.point.mar <= 1.0
