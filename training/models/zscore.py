"""Robust z-score baseline: per-feature median / MAD, score = max (or mean) of |z|.

Assumptions: features are roughly unimodal on normal data; a feature with zero MAD falls back
to its standard deviation, then to 1 (so a constant feature does not divide by zero).
The ONNX graph is built by hand with ``onnx.helper`` (Sub → Div → Abs → ReduceMax/Mean).

>>> import numpy as np
>>> x = np.random.default_rng(1).normal(size=(500, 4)).astype("float32")
>>> det = RobustZScore(agg="max").fit(x)
>>> bool(det.score(np.full((1, 4), 10.0, "float32"))[0] > 5)
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from onnx import TensorProto, helper

from training.models.base import INPUT_NAME, OUTPUT_NAME, Detector

#: 1.4826 · MAD estimates sigma for normal data.
MAD_TO_SIGMA = 1.4826


class RobustZScore(Detector):
    """Median/MAD z-score per feature, aggregated by ``max`` or ``mean`` of |z|."""

    kind: ClassVar[str] = "zscore"
    parity_rtol: ClassVar[float] = 1e-5

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"agg": "max"}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"agg": trial.suggest_categorical("agg", ["max", "mean"])}

    def _fit(self, x: np.ndarray, seed: int) -> None:
        if self.params["agg"] not in ("max", "mean"):
            raise ValueError("agg must be 'max' or 'mean'")
        x64 = x.astype(np.float64)
        self.center = np.median(x64, axis=0)
        scale = MAD_TO_SIGMA * np.median(np.abs(x64 - self.center), axis=0)
        std = x64.std(axis=0)
        scale = np.where(scale > 1e-9, scale, np.where(std > 1e-9, std, 1.0))
        # Store the float32 values the graph uses, so native and ONNX agree bit for bit-ish.
        self.center = self.center.astype(np.float32)
        self.scale = scale.astype(np.float32)

    def _score(self, x: np.ndarray) -> np.ndarray:
        z = np.abs((x - self.center) / self.scale)
        return z.max(axis=1) if self.params["agg"] == "max" else z.mean(axis=1)

    def _to_onnx(self) -> bytes:
        from training.export import const, make_model_bytes

        f = len(self.center)
        reduce_op = "ReduceMax" if self.params["agg"] == "max" else "ReduceMean"
        nodes = [
            helper.make_node("Sub", [INPUT_NAME, "center"], ["centered"]),
            helper.make_node("Div", ["centered", "scale"], ["z"]),
            helper.make_node("Abs", ["z"], ["absz"]),
            helper.make_node(reduce_op, ["absz"], [OUTPUT_NAME], axes=[1], keepdims=0),
        ]
        graph = helper.make_graph(
            nodes, "vigil_zscore",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [None, f])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [None])],
            initializer=[const("center", self.center), const("scale", self.scale)],
        )
        return make_model_bytes(graph)
