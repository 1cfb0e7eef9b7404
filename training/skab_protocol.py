"""SKAB's outlier-detection protocol: train on the first 400 rows of each file, score the rest.

For every labelled SKAB file (``valve1/0..15``): rows ``[0, 400)`` train a fresh model (and
fix its alarm threshold -- from the *training* scores only), rows ``[400, n)`` are scored.
Predictions and the ``anomaly`` labels of the scored rows of all files are concatenated and
one confusion matrix gives F1, FAR (false-alarm rate, FP / (FP + TN)) and MAR (missed-alarm
rate, FN / (FN + TP)) -- "pooled over files", as SKAB's ``chp_score(..., metric="binary")``
does. No test label is ever used to choose anything.

The threshold rule follows SKAB's own baselines, an upper control limit on the training
scores (Conv-AE: ``quantile(residuals, 0.999) * 4/3``), measured from the training median so
it does not depend on a model's score offset (see :func:`ucl_threshold`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from training.metrics import EventMetrics, PointMetrics, event_metrics, point_metrics

SKAB_TRAIN_ROWS = 400
"""Rows at the start of each SKAB file used for training (SKAB protocol)."""


def ucl_threshold(train_scores: np.ndarray, q: float = 0.99, factor: float = 4 / 3) -> float:
    """Upper control limit from training scores: ``median + (quantile(q) - median) * factor``.

    SKAB's baselines use ``quantile * factor`` on reconstruction residuals, whose median is
    close to 0, where both agree. Measured from the median, the limit does not depend on a
    model's score offset (an Isolation Forest scores around 0.5, not 0, and ``quantile * 4/3``
    put its limit above every score it can give). NaN scores (rows before the first full
    window) are ignored.

    >>> ucl_threshold(np.arange(101, dtype=float), q=0.99, factor=1.5)
    123.5
    """
    s = np.asarray(train_scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if s.size == 0:
        raise ValueError("no finite training scores to set a threshold from")
    qv = float(np.quantile(s, q))
    med = float(np.median(s))
    return med + (qv - med) * factor


@dataclass
class SkabFileResult:
    """Scored part of one SKAB file."""

    name: str
    threshold: float
    labels: np.ndarray
    preds: np.ndarray
    scores: np.ndarray
    ts_ms: np.ndarray
    point: PointMetrics = field(init=False)

    def __post_init__(self) -> None:
        self.point = point_metrics(self.labels, self.preds)


@dataclass
class SkabResult:
    """Pooled SKAB metrics plus the per-file breakdown."""

    point: PointMetrics
    event: EventMetrics
    files: list[SkabFileResult]

    def summary(self) -> dict:
        """F1 / FAR / MAR (as fractions), event metrics and per-file F1, JSON-ready."""
        return {
            "f1": self.point.f1,
            "far": self.point.far,
            "mar": self.point.mar,
            "precision": self.point.precision,
            "recall": self.point.recall,
            "counts": {k: getattr(self.point, k) for k in ("tp", "fp", "tn", "fn")},
            "event": self.event.to_dict(),
            "files": {
                f.name: {"f1": f.point.f1, "far": f.point.far, "mar": f.point.mar, "threshold": f.threshold}
                for f in self.files
            },
        }


def pool(files: list[SkabFileResult]) -> SkabResult:
    """Concatenate the scored rows of all files and compute the pooled metrics.

    Event metrics are computed per file and summed (events never span two files).

    >>> a = SkabFileResult("a", 1.0, np.array([0, 1, 1]), np.array([0, 1, 0]), np.zeros(3), np.arange(3))
    >>> b = SkabFileResult("b", 1.0, np.array([0, 0, 1]), np.array([1, 0, 1]), np.zeros(3), np.arange(3))
    >>> r = pool([a, b])
    >>> (r.point.tp, r.point.fp, r.point.fn), round(r.point.f1, 3), r.event.detected
    ((2, 1, 1), 0.667, 2)
    """
    if not files:
        raise ValueError("no SKAB files scored")
    y = np.concatenate([f.labels for f in files]).astype(bool)
    p = np.concatenate([f.preds for f in files]).astype(bool)
    per = [event_metrics(f.labels, f.preds, f.ts_ms) for f in files]
    ev = EventMetrics(
        events=sum(e.events for e in per),
        detected=sum(e.detected for e in per),
        alarms=sum(e.alarms for e in per),
        correct_alarms=sum(e.correct_alarms for e in per),
        precision=0.0,
        recall=0.0,
        f1=0.0,
        delays_points=[d for e in per for d in e.delays_points],
        delays_ms=[d for e in per for d in e.delays_ms],
    )
    ev.precision = ev.correct_alarms / ev.alarms if ev.alarms else 0.0
    ev.recall = ev.detected / ev.events if ev.events else 0.0
    ev.f1 = 2 * ev.precision * ev.recall / (ev.precision + ev.recall) if (ev.precision + ev.recall) else 0.0
    return SkabResult(point_metrics(y, p), ev, files)
