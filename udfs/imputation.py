"""Gap filling of one window ``[T, S]`` (NaN = missing) before features are computed.

Imputation is a pure function of the window's raw values, applied when a window is emitted
(the ring buffer keeps the raw NaNs). So the job, replay and any re-emission agree, and
``linear`` can use the reading after a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["ffill", "linear", "ewma"]


@dataclass(slots=True)
class Imputed:
    values: np.ndarray  # float32 [T, S], no NaN when ok
    imputed: int  # number of filled cells
    ok: bool  # False when a gap exceeds max_gap or a sensor is empty in the window
    detail: str = ""

    @property
    def fraction(self) -> float:
        return self.imputed / max(self.values.size, 1)


def longest_nan_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of True per column of a bool ``[T, S]`` mask → int ``[S]``.

    >>> longest_nan_run(np.array([[1, 0], [1, 1], [0, 1], [1, 1]], bool)).tolist()
    [2, 3]
    """
    T, S = mask.shape
    p = np.zeros((S, T + 2), np.int8)
    p[:, 1:-1] = mask.T
    d = np.diff(p, axis=1)
    st = np.argwhere(d == 1)  # (column, start) sorted by column then time
    en = np.argwhere(d == -1)
    out = np.zeros(S, np.int64)
    if len(st):
        np.maximum.at(out, st[:, 0], en[:, 1] - st[:, 1])
    return out


def impute(window: np.ndarray, method: Method = "ffill", max_gap: int = 5, alpha: float = 0.3) -> Imputed:
    """Fill NaN gaps of at most ``max_gap`` consecutive readings per sensor.

    ``ffill`` carries the last value; ``linear`` interpolates between neighbours; ``ewma``
    fills with the exponentially weighted mean of the values before the gap. Leading gaps take
    the first value; trailing gaps in ``linear`` carry the last. Fails soft: a longer gap (or an
    all-NaN sensor) returns ``ok=False`` with a detail and the window should not be scored.

    >>> w = np.array([[1.0, 5.0], [np.nan, 6.0], [3.0, np.nan]], np.float32)
    >>> r = impute(w, "linear", max_gap=1)
    >>> r.values.tolist(), r.imputed, r.ok
    ([[1.0, 5.0], [2.0, 6.0], [3.0, 6.0]], 2, True)
    >>> impute(w, "ffill", max_gap=0).ok
    False
    """
    w = np.asarray(window, dtype=np.float32)
    nan = np.isnan(w)
    n = int(nan.sum())
    if n == 0:
        return Imputed(w, 0, True)
    T, S = w.shape
    valid = ~nan
    empty = ~valid.any(axis=0)
    if empty.any():
        return Imputed(w, n, False, f"sensor column(s) {np.flatnonzero(empty).tolist()} empty in window")
    runs = longest_nan_run(nan)
    if int(runs.max()) > max_gap:
        j = int(runs.argmax())
        return Imputed(w, n, False, f"gap of {int(runs[j])} readings in column {j} > max_gap {max_gap}")
    t = np.arange(T)
    if method == "linear":
        out = w.copy()
        for j in np.flatnonzero(nan.any(axis=0)):
            ok = valid[:, j]
            out[~ok, j] = np.interp(t[~ok], t[ok], w[ok, j])
        return Imputed(out, n, True)
    first = valid.argmax(axis=0)  # first valid index per column
    if method == "ffill":
        idx = np.where(valid, t[:, None], -1)
        np.maximum.accumulate(idx, axis=0, out=idx)
        idx = np.where(idx < 0, first[None, :], idx)
        return Imputed(np.take_along_axis(w, idx, axis=0), n, True)
    if method == "ewma":
        out = w.copy()
        level = w[first, np.arange(S)].astype(np.float64)
        for i in range(T):
            v = valid[i]
            level = np.where(v, (1 - alpha) * level + alpha * np.where(v, w[i], 0.0), level)
            if not v.all():
                out[i, ~v] = level[~v]
        return Imputed(out, n, True)
    raise ValueError(f"unknown imputation method {method!r} (ffill | linear | ewma)")
