"""ONNX scoring of windows: one ``onnxruntime.InferenceSession`` per :class:`Scorer`, batched."""

from __future__ import annotations

from typing import Any

import numpy as np

from udfs.bundle import Bundle, load_bundle
from udfs.explain import Explainer


class Scorer:
    """Scores feature rows or raw windows with a bundle's ``model.onnx``.

    Assumptions: the graph takes RAW inputs (normalisation folded in) of the manifest's input
    kind — features ``[B, F]`` or windows ``[B, window, n_sensors]`` float32 — and the output
    named in the manifest holds one score per row (``[B]`` or ``[B, 1]``). Scores come back
    float64 oriented so higher = more anomalous. Rows are independent, so results do not
    depend on how callers batch (up to float rounding of the kernels; tree models are exact).
    Fails with ValueError on a wrong input shape; onnxruntime errors propagate.

    Create it once per worker (``open()``), not per call: session creation costs milliseconds.

    >>> import json, pathlib, tempfile
    >>> from onnx import TensorProto, helper
    >>> g = helper.make_graph([helper.make_node("ReduceMax", ["x"], ["s"], axes=[1], keepdims=0)], "g",
    ...     [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 2])],
    ...     [helper.make_tensor_value_info("s", TensorProto.FLOAT, ["B"])])
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "model.onnx").write_bytes(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)],
    ...                                                      ir_version=8).SerializeToString())
    >>> _ = (d / "manifest.json").write_text(json.dumps({"name": "max", "version": "v1", "kind": "zscore",
    ...     "feature_spec": {"sensors": ["a", "b"], "window": 4, "per_sensor": ["last"]},
    ...     "input": {"name": "x", "kind": "features"}, "output": {"name": "s"}}))
    >>> s = Scorer(str(d))
    >>> w = np.zeros((2, 4, 2), np.float32); w[1, -1, 0] = 5.0
    >>> s.score_windows(w).tolist()
    [0.0, 5.0]
    """

    def __init__(self, bundle: Bundle | str, threads: int = 1, max_batch: int = 4096) -> None:
        import onnxruntime as ort  # heavy; keep `import udfs.scorer` cheap for CLIs

        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        m = self.bundle.manifest
        self.spec = m.feature_spec
        self.input_kind = m.input.kind
        self.input_name = m.input.name
        self.output_name = m.output.name
        self.sign = -1.0 if m.score_direction == "lower_is_anomalous" else 1.0
        self.max_batch = max_batch
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.bundle.model_path), sess_options=so, providers=["CPUExecutionProvider"]
        )
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if self.input_name not in inputs:
            raise ValueError(f"manifest input {self.input_name!r} not in model inputs {sorted(inputs)}")
        if self.output_name not in outputs:
            raise ValueError(f"manifest output {self.output_name!r} not in model outputs {sorted(outputs)}")
        feats = (self.bundle.reference_stats or {}).get("features", {})
        self.explainer = Explainer(self.spec.names(), feats)

    @property
    def model_ref(self) -> dict[str, str]:
        return {"name": self.bundle.manifest.name, "version": self.bundle.manifest.version}

    def _expected_shape(self) -> tuple[int, ...]:
        if self.input_kind == "features":
            return (self.spec.n_features,)
        return (self.spec.window, len(self.spec.sensors))

    def score(self, x: np.ndarray) -> np.ndarray:
        """Model input rows (features ``[B,F]`` or windows ``[B,T,S]``) → oriented scores ``[B]``."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        exp = self._expected_shape()
        if x.ndim == len(exp):
            x = x[None]
        if x.shape[1:] != exp:
            raise ValueError(f"model input {self.input_kind} expects [B, {', '.join(map(str, exp))}], got {list(x.shape)}")
        n = x.shape[0]
        out = np.empty(n, dtype=np.float64)
        for a in range(0, n, self.max_batch):
            chunk = x[a: a + self.max_batch]
            y = self.session.run([self.output_name], {self.input_name: chunk})[0]
            y = np.asarray(y, dtype=np.float64).reshape(chunk.shape[0], -1)
            if y.shape[1] != 1:
                raise ValueError(f"output {self.output_name!r} has {y.shape[1]} values per row, expected 1")
            out[a: a + chunk.shape[0]] = y[:, 0]
        return out * self.sign

    def features(self, windows: np.ndarray) -> np.ndarray:
        """Feature rows of the bundle's spec for imputed windows ``[B, T, S]``."""
        return self.spec.compute(windows)

    def score_windows(self, windows: np.ndarray, return_features: bool = False) -> Any:
        """Imputed windows ``[B, window, n_sensors]`` → scores ``[B]`` (and feature rows if asked;
        for sequence models feature rows are computed only when asked, for explanations)."""
        w = np.asarray(windows, dtype=np.float32)
        if w.ndim == 2:
            w = w[None]
        if self.input_kind == "features":
            f = self.spec.compute(w)
            s = self.score(f)
            return (s, f) if return_features else s
        s = self.score(w)
        if return_features:
            return s, self.spec.compute(w)
        return s

    def explain(self, feature_rows: np.ndarray, k: int = 3) -> list[list[dict[str, float | str]]]:
        """Top-``k`` contributing features per row (robust z vs reference quantiles, sum 1)."""
        return self.explainer.top(feature_rows, k)
