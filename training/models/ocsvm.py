"""One-Class SVM (RBF) in a scikit-learn pipeline StandardScaler → OneClassSVM, via skl2onnx.

Score = ``-decision_function`` (higher = more anomalous). Fitting is O(n²): at most
``max_train_rows`` rows (evenly spaced, deterministic) are used. The graph's cost grows with the
number of support vectors (≈ ``nu`` · rows).

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(300, 3)).astype("float32")
>>> det = OneClassSVMDetector().fit(x, seed=0)
>>> s = det.score(np.vstack([x[:1], np.full((1, 3), 6.0, "float32")]))
>>> bool(s[1] > s[0])
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from training.models.base import INPUT_NAME, Detector


class OneClassSVMDetector(Detector):
    """StandardScaler → OneClassSVM(rbf); score = ``-decision_function``."""

    kind: ClassVar[str] = "ocsvm"
    parity_rtol: ClassVar[float] = 1e-4

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"nu": 0.05, "gamma": "scale", "max_train_rows": 4000}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "nu": trial.suggest_float("nu", 0.005, 0.2, log=True),
            "gamma": trial.suggest_float("gamma", 1e-3, 1.0, log=True),
        }

    def _fit(self, x: np.ndarray, seed: int) -> None:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import OneClassSVM

        cap = int(self.params["max_train_rows"])
        if len(x) > cap:
            x = x[np.linspace(0, len(x) - 1, cap).astype(int)]
        gamma = self.params["gamma"]
        self.model = make_pipeline(
            StandardScaler(),
            OneClassSVM(nu=float(self.params["nu"]),
                        gamma=gamma if isinstance(gamma, str) else float(gamma)),
        ).fit(x)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return -self.model.decision_function(x)

    def _to_onnx(self) -> bytes:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        from training.export import rewire_score

        onx = convert_sklearn(
            self.model, initial_types=[(INPUT_NAME, FloatTensorType([None, self.n_inputs]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
        return rewire_score(onx, "scores", post=["neg"])
