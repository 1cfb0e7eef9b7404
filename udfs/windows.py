"""Per-device reading buffer (time-ordered, float32) and time-window resampling.

The buffer holds the last readings of ONE device for all its sensors: ``ts`` int64 ``[n]``
ascending and ``values`` float32 ``[n, S]`` (NaN = missing). In-order readings append (the
common case, O(1) amortised; when full the oldest is dropped with one memmove); out-of-order
ones are inserted at their place; a reading with an existing timestamp is merged into it.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Time-ordered buffer with a fixed or growing capacity.

    Assumes the caller already rejected readings that are too late. ``growable`` buffers
    (time windows) double up to ``max_capacity`` and then drop the oldest. Fails with
    ValueError on a row of the wrong width.

    >>> b = RingBuffer(3, 2)
    >>> for t, v in [(10, [1, 2]), (30, [3, 4]), (20, [5, 6]), (40, [7, 8])]:
    ...     _ = b.insert(t, np.array(v, np.float32))
    >>> b.ts.tolist(), b.values[:, 0].tolist()
    ([20, 30, 40], [5.0, 3.0, 7.0])
    """

    __slots__ = ("cap", "S", "n", "h", "_ts", "_v", "growable", "max_capacity")

    def __init__(self, capacity: int, n_sensors: int, growable: bool = False, max_capacity: int = 1 << 16) -> None:
        self.cap = max(int(capacity), 1)
        self.S = int(n_sensors)
        self.n = 0
        self.h = 0  # data lives in [h, h + n) of arrays twice the capacity: dropping the oldest is
        # h += 1, and one compaction every `cap` appends replaces a memmove per append
        self._ts = np.empty(2 * self.cap, np.int64)
        self._v = np.empty((2 * self.cap, self.S), np.float32)
        self.growable = growable
        self.max_capacity = max(max_capacity, self.cap)

    @property
    def ts(self) -> np.ndarray:
        return self._ts[self.h: self.h + self.n]

    @property
    def values(self) -> np.ndarray:
        return self._v[self.h: self.h + self.n]

    def __len__(self) -> int:
        return self.n

    def last_ts(self) -> int | None:
        return int(self._ts[self.h + self.n - 1]) if self.n else None

    def _compact(self, size: int | None = None) -> None:
        h, n = self.h, self.n
        if size is not None and size != len(self._ts):
            ts = np.empty(size, np.int64)
            v = np.empty((size, self.S), np.float32)
            ts[:n] = self._ts[h: h + n]
            v[:n] = self._v[h: h + n]
            self._ts, self._v = ts, v
        elif h:
            self._ts[:n] = self._ts[h: h + n]
            self._v[:n] = self._v[h: h + n]
        self.h = 0

    def _grow(self) -> bool:
        if not self.growable or self.cap >= self.max_capacity:
            return False
        self.cap = min(self.cap * 2, self.max_capacity)
        self._compact(2 * self.cap)
        return True

    def _drop_oldest(self) -> None:
        self.h += 1
        self.n -= 1

    def insert(self, ts: int, row: np.ndarray) -> str:
        """Insert one reading; returns ``appended | inserted | merged | dropped`` (``dropped``:
        full and older than everything held)."""
        if row.shape != (self.S,):
            raise ValueError(f"row of shape {row.shape}, buffer holds {self.S} sensors")
        n = self.n
        if n and ts <= self._ts[self.h + n - 1]:
            tsv = self._ts[self.h: self.h + n]
            i = int(np.searchsorted(tsv, ts))
            if i < n and tsv[i] == ts:  # same timestamp: newer non-missing values win
                k = self.h + i
                self._v[k] = np.where(np.isnan(row), self._v[k], row)
                return "merged"
            if n == self.cap and not self._grow():
                if i == 0:
                    return "dropped"
                self._drop_oldest()
                i -= 1
                n -= 1
            if self.h + n == len(self._ts):
                self._compact()
            h = self.h
            self._ts[h + i + 1: h + n + 1] = self._ts[h + i: h + n]
            self._v[h + i + 1: h + n + 1] = self._v[h + i: h + n]
            self._ts[h + i] = ts
            self._v[h + i] = row
            self.n = n + 1
            return "inserted"
        if n == self.cap and not self._grow():
            self._drop_oldest()
            n -= 1
        if self.h + n == len(self._ts):
            self._compact()
        k = self.h + n
        self._ts[k] = ts
        self._v[k] = row
        self.n = n + 1
        return "appended"

    def evict_before(self, ts: int) -> int:
        """Drop readings older than ``ts``; returns how many."""
        k = int(np.searchsorted(self._ts[self.h: self.h + self.n], ts))
        self.h += k
        self.n -= k
        return k

    def tail(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Last ``k`` readings (copies): ts ``[k]``, values ``[k, S]``."""
        e = self.h + self.n
        return self._ts[e - k: e].copy(), self._v[e - k: e].copy()


def resample(ts: np.ndarray, values: np.ndarray, start: int, end: int, points: int) -> np.ndarray:
    """Bin-mean readings with ``start <= ts < end`` onto ``points`` equal bins → float32
    ``[points, S]``; empty bins (or bins with only NaN for a sensor) are NaN, for imputation.

    >>> resample(np.array([0, 1, 5, 9]), np.array([[1.0], [3.0], [5.0], [7.0]]), 0, 10, 2).ravel().tolist()
    [2.0, 6.0]
    """
    S = values.shape[1]
    sel = (ts >= start) & (ts < end)
    t = ts[sel]
    v = values[sel].astype(np.float64)
    idx = ((t - start) * points // (end - start)).astype(np.int64)
    ok = ~np.isnan(v)
    sums = np.zeros((points, S))
    cnt = np.zeros((points, S))
    np.add.at(sums, idx, np.where(ok, v, 0.0))
    np.add.at(cnt, idx, ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums / cnt).astype(np.float32)
