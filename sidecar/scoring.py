"""POST /v1/score: score one window synchronously with the live bundle.

The bundle path comes from settings (`VIGIL_SIDECAR_BUNDLE_PATH`, a model dir or version dir).
The loaded `Scorer` is cached and reloaded when the resolved version dir changes (a promotion
rewrites `PROMOTED`), so the endpoint follows the live model without a restart.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from sidecar.settings import SidecarSettings


class NoBundle(RuntimeError):
    """No usable bundle is configured or loadable (→ 503)."""


class BadWindow(ValueError):
    """The request's window does not fit the bundle's feature spec (→ 422)."""


class LiveScorer:
    """Holds the current `udfs.scorer.Scorer`; thread-safe lazy (re)load."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.path = settings.bundle_path
        self._lock = threading.Lock()
        self._dir: Path | None = None
        self._scorer = None

    def get(self):
        """The scorer for the currently resolved bundle version; raises :class:`NoBundle`."""
        if self.path is None:
            raise NoBundle("no model bundle configured (set VIGIL_SIDECAR_BUNDLE_PATH)")
        from udfs.bundle import resolve_bundle_dir

        try:
            d = resolve_bundle_dir(self.path)
        except Exception as e:  # noqa: BLE001 - missing/invalid bundle = unavailable
            raise NoBundle(f"no usable bundle at {self.path}: {e}") from e
        with self._lock:
            if self._scorer is None or d != self._dir:
                from udfs.scorer import Scorer

                try:
                    self._scorer = Scorer(str(d), threads=1)
                except Exception as e:  # noqa: BLE001
                    raise NoBundle(f"bundle at {d} failed to load: {e}") from e
                self._dir = d
            return self._scorer


def window_array(spec, values: dict[str, list[float | None]]) -> tuple[np.ndarray, float]:
    """Per-sensor value lists → imputed `[window, n_sensors]` array and the imputed fraction.

    Gaps (null) are forward-filled, leading gaps back-filled; a sensor with no value at all
    is an error, as is a wrong length or a missing sensor.
    """
    missing = [s for s in spec.sensors if s not in values]
    if missing:
        raise BadWindow(f"missing sensors {missing}; the model needs {spec.sensors}")
    cols = []
    n_imputed = 0
    for s in spec.sensors:
        col = values[s]
        if len(col) != spec.window:
            raise BadWindow(f"sensor {s!r} has {len(col)} values; the model's window is {spec.window}")
        a = np.array([np.nan if v is None else float(v) for v in col], dtype=np.float64)
        if not np.isfinite(a[~np.isnan(a)]).all():
            raise BadWindow(f"sensor {s!r} has non-finite values")
        nan = np.isnan(a)
        if nan.all():
            raise BadWindow(f"sensor {s!r} has no values in the window")
        n_imputed += int(nan.sum())
        if nan.any():
            idx = np.where(~nan, np.arange(len(a)), 0)
            np.maximum.accumulate(idx, out=idx)
            a = a[idx]
            first = np.argmax(~np.isnan(a))
            a[:first] = a[first]
        cols.append(a)
    return np.stack(cols, axis=1), n_imputed / (spec.window * len(spec.sensors))


def score_window(live: LiveScorer, device_id: str | None, values: dict[str, list[float | None]]) -> dict[str, Any]:
    """Score one window; blocking (run in a worker thread)."""
    scorer = live.get()
    spec = scorer.spec
    w, imputed = window_array(spec, values)
    scores, feats = scorer.score_windows(w[None].astype(np.float32), return_features=True)
    score = float(scores[0])
    thr = scorer.bundle.threshold_for(device_id) if device_id else scorer.bundle.manifest.thresholds.global_
    m = scorer.bundle.manifest
    return {
        "device_id": device_id, "score": score, "threshold": thr,
        "anomalous": None if thr is None else bool(score > thr),
        "model": {"name": m.name, "version": m.version, "kind": m.kind},
        "top_features": scorer.explain(feats, k=3)[0] if feats is not None else [],
        "imputed_fraction": imputed,
    }
