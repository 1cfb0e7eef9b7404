"""The batch scoring step: raw windows ``[B, T, S]`` → imputed → features → ONNX scores →
top features. The job's pandas UDF, ``vigil replay`` and ``POST /v1/score`` call exactly
:func:`score_batch`, so they agree window by window.

Which windows get an explanation: those whose score reaches :func:`explain_floor` (a little
below the lowest threshold the bundle or config can apply), because top features serve the
alert a window opens; with no usable threshold (likelihood mode, or none configured) every
window is explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from udfs.config import JobConfig
from udfs.imputation import impute_batch


@dataclass(slots=True)
class BatchScores:
    """Per window of the batch: ``scores`` float64 (NaN where not ``ok``), ``ok`` (False: a gap
    longer than ``max_gap`` or an empty sensor, so not scored; ``detail`` says which),
    ``imputed`` cells and ``imputed_fraction``, ``top`` features (``[]`` when not explained).
    ``features``: float32 feature rows of the ok windows, in batch order (for drift)."""

    scores: np.ndarray
    ok: np.ndarray
    imputed: np.ndarray
    imputed_fraction: np.ndarray
    top: list[list[dict[str, Any]]]
    features: np.ndarray
    detail: list[str]


def explain_floor(thresholds: Any, config: JobConfig) -> float | None:
    """Scores at or above this get top features; None = explain every window.

    >>> from udfs.bundle import Thresholds
    >>> explain_floor(Thresholds.model_validate({"global": 2.0, "per_device": {"p": 1.0}}), JobConfig())
    0.9
    >>> explain_floor(None, JobConfig(threshold_mode="likelihood")) is None
    True
    """
    if config.threshold_mode == "likelihood":
        return None
    vals: list[float] = [config.threshold] if isinstance(config.threshold, (int, float)) else []
    if config.threshold_mode == "manifest" and thresholds is not None:
        g = getattr(thresholds, "global_", None)
        if isinstance(g, (int, float)):
            vals.append(float(g))
        vals += [float(v) for v in (getattr(thresholds, "per_device", None) or {}).values()]
    if not vals:
        return None
    t = min(vals)
    return t - 0.1 * abs(t)


def score_batch(scorer: Any, windows: np.ndarray, config: JobConfig, *, max_gap: int | None = None,
                top_k: int | None = None, explain_from: float | None = None,
                device_ids: list[str] | None = None) -> BatchScores:
    """Impute (``config.imputation`` and ``ewma_alpha``; ``max_gap`` in readings or time-mode grid
    points, default ``config.max_gap``: pass ``udfs.device_state.Context.max_gap``), score and
    explain a batch of raw windows ``[B, T, S]`` (NaN = missing) with ``scorer`` (a
    :class:`udfs.scorer.Scorer`, or an online detector taking ``device_ids``).

    >>> import json, pathlib, tempfile
    >>> from udfs.scorer import Scorer
    >>> from onnx import TensorProto, helper
    >>> g = helper.make_graph([helper.make_node("ReduceMax", ["x"], ["s"], axes=[1], keepdims=0)], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 1])],
    ...     [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["B"])])
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "model.onnx").write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
    ...                                                      ir_version=8).SerializeToString())
    >>> _ = (d / "manifest.json").write_text(json.dumps({"name": "m", "version": "v1", "kind": "zscore",
    ...     "feature_spec": {"sensors": ["a"], "window": 3, "per_sensor": ["last"]},
    ...     "input": {"name": "x", "kind": "features"}, "output": {"name": "s"}}))
    >>> w = np.array([[[1.0], [np.nan], [3.0]], [[1.0], [np.nan], [np.nan]]], np.float32)
    >>> r = score_batch(Scorer(str(d)), w, JobConfig(max_gap=1), top_k=0)
    >>> r.ok.tolist(), float(r.scores[0]), r.imputed.tolist()
    ([True, False], 3.0, [1, 2])
    """
    k = config.top_k if top_k is None else top_k
    gap = config.max_gap if max_gap is None else max_gap
    imp = impute_batch(windows, config.imputation, gap, config.ewma_alpha)
    B = len(imp.ok)
    scores = np.full(B, np.nan)
    top: list[list[dict[str, Any]]] = [[] for _ in range(B)]
    idx = np.flatnonzero(imp.ok)
    feats = np.zeros((0, scorer.spec.n_features), np.float32)
    if len(idx):
        x = imp.values[idx]
        if device_ids is not None:
            s, feats = scorer.score_windows(x, [device_ids[i] for i in idx], return_features=True)
        else:
            s, feats = scorer.score_windows(x, return_features=True)
        scores[idx] = s
        if k > 0:
            want = np.ones(len(idx), bool) if explain_from is None else s >= explain_from
            sel = np.flatnonzero(want)
            if len(sel):
                for j, t in zip(sel, scorer.explain(feats[sel], k)):
                    top[idx[j]] = t
    return BatchScores(scores, imp.ok, imp.imputed, imp.fraction, top, feats, imp.detail)
