"""Detection metrics on binary labels and predictions: point-wise, event-wise, delay.

Everything here is pure numpy on 1-D arrays of equal length (one entry per scored point,
in time order). Labels and predictions are 0/1 (bool or int); NaN is not allowed.

Definitions (the ones SKAB and most papers use):

* point-wise: TP/FP/TN/FN over points; precision = TP/(TP+FP), recall = TP/(TP+FN),
  F1 their harmonic mean; FAR (false-alarm rate) = FP/(FP+TN); MAR (missed-alarm rate)
  = FN/(FN+TP). An undefined ratio (0/0) is reported as 0.0, never NaN, so tables stay
  numeric; the raw counts travel with it so nobody is misled.
* event-wise: an *event* is a maximal run of consecutive 1s in the labels, an *alarm* a
  maximal run of 1s in the predictions. An event is detected when any prediction falls
  inside it (optionally extended by ``tolerance`` points after its end); an alarm is correct
  when it overlaps any (extended) event. Event precision = correct alarms / alarms, event
  recall = detected events / events.
* detection delay: for each detected event, points (and, given timestamps, milliseconds)
  from the event's first point to the first prediction inside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


def _as_bool(x: np.ndarray | list, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.dtype.kind == "f" and np.isnan(a).any():
        raise ValueError(f"{name} contains NaN")
    return a.astype(bool)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if (p + r) else 0.0


def segments(mask: np.ndarray) -> list[tuple[int, int]]:
    """Maximal runs of True as inclusive ``(start, end)`` index pairs.

    >>> segments(np.array([0, 1, 1, 0, 1], dtype=bool))
    [(1, 2), (4, 4)]
    """
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return []
    d = np.diff(np.concatenate(([0], m.astype(np.int8), [0])))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1) - 1
    return list(zip(starts.tolist(), ends.tolist()))


@dataclass
class PointMetrics:
    """Point-wise confusion counts and the rates derived from them."""

    tp: int
    fp: int
    tn: int
    fn: int
    precision: float
    recall: float
    f1: float
    far: float
    mar: float

    def to_dict(self) -> dict:
        return asdict(self)


def point_metrics(labels: np.ndarray | list, preds: np.ndarray | list) -> PointMetrics:
    """Point-wise precision, recall, F1, false-alarm and missed-alarm rate.

    >>> m = point_metrics([0, 0, 1, 1, 0], [0, 1, 1, 0, 0])
    >>> (m.tp, m.fp, m.tn, m.fn), round(m.f1, 3), round(m.far, 3), m.mar
    ((1, 1, 2, 1), 0.5, 0.333, 0.5)
    """
    y = _as_bool(labels, "labels")
    p = _as_bool(preds, "preds")
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and preds {p.shape} differ in length")
    tp = int((y & p).sum())
    fp = int((~y & p).sum())
    tn = int((~y & ~p).sum())
    fn = int((y & ~p).sum())
    prec, rec = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return PointMetrics(tp, fp, tn, fn, prec, rec, _f1(prec, rec), _ratio(fp, fp + tn), _ratio(fn, fn + tp))


@dataclass
class EventMetrics:
    """Event-wise counts, rates and detection delays."""

    events: int
    detected: int
    alarms: int
    correct_alarms: int
    precision: float
    recall: float
    f1: float
    delays_points: list[int] = field(default_factory=list)
    delays_ms: list[int] = field(default_factory=list)

    @property
    def mean_delay_points(self) -> float | None:
        return float(np.mean(self.delays_points)) if self.delays_points else None

    @property
    def mean_delay_ms(self) -> float | None:
        return float(np.mean(self.delays_ms)) if self.delays_ms else None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean_delay_points"] = self.mean_delay_points
        d["mean_delay_ms"] = self.mean_delay_ms
        return d


def event_metrics(
    labels: np.ndarray | list,
    preds: np.ndarray | list,
    ts_ms: np.ndarray | list | None = None,
    tolerance: int = 0,
) -> EventMetrics:
    """Event-wise precision/recall/F1 and per-event detection delay.

    ``tolerance`` extends every event by that many points after its end (a late alarm on a
    fault that just ended still counts); delays are measured from the event's first point.

    >>> e = event_metrics([0, 1, 1, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 1, 0, 0, 0], ts_ms=range(0, 9000, 1000))
    >>> e.events, e.detected, e.alarms, e.correct_alarms, e.delays_points, e.delays_ms
    (2, 1, 2, 1, [1], [1000])
    """
    y = _as_bool(labels, "labels")
    p = _as_bool(preds, "preds")
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and preds {p.shape} differ in length")
    if tolerance < 0:
        raise ValueError("tolerance must be >= 0")
    ts = None if ts_ms is None else np.asarray(ts_ms, dtype=np.int64)
    if ts is not None and ts.shape != y.shape:
        raise ValueError("ts_ms must have the same length as labels")
    n = y.size
    events = [(s, min(e + tolerance, n - 1)) for s, e in segments(y)]
    alarms = segments(p)
    pred_idx = np.flatnonzero(p)
    detected = 0
    delays_pts: list[int] = []
    delays_ms: list[int] = []
    covered = np.zeros(n, dtype=bool)
    for s, e in events:
        covered[s:e + 1] = True
        # First prediction at or after the event start, inside the (extended) event.
        k = np.searchsorted(pred_idx, s)
        if k < pred_idx.size and pred_idx[k] <= e:
            detected += 1
            first = int(pred_idx[k])
            delays_pts.append(first - s)
            if ts is not None:
                delays_ms.append(int(ts[first] - ts[s]))
    correct = sum(1 for s, e in alarms if covered[s:e + 1].any())
    prec, rec = _ratio(correct, len(alarms)), _ratio(detected, len(events))
    return EventMetrics(len(events), detected, len(alarms), correct, prec, rec, _f1(prec, rec), delays_pts, delays_ms)


def best_f1_threshold(labels: np.ndarray | list, scores: np.ndarray | list) -> tuple[float, float]:
    """Threshold maximising point-wise F1 (``score >= threshold`` is a detection).

    Only for diagnostics and for calibrating on *validation* data: reporting a test score at
    the threshold chosen on the same test labels is optimistic, and the evaluation reports
    never do that.

    >>> best_f1_threshold([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    (0.35, 0.8)
    """
    y = _as_bool(labels, "labels")
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != y.shape:
        raise ValueError("scores and labels differ in length")
    ok = np.isfinite(s)
    y, s = y[ok], s[ok]
    if y.sum() == 0 or s.size == 0:
        return float("inf"), 0.0
    order = np.argsort(-s, kind="stable")
    ss, yy = s[order], y[order]
    tp = np.cumsum(yy)
    fp = np.cumsum(~yy)
    # Evaluate only at the last index of each run of equal scores (ties detect together).
    last = np.flatnonzero(np.r_[ss[1:] != ss[:-1], True])
    tp, fp = tp[last], fp[last]
    f1 = 2 * tp / (tp + fp + y.sum())
    i = int(np.argmax(f1))
    return float(ss[last][i]), float(round(f1[i], 12))
