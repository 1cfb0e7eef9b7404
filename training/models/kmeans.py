"""k-means distance: StandardScaler → KMeans; score = distance to the nearest centroid.

Exported with skl2onnx (the pipeline's ``scores`` output are distances to every centroid),
followed by a ReduceMin over clusters.

>>> import numpy as np
>>> x = np.random.default_rng(0).normal(size=(300, 3)).astype("float32")
>>> det = KMeansDetector(n_clusters=4).fit(x, seed=0)
>>> s = det.score(np.vstack([x[:1], np.full((1, 3), 6.0, "float32")]))
>>> bool(s[1] > s[0])
True
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from training.models.base import INPUT_NAME, Detector


class KMeansDetector(Detector):
    """Distance (in standardised units) to the nearest k-means centroid."""

    kind: ClassVar[str] = "kmeans"
    parity_rtol: ClassVar[float] = 1e-4

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"n_clusters": 8}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"n_clusters": trial.suggest_int("n_clusters", 2, 32, log=True)}

    def _fit(self, x: np.ndarray, seed: int) -> None:
        from sklearn.cluster import KMeans
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        k = max(1, min(int(self.params["n_clusters"]), len(x)))
        self.model = make_pipeline(
            StandardScaler(), KMeans(n_clusters=k, n_init=4, random_state=seed)
        ).fit(x)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return self.model.transform(x).min(axis=1)

    def _to_onnx(self) -> bytes:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        from training.export import rewire_score

        onx = convert_sklearn(
            self.model, initial_types=[(INPUT_NAME, FloatTensorType([None, self.n_inputs]))],
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
        return rewire_score(onx, "scores", post=["min1"])
