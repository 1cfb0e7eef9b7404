"""The job's one Python stage: a pandas (Arrow-batched) UDF that scores a batch of windows.

Each call receives a column of raw windows (float32 ``[T, S]`` bytes from the JVM's device
operator, NaN where a sensor was missing) and runs :func:`udfs.batch.score_batch` on all of
them at once -- imputation, features, one ``InferenceSession.run``, top features near the
threshold -- the same function replay and ``POST /v1/score`` call. Every ``drift_every_s``
one row also carries the PSI/KS report of the windows scored since the last one.

Result per window (:data:`SCORE_RESULT`): ``score`` (oriented), ``ok`` (False: a gap longer
than ``max_gap``, not scored), ``imputed`` (fraction), ``top`` (JSON array or null), ``drift``
(JSON array or null). Metrics go to the UDF's Flink metric group (Prometheus:
``flink_taskmanager_job_task_operator_vigil_*``).
"""

from __future__ import annotations

import json
import time
from typing import Any

from pyflink.table import DataTypes
from pyflink.table.udf import FunctionContext, ScalarFunction

from udfs import metrics_names as M

SCORE_RESULT = DataTypes.ROW([
    DataTypes.FIELD("score", DataTypes.DOUBLE()),
    DataTypes.FIELD("ok", DataTypes.BOOLEAN()),
    DataTypes.FIELD("imputed", DataTypes.DOUBLE()),
    DataTypes.FIELD("top", DataTypes.STRING()),
    DataTypes.FIELD("drift", DataTypes.STRING()),
])


def _config(cfg_json: str) -> Any:
    from udfs.config import JobConfig

    return JobConfig(**json.loads(cfg_json))


def check_bundle(bundle_path: str, cfg_json: str) -> Any:
    """Load the bundle and prove this build can serve it: feature spec computable, the window
    config compatible with the model, a threshold for every device (unless the likelihood mode
    calibrates online), the ONNX graph scores a window to one value. Returns the Scorer.

    Raises ``udfs.features.UnsupportedFeatureSpec`` / ``ValueError`` / ``BundleError`` with a
    message naming the problem. Used client-side before submission and in the UDF's ``open()``.
    """
    import numpy as np

    from udfs.alerts import AlertPolicy
    from udfs.device_state import Context
    from udfs.scorer import Scorer

    cfg = _config(cfg_json)
    scorer = Scorer(bundle_path, threads=1)
    spec = scorer.spec
    spec.check_supported()
    Context(cfg, spec)  # window/slide/time-mode compatibility
    if cfg.threshold_mode != "likelihood" and AlertPolicy(cfg, scorer.bundle.manifest.thresholds) \
            .jvm_settings()["fallback"] is None:
        raise ValueError("no threshold: the bundle has no global threshold and VIGIL_JOB_THRESHOLD is unset "
                         "(or use --set threshold_mode=likelihood)")
    probe = scorer.score_windows(np.zeros((1, spec.window, len(spec.sensors)), np.float32))
    if probe.shape != (1,):
        raise ValueError(f"model output has shape {probe.shape} for one window, expected (1,)")
    return scorer


class ScoreWindows(ScalarFunction):
    """Vectorized (pandas) UDF: a batch of raw windows → one :func:`udfs.batch.score_batch`.

    The Scorer (one onnxruntime session) is created once per worker in ``open()``.
    """

    def __init__(self, bundle_path: str, cfg_json: str, drift_every_s: float = 60.0) -> None:
        self.bundle_path = bundle_path
        self.cfg_json = cfg_json
        self.drift_every_s = drift_every_s

    def open(self, function_context: FunctionContext) -> None:
        import numpy as np

        from udfs.batch import explain_floor
        from udfs.device_state import Context
        from udfs.drift import DriftMonitor

        self._np = np
        self._cfg = _config(self.cfg_json)
        self._scorer = check_bundle(self.bundle_path, self.cfg_json)
        m = self._scorer.bundle.manifest
        self._T, self._S = m.feature_spec.window, len(m.feature_spec.sensors)
        self._max_gap = Context(self._cfg, m.feature_spec).max_gap
        self._explain_from = explain_floor(m.thresholds, self._cfg)
        self._drift = DriftMonitor(m.feature_spec.names(), self._scorer.bundle.reference_stats or {})
        self._model = (m.name, m.version)
        self._last_drift = time.monotonic()
        mg = function_context.get_metric_group()
        self._scored = mg.counter(M.WINDOWS_SCORED)
        self._batches = mg.counter(M.SCORE_BATCHES)
        self._imputed = mg.counter(M.IMPUTED_VALUES)
        self._score_dist = mg.distribution(M.SCORE)
        self._last_score = 0.0
        mg.gauge(M.LAST_SCORE_MILLI, lambda: int(self._last_score * 1000))
        # the dashboards draw the score against the bundle's global threshold (oriented scale)
        # and count the features whose last drift report crossed the PSI/KS limits
        thr = m.thresholds
        threshold = thr.global_ if thr is not None and thr.global_ is not None else self._cfg.threshold
        self._threshold_milli = int(threshold * 1000) if isinstance(threshold, (int, float)) else 0
        mg.gauge(M.THRESHOLD_MILLI, lambda: self._threshold_milli)
        self._drifted = 0
        mg.gauge(M.DRIFTED_FEATURES, lambda: self._drifted)

    def eval(self, win, dev):  # noqa: ANN001, ANN201 - pandas Series in, DataFrame out
        import orjson
        import pandas as pd

        from udfs.batch import score_batch

        np = self._np
        n = len(win)
        w = np.frombuffer(b"".join(win.tolist()), dtype="<f4").reshape(n, self._T, self._S)
        r = score_batch(self._scorer, w, self._cfg, max_gap=self._max_gap, explain_from=self._explain_from)
        n_ok = int(r.ok.sum())
        self._scored.inc(n_ok)
        self._batches.inc()
        self._imputed.inc(int(r.imputed[r.ok].sum()))
        ok_scores = r.scores[r.ok]
        if n_ok:
            self._last_score = float(ok_scores[-1])
            for s in ok_scores[:: max(1, n_ok // 32)]:  # a sample keeps the distribution cheap
                if np.isfinite(s):
                    self._score_dist.update(int(s * 1000))
            if self._drift.names:
                self._drift.update(r.features)
        top = [orjson.dumps(t).decode() if t else None for t in r.top]
        drift: list[str | None] = [None] * n
        if n and self._drift.names and time.monotonic() - self._last_drift >= self.drift_every_s:
            rep = self._drift.report(*self._model)
            self._drifted = sum(x["drifted"] for x in rep)
            self._drift.reset()
            self._last_drift = time.monotonic()
            drift[0] = json.dumps(rep)
        return pd.DataFrame({"score": r.scores, "ok": r.ok, "imputed": r.imputed_fraction, "top": top,
                             "drift": drift})
