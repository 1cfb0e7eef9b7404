"""Common interface of every detector kind trained by Vigil.

A detector is fitted on training rows (feature vectors ``[N, F]`` or raw windows
``[N, T, S]``), scores rows natively (higher = more anomalous) and exports itself to ONNX
with normalisation folded into the graph, so the job feeds RAW inputs (DESIGN, "Model bundle").
The native score and the ONNX score are the same function; each kind's parity test checks it.

Assumptions: inputs are finite float arrays (imputation happened before); ``fit`` is
deterministic for a given ``seed``. Fails with ``ValueError`` on empty or non-finite input.

>>> import numpy as np
>>> from training.models import make_detector
>>> det = make_detector("zscore")
>>> x = np.random.default_rng(0).normal(size=(200, 3)).astype("float32")
>>> det.fit(x, seed=0).score(x[:2]).shape
(2,)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np

InputKind = Literal["features", "sequence"]

#: Name of the single ONNX input and output of every Vigil graph.
INPUT_NAME = "input"
OUTPUT_NAME = "score"
#: ONNX opsets used by every export (ai.onnx 17 covers LSTM and ReduceMax with axes attr semantics
#: handled in export.py; ai.onnx.ml 3 has TreeEnsembleRegressor with tensor attributes).
ONNX_OPSET = 17
ONNX_ML_OPSET = 3


def check_rows(x: np.ndarray, ndim: int) -> np.ndarray:
    """Return ``x`` as C-contiguous float32, raising ``ValueError`` when it cannot be scored."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim != ndim:
        raise ValueError(f"expected a {ndim}-d array, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("no rows")
    if not np.isfinite(arr).all():
        raise ValueError("input contains NaN or inf; impute before fitting/scoring")
    return arr


class Detector(ABC):
    """A trainable, ONNX-exportable anomaly detector (higher score = more anomalous)."""

    kind: ClassVar[str]
    input_kind: ClassVar[InputKind] = "features"

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = {**self.default_params(), **params}
        unknown = set(params) - set(self.default_params())
        if unknown:
            raise ValueError(f"{self.kind}: unknown parameters {sorted(unknown)}")
        self.fitted = False
        self.n_inputs: int | None = None
        self.input_shape: list[int | None] = []

    @classmethod
    @abstractmethod
    def default_params(cls) -> dict[str, Any]:
        """Hyperparameters used when none are given (fast enough for the demo)."""

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna search space; default: no tunable parameters."""
        return {}

    def fit(self, x: np.ndarray, seed: int = 0) -> "Detector":
        """Fit on rows ``x``; returns self."""
        arr = check_rows(x, 3 if self.input_kind == "sequence" else 2)
        self.input_shape = [None, *arr.shape[1:]]
        self.n_inputs = int(arr.shape[-1])
        self._fit(arr, seed)
        self.fitted = True
        return self

    def score(self, x: np.ndarray) -> np.ndarray:
        """Native anomaly score per row, float64 ``[B]``, higher = more anomalous."""
        if not self.fitted:
            raise RuntimeError(f"{self.kind}: score() before fit()")
        arr = check_rows(x, 3 if self.input_kind == "sequence" else 2)
        return np.asarray(self._score(arr), dtype=np.float64).reshape(-1)

    def to_onnx(self) -> bytes:
        """Serialized ONNX model: input ``input`` (raw rows), output ``score`` ``[B]``."""
        if not self.fitted:
            raise RuntimeError(f"{self.kind}: to_onnx() before fit()")
        return self._to_onnx()

    @abstractmethod
    def _fit(self, x: np.ndarray, seed: int) -> None: ...

    @abstractmethod
    def _score(self, x: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def _to_onnx(self) -> bytes: ...

    #: Max |onnx - native| / (1 + |native|) the parity check accepts for this kind.
    parity_rtol: ClassVar[float] = 1e-4
