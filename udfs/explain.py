"""Top contributing features: robust z-score of each feature against the training reference.

Contribution of feature j = |z_j| / Σ|z|, where z_j = (x_j − median_j) / scale_j; scale is
IQR/1.349 from the reference quantiles (``"0.25"``/``"0.75"``), else (q99 − q01)/4.653, else
the reference std, floored so constant training features do not explode.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _q(stats: dict[str, Any], key: str) -> float | None:
    qs = stats.get("quantiles") or {}
    for k in (key, str(float(key))):
        if k in qs:
            return float(qs[k])
    return None


class Explainer:
    """Robust-z explanation of feature rows against ``reference_stats["features"]``.

    Assumes reference quantiles were computed on the same feature definitions. Features
    missing from the reference get no contribution (z = 0). Never fails on NaN rows (NaN → 0).

    >>> ref = {"a": {"quantiles": {"0.25": -1, "0.5": 0, "0.75": 1}},
    ...        "b": {"quantiles": {"0.25": -1, "0.5": 0, "0.75": 1}}}
    >>> ex = Explainer(["a", "b"], ref)
    >>> ex.top(np.array([[3.0, 1.0]]), k=2)
    [[{'feature': 'a', 'contribution': 0.75}, {'feature': 'b', 'contribution': 0.25}]]
    """

    def __init__(self, names: list[str], reference: dict[str, dict[str, Any]]) -> None:
        self.names = list(names)
        med = np.zeros(len(names))
        scale = np.full(len(names), np.inf)  # inf scale → z = 0 for unknown features
        for j, n in enumerate(names):
            st = reference.get(n)
            if not st:
                continue
            m = _q(st, "0.5")
            med[j] = m if m is not None else float(st.get("mean", 0.0))
            q25, q75, q01, q99 = _q(st, "0.25"), _q(st, "0.75"), _q(st, "0.01"), _q(st, "0.99")
            s = 0.0
            if q25 is not None and q75 is not None:
                s = (q75 - q25) / 1.349
            if s <= 0 and q01 is not None and q99 is not None:
                s = (q99 - q01) / 4.653
            if s <= 0:
                s = float(st.get("std", 0.0) or 0.0)
            floor = 1e-6 * max(1.0, abs(med[j]))
            scale[j] = max(s, floor)
        self.median, self.scale = med, scale

    def z(self, rows: np.ndarray) -> np.ndarray:
        """Robust z [B, F]."""
        z = (np.asarray(rows, dtype=np.float64) - self.median) / self.scale
        return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)

    def contributions(self, rows: np.ndarray) -> np.ndarray:
        """|z| normalised to sum 1 per row (all-zero rows stay 0)."""
        a = np.abs(self.z(np.atleast_2d(rows)))
        tot = a.sum(axis=1, keepdims=True)
        return np.divide(a, tot, out=np.zeros_like(a), where=tot > 0)

    def top(self, rows: np.ndarray, k: int = 3) -> list[list[dict[str, float | str]]]:
        """The ``k`` largest contributions per row, largest first, rounded to 4 decimals."""
        c = self.contributions(rows)
        out = []
        k = min(k, c.shape[1])
        for row in c:
            idx = np.argsort(-row, kind="stable")[:k]
            out.append([{"feature": self.names[j], "contribution": round(float(row[j]), 4)}
                        for j in idx if row[j] > 0])
        return out
