"""Gap filling of windows ``[B, T, S]`` (NaN = missing) before features are computed.

Imputation is a pure function of each window's raw values, applied to a whole batch at once
when windows are scored (the job's pandas UDF, replay, ``POST /v1/score`` and training all call
:func:`impute_batch`). Windows are independent: the result for a window does not depend on the
batch it came in (tested). ``linear`` can use the reading after a gap because the whole window
is there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["ffill", "linear", "ewma"]


@dataclass(slots=True)
class ImputedBatch:
    """``values`` float32 ``[B, T, S]`` (no NaN where ``ok``); ``imputed`` cells filled per
    window; ``ok`` False where a gap exceeds ``max_gap`` or a sensor is empty in the window
    (such a window is not scored); ``detail`` says why, per window ("" when ok)."""

    values: np.ndarray
    imputed: np.ndarray
    ok: np.ndarray
    detail: list[str]

    @property
    def fraction(self) -> np.ndarray:
        """Imputed share of each window's cells, float64 ``[B]``."""
        cells = max(int(np.prod(self.values.shape[1:])), 1)
        return self.imputed / cells


@dataclass(slots=True)
class Imputed:
    """One window's result (see :func:`impute`)."""

    values: np.ndarray  # float32 [T, S], no NaN when ok
    imputed: int
    ok: bool
    detail: str = ""

    @property
    def fraction(self) -> float:
        return self.imputed / max(self.values.size, 1)


def longest_nan_run(mask: np.ndarray) -> np.ndarray:
    """Longest run of True along axis -2 of a bool ``[..., T, S]`` mask → int ``[..., S]``.

    >>> longest_nan_run(np.array([[1, 0], [1, 1], [0, 1], [1, 1]], bool)).tolist()
    [2, 3]
    """
    m = np.moveaxis(np.asarray(mask, bool), -2, -1)  # [..., S, T]
    lead = m.shape[:-1]
    T = m.shape[-1]
    flat = m.reshape(-1, T)
    p = np.zeros((flat.shape[0], T + 2), np.int8)
    p[:, 1:-1] = flat
    d = np.diff(p, axis=1)
    st = np.argwhere(d == 1)  # (row, start) sorted by row then time
    en = np.argwhere(d == -1)
    out = np.zeros(flat.shape[0], np.int64)
    if len(st):
        np.maximum.at(out, st[:, 0], en[:, 1] - st[:, 1])
    return out.reshape(lead)


def impute_batch(windows: np.ndarray, method: Method = "ffill", max_gap: int = 5, alpha: float = 0.3) -> ImputedBatch:
    """Fill NaN gaps of at most ``max_gap`` consecutive readings per sensor, per window.

    ``ffill`` carries the last value; ``linear`` interpolates between neighbours; ``ewma``
    fills with the exponentially weighted mean of the values before the gap. Leading gaps take
    the first value; trailing gaps in ``linear`` carry the last. Fails soft: a window with a
    longer gap (or an all-NaN sensor) gets ``ok=False`` and a detail. Raises ValueError on an
    unknown method.

    >>> w = np.array([[[1.0, 5.0], [np.nan, 6.0], [3.0, np.nan]],
    ...               [[1.0, np.nan], [np.nan, np.nan], [np.nan, np.nan]]], np.float32)
    >>> r = impute_batch(w, "linear", max_gap=1)
    >>> r.values[0].tolist(), r.imputed.tolist(), r.ok.tolist()
    ([[1.0, 5.0], [2.0, 6.0], [3.0, 6.0]], [2, 5], [True, False])
    """
    if method not in ("ffill", "linear", "ewma"):
        raise ValueError(f"unknown imputation method {method!r} (ffill | linear | ewma)")
    w = np.asarray(windows, dtype=np.float32)
    B, T, S = w.shape
    nan = np.isnan(w)
    imputed = nan.sum(axis=(1, 2)).astype(np.int64)
    ok = np.ones(B, bool)
    detail = [""] * B
    todo = np.flatnonzero(imputed)
    if len(todo) == 0:
        return ImputedBatch(w, imputed, ok, detail)
    out = w.copy()
    sub_nan = nan[todo]
    valid = ~sub_nan
    empty = ~valid.any(axis=1)  # [b, S]
    runs = longest_nan_run(sub_nan)  # [b, S]
    for k, i in enumerate(todo):
        if empty[k].any():
            ok[i] = False
            detail[i] = f"sensor column(s) {np.flatnonzero(empty[k]).tolist()} empty in window"
        elif int(runs[k].max()) > max_gap:
            j = int(runs[k].argmax())
            ok[i] = False
            detail[i] = f"gap of {int(runs[k, j])} readings in column {j} > max_gap {max_gap}"
    fill = todo[ok[todo]]
    if len(fill) == 0:
        return ImputedBatch(out, imputed, ok, detail)
    x = w[fill]
    valid = ~nan[fill]
    t = np.arange(T)
    if method == "linear":
        for b, j in zip(*np.nonzero((~valid).any(axis=1))):
            good = valid[b, :, j]
            x[b, ~good, j] = np.interp(t[~good], t[good], x[b, good, j])
    else:
        first = valid.argmax(axis=1)  # [b, S] first valid index
        if method == "ffill":
            idx = np.where(valid, t[None, :, None], -1)
            np.maximum.accumulate(idx, axis=1, out=idx)
            idx = np.where(idx < 0, first[:, None, :], idx)
            x = np.take_along_axis(x, idx, axis=1)
        else:  # ewma
            level = np.take_along_axis(x, first[:, None, :], axis=1)[:, 0, :].astype(np.float64)
            for i in range(T):
                v = valid[:, i, :]
                level = np.where(v, (1 - alpha) * level + alpha * np.where(v, x[:, i, :], 0.0), level)
                x[:, i, :] = np.where(v, x[:, i, :], level)
    out[fill] = x
    return ImputedBatch(out, imputed, ok, detail)


def impute(window: np.ndarray, method: Method = "ffill", max_gap: int = 5, alpha: float = 0.3) -> Imputed:
    """One window ``[T, S]``: :func:`impute_batch` of a batch of one.

    >>> w = np.array([[1.0, 5.0], [np.nan, 6.0], [3.0, np.nan]], np.float32)
    >>> r = impute(w, "linear", max_gap=1)
    >>> r.values.tolist(), r.imputed, r.ok
    ([[1.0, 5.0], [2.0, 6.0], [3.0, 6.0]], 2, True)
    >>> impute(w, "ffill", max_gap=0).ok
    False
    """
    r = impute_batch(np.asarray(window, np.float32)[None], method, max_gap, alpha)
    return Imputed(r.values[0], int(r.imputed[0]), bool(r.ok[0]), r.detail[0])
