"""Drift statistics of live feature rows against a bundle's ``reference_stats`` histograms.

PSI over the reference bins (values outside the reference range fall in the end bins) and a
KS statistic from the binned CDFs (exact at bin edges, an approximation in between).
"""

from __future__ import annotations

from typing import Any

import numpy as np

_EPS = 1e-4


def psi(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins.

    >>> psi(np.array([10, 10]), np.array([10, 10]))
    0.0
    >>> round(psi(np.array([50, 50]), np.array([90, 10])), 3)
    0.879
    """
    p = np.maximum(ref_counts / max(ref_counts.sum(), 1), _EPS)
    q = np.maximum(cur_counts / max(cur_counts.sum(), 1), _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def ks_binned(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Max |CDF difference| at the bin edges."""
    a = np.cumsum(ref_counts) / max(ref_counts.sum(), 1)
    b = np.cumsum(cur_counts) / max(cur_counts.sum(), 1)
    return float(np.abs(a - b).max()) if len(a) else 0.0


class DriftMonitor:
    """Accumulates live feature rows into the reference bins; ``report()`` gives per-feature PSI/KS.

    Assumes ``reference["features"][name]["hist"]`` exists for monitored features (others are
    skipped). State is the count matrix (``to_bytes``/``from_bytes``).

    >>> ref = {"features": {"f": {"hist": {"edges": [0, 1, 2], "counts": [50, 50]}}}}
    >>> m = DriftMonitor(["f"], ref, psi_limit=0.2)
    >>> m.update(np.full((100, 1), 1.5))
    >>> r = m.report("m", "v1")[0]
    >>> r["feature"], r["n"], r["drifted"]
    ('f', 100, True)
    """

    def __init__(self, names: list[str], reference: dict[str, Any], psi_limit: float = 0.2,
                 ks_limit: float = 0.2) -> None:
        feats = (reference or {}).get("features", {})
        self.cols: list[int] = []
        self.names: list[str] = []
        self.edges: list[np.ndarray] = []
        self.ref: list[np.ndarray] = []
        for j, n in enumerate(names):
            h = (feats.get(n) or {}).get("hist")
            if h and len(h.get("edges", [])) >= 2:
                self.cols.append(j)
                self.names.append(n)
                self.edges.append(np.asarray(h["edges"], np.float64))
                self.ref.append(np.asarray(h["counts"], np.float64))
        self.counts = [np.zeros(len(r)) for r in self.ref]
        self.psi_limit, self.ks_limit = psi_limit, ks_limit

    def update(self, rows: np.ndarray) -> None:
        rows = np.atleast_2d(rows)
        for k, j in enumerate(self.cols):
            e = self.edges[k]
            idx = np.clip(np.searchsorted(e, rows[:, j], side="right") - 1, 0, len(e) - 2)
            self.counts[k] += np.bincount(idx, minlength=len(e) - 1)

    def report(self, model_name: str, model_version: str) -> list[dict[str, Any]]:
        """One ``model-drift`` record per monitored feature."""
        out = []
        for k, n in enumerate(self.names):
            p, ks = psi(self.ref[k], self.counts[k]), ks_binned(self.ref[k], self.counts[k])
            out.append({"model": {"name": model_name, "version": model_version}, "feature": n,
                        "psi": round(p, 6), "ks": round(ks, 6), "n": int(self.counts[k].sum()),
                        "psi_limit": self.psi_limit, "ks_limit": self.ks_limit,
                        "drifted": bool(p > self.psi_limit or ks > self.ks_limit)})
        return out

    def reset(self) -> None:
        self.counts = [np.zeros(len(r)) for r in self.ref]

    def to_bytes(self) -> bytes:
        return np.concatenate(self.counts).astype(np.float64).tobytes() if self.counts else b""

    def from_bytes(self, data: bytes) -> None:
        flat = np.frombuffer(data, np.float64)
        o = 0
        for k, r in enumerate(self.ref):
            self.counts[k] = flat[o: o + len(r)].copy()
            o += len(r)
