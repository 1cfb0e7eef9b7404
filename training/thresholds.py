"""Threshold calibration on validation scores (oriented: higher = more anomalous).

Two methods:

* ``target_far``: the threshold is the ``1 - far`` quantile of NORMAL validation scores
  (rows with label 0, or all rows when there are no labels), so about ``far`` of normal
  windows score above it. An alarm is ``score > threshold``.
* ``best_f1``: where validation labels contain both classes, the threshold maximising
  point-wise F1 (``training.metrics.best_f1_threshold``).

Per device: a device with at least ``min_device_rows`` validation rows gets its own threshold
(same method; a device with no positives falls back to the FAR quantile); others use the global.

>>> import numpy as np
>>> s = np.r_[np.linspace(0, 1, 1000), 5.0]
>>> t = calibrate(s, target_far=0.01)
>>> t["method"], round(t["global"], 2), float((s > t["global"]).mean()) <= 0.011
('target_far', 0.99, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def far_threshold(scores: np.ndarray, target_far: float) -> float:
    """Smallest observed score with at most ``target_far`` of ``scores`` strictly above it."""
    s = np.sort(np.asarray(scores, np.float64)[np.isfinite(scores)])
    if s.size == 0:
        raise ValueError("no finite scores to calibrate on")
    if not 0.0 <= target_far < 1.0:
        raise ValueError("target_far must be in [0, 1)")
    k = int(np.ceil((1.0 - target_far) * s.size)) - 1
    return float(s[min(max(k, 0), s.size - 1)])


def _has_both(labels: np.ndarray | None) -> bool:
    return labels is not None and labels.size > 0 and 0 < int(labels.sum()) < labels.size


def _one(scores: np.ndarray, labels: np.ndarray | None, target_far: float, method: str) -> tuple[float, str]:
    if method in ("auto", "best_f1") and _has_both(labels):
        from training.metrics import best_f1_threshold

        thr, f1 = best_f1_threshold(labels, scores)
        if np.isfinite(thr) and f1 > 0:
            # best_f1_threshold alarms at score >= thr; step just below so "score > thr" matches.
            return float(np.nextafter(thr, -np.inf)), "best_f1"
    if method == "best_f1" and not _has_both(labels):
        raise ValueError("best_f1 needs validation labels with both classes")
    normal = scores if labels is None else scores[labels == 0]
    return far_threshold(normal if normal.size else scores, target_far), "target_far"


def calibrate(scores: np.ndarray, device_ids: np.ndarray | None = None,
              labels: np.ndarray | None = None, target_far: float = 0.01,
              method: str = "auto", min_device_rows: int = 200) -> dict[str, Any]:
    """Thresholds block of the manifest: ``{global, per_device, method, target_false_alarm_rate}``.

    ``method``: ``auto`` (best F1 when labels allow, else target FAR), ``best_f1`` or
    ``target_far``. Raises ``ValueError`` on empty/non-finite scores or an impossible method.
    """
    if method not in ("auto", "best_f1", "target_far"):
        raise ValueError(f"unknown threshold method {method!r}")
    s = np.asarray(scores, np.float64).reshape(-1)
    y = None if labels is None else np.asarray(labels).astype(np.int64).reshape(-1)
    if y is not None and y.shape != s.shape:
        raise ValueError("labels and scores differ in length")
    glob, used = _one(s, y, target_far, method)
    per_device: dict[str, float] = {}
    if device_ids is not None:
        d = np.asarray(device_ids).astype(str)
        for dev in np.unique(d):
            m = d == dev
            if m.sum() >= min_device_rows:
                per_device[str(dev)], _ = _one(s[m], None if y is None else y[m], target_far,
                                               "target_far" if used == "target_far" else "auto")
    return {"global": glob, "per_device": per_device, "method": used,
            "target_false_alarm_rate": float(target_far)}


def alarms(scores: np.ndarray, device_ids: np.ndarray | None, thresholds: dict[str, Any]) -> np.ndarray:
    """Boolean alarm per row: ``score > threshold`` (per-device threshold when present)."""
    s = np.asarray(scores, np.float64)
    thr = np.full(s.shape, float(thresholds["global"]))
    per = thresholds.get("per_device") or {}
    if device_ids is not None and per:
        d = np.asarray(device_ids).astype(str)
        for dev, t in per.items():
            thr[d == dev] = float(t)
    return s > thr
