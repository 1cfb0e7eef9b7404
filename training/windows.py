"""Sliding count windows per device from a Dataset frame, imputed like the job, split by time.

Per device, readings are ordered by ``ts`` (duplicate timestamps keep the last reading) and a
window of ``window`` readings ends every ``slide`` readings. Each window is imputed exactly as
the job does it — ``udfs.imputation.impute`` on the raw window (NaN = missing) with the job's
defaults (``JobConfig``: ``ffill``, ``max_gap`` 5) — and a window the job would not score
(a gap longer than ``max_gap``, a sensor empty in the window) is dropped, as are windows with
more than ``max_imputed`` imputed cells. A window's label is 1 when any of its ``slide``
newest readings is labelled (each reading is attributed to exactly one window end, as the job
alerts at window end).

>>> import pandas as pd
>>> f = pd.DataFrame({"device_id": ["a"] * 6, "ts": range(6), "x": [0., 1, None, 3, 4, 5]})
>>> # window 2 is [NaN, 3, 4]: a leading gap takes the first value, as in the job
>>> w = make_windows(f, ["x"], window=3, slide=2)
>>> w.x[:, :, 0].tolist(), w.end_ts.tolist(), w.imputed_fraction.round(2).tolist()
([[0.0, 1.0, 1.0], [3.0, 3.0, 4.0]], [2, 4], [0.33, 0.33])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Windows:
    """Windows ``x [N, T, S]`` float32 with per-window device, start/end time, label, imputed share.

    Assumes all arrays share the first dimension (``make_windows`` builds them so); ``take``
    fails with IndexError on an out-of-range index.

    >>> w = Windows(np.zeros((3, 2, 1), "float32"), np.array(["a", "a", "b"]), np.arange(3),
    ...             None, np.zeros(3))
    >>> len(w.take(w.device_ids == "a"))
    2
    """

    x: np.ndarray
    device_ids: np.ndarray
    end_ts: np.ndarray
    labels: np.ndarray | None
    imputed_fraction: np.ndarray
    start_ts: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, idx: np.ndarray) -> "Windows":
        """Subset by integer index or boolean mask."""
        return Windows(self.x[idx], self.device_ids[idx], self.end_ts[idx],
                       None if self.labels is None else self.labels[idx], self.imputed_fraction[idx],
                       None if self.start_ts is None else self.start_ts[idx])


def job_imputation() -> tuple[str, int, float]:
    """(method, max_gap, ewma_alpha) the job uses by default (``udfs.config.JobConfig``)."""
    from udfs.config import JobConfig

    fields = JobConfig.model_fields
    alpha = fields["ewma_alpha"].default if "ewma_alpha" in fields else 0.3
    return str(fields["imputation"].default), int(fields["max_gap"].default), float(alpha)


def _impute_windows(raw: np.ndarray, method: str, max_gap: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Impute every window through the job's ``udfs.imputation.impute_batch``; (windows, ok mask)."""
    from udfs.imputation import impute_batch

    r = impute_batch(raw.astype(np.float32), method, max_gap, alpha)  # type: ignore[arg-type]
    return r.values, r.ok


def make_windows(frame: pd.DataFrame, sensors: list[str], window: int, slide: int,
                 max_imputed: float = 0.5, imputation: str | None = None,
                 max_gap: int | None = None) -> Windows:
    """All windows of every device, ordered by (device, end time). ``ValueError`` if none.

    ``imputation`` / ``max_gap`` default to the job's (``JobConfig``)."""
    missing = [s for s in sensors if s not in frame.columns]
    if missing:
        raise ValueError(f"dataset lacks sensor column(s) {missing}")
    if window < 2 or slide < 1:
        raise ValueError("window must be >= 2 and slide >= 1")
    has_label = "label" in frame.columns
    d_method, d_gap, alpha = job_imputation()
    method = imputation or d_method
    gap = d_gap if max_gap is None else max_gap
    xs, devs, ends, labs, imps, begins = [], [], [], [], [], []
    for dev, g in frame.groupby("device_id", sort=True):
        g = g.sort_values("ts", kind="stable").drop_duplicates("ts", keep="last")
        n = len(g)
        if n < window:
            continue
        raw = g[sensors].to_numpy(np.float64)
        ends_idx = np.arange(window - 1, n, slide)
        starts = ends_idx - window + 1
        idx = starts[:, None] + np.arange(window)[None, :]
        wins, ok = _impute_windows(raw[idx], method, gap, alpha)
        imp = np.isnan(raw)[idx].mean(axis=(1, 2))
        xs.append(wins)
        imps.append(np.where(ok, imp, np.inf))  # not scorable by the job: dropped below
        devs.append(np.full(len(ends_idx), str(dev), dtype=object))
        ts = g["ts"].to_numpy(np.int64)
        ends.append(ts[ends_idx])
        begins.append(ts[starts])
        if has_label:
            lab = g["label"].fillna(0).to_numpy(np.int64)
            new = ends_idx[:, None] - np.arange(min(slide, window))[None, :]
            labs.append(lab[new].max(axis=1))
    if not xs:
        raise ValueError(f"no device has {window} readings; nothing to window")
    w = Windows(np.concatenate(xs), np.concatenate(devs), np.concatenate(ends),
                np.concatenate(labs) if has_label else None, np.concatenate(imps), np.concatenate(begins))
    return w.take(np.flatnonzero(w.imputed_fraction <= max_imputed))


def time_split(w: Windows, window: int, slide: int, fractions: tuple[float, float] = (0.6, 0.2)
               ) -> tuple[Windows, Windows, Windows]:
    """Per device, by time: first ``fractions[0]`` train, next ``fractions[1]`` validation, rest
    test. Windows straddling a boundary (overlapping the previous part) are dropped, so no
    reading is in two parts."""
    gap = max(int(np.ceil(window / slide)) - 1, 0)
    parts: list[list[int]] = [[], [], []]
    for dev in np.unique(w.device_ids):
        idx = np.flatnonzero(w.device_ids == dev)
        idx = idx[np.argsort(w.end_ts[idx], kind="stable")]
        n = len(idx)
        a, b = int(n * fractions[0]), int(n * (fractions[0] + fractions[1]))
        parts[0] += idx[:a].tolist()
        parts[1] += idx[a + gap:b].tolist()
        parts[2] += idx[b + gap:].tolist()
    return tuple(w.take(np.asarray(p, dtype=np.int64)) for p in parts)  # type: ignore[return-value]
