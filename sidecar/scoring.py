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
        from udfs.config import JobConfig

        self.path = settings.bundle_path
        #: the job's settings (``VIGIL_JOB_*``: imputation, ``max_gap``) read once, not per request
        self.job_config = JobConfig()
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


def raw_window(spec, values: dict[str, list[float | None]]) -> np.ndarray:
    """Per-sensor value lists → the raw ``[window, n_sensors]`` float32 window (NaN = null),
    as the job's device operator hands windows to the scoring step. Raises :class:`BadWindow`
    on a missing sensor, a wrong length or a non-finite value."""
    missing = [s for s in spec.sensors if s not in values]
    if missing:
        raise BadWindow(f"missing sensors {missing}; the model needs {spec.sensors}")
    cols = []
    for s in spec.sensors:
        col = values[s]
        if len(col) != spec.window:
            raise BadWindow(f"sensor {s!r} has {len(col)} values; the model's window is {spec.window}")
        a = np.array([np.nan if v is None else float(v) for v in col], dtype=np.float64)
        if not np.isfinite(a[~np.isnan(a)]).all():
            raise BadWindow(f"sensor {s!r} has non-finite values")
        cols.append(a)
    return np.stack(cols, axis=1).astype(np.float32)


def score_window(live: LiveScorer, device_id: str | None, values: dict[str, list[float | None]]) -> dict[str, Any]:
    """Score one window exactly as the job does (``udfs.batch.score_batch``: the job's
    imputation and ``max_gap`` from ``VIGIL_JOB_*``, features, ONNX, top features); blocking
    (run in a worker thread). A window the job would skip (a gap longer than ``max_gap``, a
    sensor without values) raises :class:`BadWindow`."""
    from udfs.batch import score_batch

    scorer = live.get()
    r = score_batch(scorer, raw_window(scorer.spec, values)[None], live.job_config, top_k=3)
    if not r.ok[0]:
        raise BadWindow(f"the job would not score this window: {r.detail[0]}")
    score = float(r.scores[0])
    thr = scorer.bundle.threshold_for(device_id) if device_id else scorer.bundle.manifest.thresholds.global_
    m = scorer.bundle.manifest
    return {
        "device_id": device_id, "score": score, "threshold": thr,
        "anomalous": None if thr is None else bool(score > thr),
        "model": {"name": m.name, "version": m.version, "kind": m.kind},
        "top_features": r.top[0],
        "imputed_fraction": float(r.imputed_fraction[0]),
    }
