"""Alert policy for model scores: threshold, hysteresis, minimum duration, cooldown, severity.

An anomaly alert is an entity that OPENS and CLOSES (never one per window):

* open: the score is ≥ T for ``min_duration`` consecutive windows and the device is not in
  cooldown. ``alert_id = make_alert_id(device, end of the OPENING window, "anomaly", model
  version at opening)``; ``window_start`` is the start of the first window of the run.
* close: while open, the score stays below ``T − (1 − hysteresis)·|T|`` for ``close_after``
  consecutive windows. The close event repeats the ``alert_id`` with ``status="closed"`` and
  ``closed_at`` = end of the closing window. Cooldown: no new alert opens until
  ``cooldown_ms`` of event time after a close.
* top features: on the open event (those of the opening window); the close event has none.
* severity: ``critical`` when the opening score ≥ T + critical_margin·|T|, else ``warning``.

Threshold modes: ``manifest`` (per-device threshold of the bundle, else its global one, else
``config.threshold``), ``fixed`` (``config.threshold``), ``likelihood`` (online per-device
calibration: the score becomes the anomaly likelihood Φ((mean of the last ``likelihood_short``
scores − μ)/σ) against the device's last ``likelihood_history`` scores, and T =
``likelihood_threshold``; before ``likelihood_min_history`` scores it is 0.5, so no alert).
Scores are oriented (higher = more anomalous) and decisions only depend on the device's own
score sequence, so results do not depend on how windows were batched for scoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from udfs.config import JobConfig
from udfs.schema import Alert, ModelRef, TopFeature, iso_ms, make_alert_id

NO_TS = -(1 << 62)


def ring_z(hist: np.ndarray, n: int, score: float, short: int, min_history: int) -> float | None:
    """z of the mean of ``score`` and the ``short − 1`` previous scores against μ, σ of the
    ring ``hist`` (``n`` scores seen so far, the next one goes to ``n % len(hist)``); ``None``
    before ``min_history`` scores. The ring is not updated. Shared by the likelihood mode
    and :class:`udfs.online.OnlineSurprise`.

    >>> h = np.array([1.0, 2.0, 3.0, 0.0]); round(ring_z(h, 3, 4.0, short=1, min_history=3), 3)
    2.449
    >>> ring_z(h, 2, 4.0, short=1, min_history=3) is None
    True
    """
    cap = len(hist)
    have = min(n, cap)
    if have < min_history:
        return None
    h = hist if have == cap else hist[:have]
    mu, sd = float(h.mean()), float(h.std())
    idx = (n - 1 - np.arange(min(short - 1, have))) % cap
    avg = (score + float(hist[idx].sum())) / (1 + len(idx))
    return (avg - mu) / max(sd, 1e-9 * max(1.0, abs(mu)), 1e-12)


@dataclass(slots=True)
class Decision:
    """Outcome for one scored window."""

    alerts: list[Alert]
    score: float  # the score compared with the threshold (likelihood in that mode)
    threshold: float
    is_open: bool


@dataclass(slots=True, eq=False)  # holds an ndarray
class AlertState:
    """Per-device alert state (replay keeps one per device; the job keeps the JVM's
    ``vigil.flink.alerts.AlertState`` in keyed state). ``hist`` is the likelihood mode's ring
    of raw scores (float64), empty in the other modes.

    Create it with ``AlertPolicy.new_state()`` (likelihood mode needs its history buffer).

    >>> st = AlertState(above=2, open_id="abc", severity="warning")
    >>> st.open_end == NO_TS, len(st.hist)
    (True, 0)
    """

    above: int = 0
    below: int = 0
    run_start: int = NO_TS
    open_end: int = NO_TS  # end of the opening window (NO_TS = closed)
    last_close: int = NO_TS
    peak: float = 0.0
    open_score: float = 0.0
    open_threshold: float = 0.0
    open_id: str = ""
    severity: str = ""
    model_name: str = ""
    model_version: str = ""
    hist: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hist_n: int = 0  # scores seen (ring position = hist_n % len(hist))


class AlertPolicy:
    """Turns a device's sequence of window scores into open/close alerts (see module doc).

    Assumes windows of one device arrive in window order and scores are oriented. Fails with
    ValueError when no threshold can be found for a device (manifest has none, no
    ``config.threshold``) in ``manifest``/``fixed`` mode.

    >>> pol = AlertPolicy(JobConfig(threshold_mode="fixed", threshold=1.0, min_duration=2,
    ...                             close_after=1, cooldown_ms=0))
    >>> st = AlertState()
    >>> m = {"name": "m", "version": "v1"}
    >>> out = [pol.on_score(st, "d", t - 10, t, s, m) for t, s in [(10, 0.1), (20, 2.0), (30, 3.0), (40, 0.5)]]
    >>> [(a.status, a.window_end, a.severity) for d in out for a in d.alerts]
    [('open', '1970-01-01T00:00:00.030Z', 'critical'), ('closed', '1970-01-01T00:00:00.030Z', 'critical')]
    >>> out[3].alerts[0].alert_id == out[2].alerts[0].alert_id, [d.is_open for d in out]
    (True, [False, False, True, False])
    """

    def __init__(self, config: JobConfig, thresholds: object | None = None) -> None:
        """``thresholds``: a bundle's ``Manifest.thresholds`` (manifest mode)."""
        self.c = config
        self.thresholds = thresholds

    def new_state(self) -> AlertState:
        return AlertState(hist=np.zeros(self.c.likelihood_history if self.c.threshold_mode == "likelihood" else 0))

    def jvm_settings(self) -> dict[str, Any]:
        """What the JVM implementation (``vigil.flink.alerts.AlertLogic``) needs: the mode, the
        thresholds as :meth:`threshold_for` resolves them (per device, then the fallback), and
        the policy's parameters."""
        c = self.c
        per: dict[str, float] = {}
        fallback = c.threshold
        if c.threshold_mode == "manifest" and self.thresholds is not None:
            per = {k: float(v) for k, v in getattr(self.thresholds, "per_device", {}).items()}
            if getattr(self.thresholds, "global_", None) is not None:
                fallback = self.thresholds.global_  # type: ignore[attr-defined]
        return {
            "mode": c.threshold_mode, "per_device": per, "fallback": fallback,
            "hysteresis": c.hysteresis, "min_duration": c.min_duration, "close_after": c.close_after,
            "cooldown_ms": c.cooldown_ms, "critical_margin": c.critical_margin,
            "likelihood_history": c.likelihood_history, "likelihood_short": c.likelihood_short,
            "likelihood_min_history": c.likelihood_min_history, "likelihood_threshold": c.likelihood_threshold,
        }

    def threshold_for(self, device_id: str) -> float:
        if self.c.threshold_mode == "likelihood":
            return self.c.likelihood_threshold
        t = None
        if self.c.threshold_mode == "manifest" and self.thresholds is not None:
            t = self.thresholds.for_device(device_id)  # type: ignore[attr-defined]
        if t is None:
            t = self.c.threshold
        if t is None:
            raise ValueError(f"no threshold for device {device_id!r}: the bundle has none and "
                             "VIGIL_JOB_THRESHOLD is unset")
        return float(t)

    def _likelihood(self, st: AlertState, score: float) -> float:
        if len(st.hist) == 0:  # a state from another threshold mode (restored across a model swap)
            st.hist = np.zeros(self.c.likelihood_history)
        n = len(st.hist)
        z = ring_z(st.hist, st.hist_n, score, self.c.likelihood_short, self.c.likelihood_min_history)
        st.hist[st.hist_n % n] = score
        st.hist_n += 1
        return 0.5 if z is None else 0.5 * math.erfc(-z / math.sqrt(2.0))

    def on_score(self, st: AlertState, device_id: str, window_start_ms: int, window_end_ms: int,
                 score: float, model: dict[str, str], top_features: list[dict] | None = None,
                 imputed_fraction: float = 0.0, now_ms: int | None = None) -> Decision:
        """Feed one window's score; returns the alerts it opens/closes and the decision values.
        ``now_ms`` is the detection time (defaults to the window end, for replay)."""
        c = self.c
        T = self.threshold_for(device_id)
        s = self._likelihood(st, score) if c.threshold_mode == "likelihood" else float(score)
        if not math.isfinite(s):
            s = math.inf  # a non-finite score counts as anomalous rather than vanishing
        at = window_end_ms if now_ms is None else now_ms
        alerts: list[Alert] = []
        if st.open_end == NO_TS:
            if s >= T:
                if st.above == 0:
                    st.run_start = window_start_ms
                st.above += 1
            else:
                st.above = 0
            cooling = st.last_close != NO_TS and window_end_ms - st.last_close < c.cooldown_ms
            if st.above >= c.min_duration and not cooling:
                st.open_end = window_end_ms
                st.open_id = make_alert_id(device_id, window_end_ms, "anomaly", model["version"])
                st.severity = "critical" if s >= T + c.critical_margin * abs(T) else "warning"
                st.model_name, st.model_version = model["name"], model["version"]
                st.peak = st.open_score = s
                st.open_threshold = T
                st.below = 0
                alerts.append(self._make(st, device_id, "open", st.run_start, window_end_ms, s, T, at,
                                         top_features, imputed_fraction))
        else:
            st.peak = max(st.peak, s)
            if s < T - (1.0 - c.hysteresis) * abs(T):
                st.below += 1
            else:
                st.below = 0
            if st.below >= c.close_after:
                alerts.append(self._make(st, device_id, "closed", st.run_start, window_end_ms, s, T, at,
                                         top_features, imputed_fraction))
                st.open_end = NO_TS
                st.last_close = window_end_ms
                st.above = st.below = 0
                st.open_id = ""
        return Decision(alerts, s, T, st.open_end != NO_TS)

    def _make(self, st: AlertState, device_id: str, status: str, start: int, end: int, s: float, T: float,
              at: int, top: list[dict] | None, imputed: float) -> Alert:
        return Alert(
            alert_id=st.open_id, device_id=device_id, kind="anomaly", severity=st.severity, status=status,
            window_start=iso_ms(start), window_end=iso_ms(st.open_end), detected_at=iso_ms(at),
            opened_at=iso_ms(st.open_end), closed_at=iso_ms(end) if status == "closed" else None,
            score=float(s if status == "open" else st.peak) if math.isfinite(s) else None, threshold=float(T),
            model=ModelRef(name=st.model_name, version=st.model_version),
            # explanations belong to the opening window; a close event carries none
            top_features=[TopFeature(**f) for f in (top or [])] if status == "open" else [],
            imputed_fraction=float(imputed),
        )
