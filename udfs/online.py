"""Online-learning scorers for univariate/streaming benchmarks (NAB): fit on the data seen so far.

They mimic :class:`udfs.scorer.Scorer` (``spec``, ``model_ref``, ``score_windows``) but are
stateful PER DEVICE: each window is scored against statistics of that device's earlier windows
and then learned (score, then learn). Results depend only on each device's window order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from udfs.explain import Explainer
from udfs.features import FeatureSpec


class OnlineZScore:
    """Score = max over features of |f − μ| / σ, with μ, σ (running, shifted sums) over the device's previous
    windows; 0 until ``min_history`` windows were seen.

    Assumes callers pass windows of one device in order, with ``device_ids`` per row. Fails on
    shape mismatch like the spec does. State lives in memory (replay only, not Flink).

    >>> spec = FeatureSpec(sensors=["v"], window=2, per_sensor=["last"])
    >>> oz = OnlineZScore(spec, min_history=3)
    >>> w = np.array([[[0.], [1.]], [[0.], [1.1]], [[0.], [0.9]], [[0.], [1.0]], [[0.], [9.0]]], np.float32)
    >>> oz.score_windows(w, ["d"] * 5).round(1).tolist()
    [0.0, 0.0, 0.0, 0.0, 113.1]
    """

    kind = "zscore"

    def __init__(self, spec: FeatureSpec, min_history: int = 30) -> None:
        spec.check_supported()
        self.spec = spec
        self.min_history = min_history
        self.stats: dict[str, list[Any]] = {}  # device → [n, mean, M2]
        self.explainer = Explainer(spec.names(), {})

    @property
    def model_ref(self) -> dict[str, str]:
        return {"name": "online-zscore", "version": "online"}

    def score_windows(self, windows: np.ndarray, device_ids: list[str], return_features: bool = False) -> Any:
        f = self.spec.compute(windows).astype(np.float64)
        out = np.zeros(len(f))
        ids = np.asarray(device_ids, dtype=object)
        for dev in dict.fromkeys(device_ids):  # devices in first-seen order; rows keep their order
            idx = np.flatnonzero(ids == dev)
            x = f[idx]
            st = self.stats.get(dev)
            if st is None:  # [n, shift, Σ(x−shift), Σ(x−shift)²]; the shift keeps sums well conditioned
                st = self.stats[dev] = [0, x[0].copy(), np.zeros(x.shape[1]), np.zeros(x.shape[1])]
            n0, k, s1, s2 = st
            y = x - k
            c1 = np.cumsum(y, axis=0)
            c2 = np.cumsum(y * y, axis=0)
            # statistics of everything BEFORE each row (score, then learn)
            p1 = s1 + np.vstack([np.zeros((1, y.shape[1])), c1[:-1]])
            p2 = s2 + np.vstack([np.zeros((1, y.shape[1])), c2[:-1]])
            n = (n0 + np.arange(len(y)))[:, None].astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                m = p1 / n
                sd = np.sqrt(np.maximum(p2 / n - m * m, 0.0))
                z = np.abs(y - m) / np.maximum(sd, 1e-9 * np.maximum(1.0, np.abs(m + k)))
            sc = np.nan_to_num(z.max(axis=1), nan=0.0, posinf=1e12)
            out[idx] = np.where(n[:, 0] >= self.min_history, sc, 0.0)
            st[0], st[2], st[3] = n0 + len(y), s1 + c1[-1], s2 + c2[-1]
        return (out, f.astype(np.float32)) if return_features else out

    def explain(self, feature_rows: np.ndarray, k: int = 3) -> list[list[dict]]:
        return [[] for _ in range(len(feature_rows))]
