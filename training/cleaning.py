"""Cleaning and resampling of contract frames (``device_id, ts, sensors…, [label, fault_kind]``).

All functions are pure: they return new frames plus counts of what they changed, so a
training run can log exactly what cleaning did. Anomalies are data here: outlier handling is
opt-in and by default only *counts* outliers (``mode="flag"``).

>>> f = pd.DataFrame({"device_id": ["a"] * 4, "ts": [0, 1000, 1000, 5000], "x": [1.0, 2.0, 4.0, 5.0]})
>>> g, n = drop_duplicate_timestamps(f, ["x"])
>>> n, g["x"].tolist()
(1, [1.0, 3.0, 5.0])
>>> find_gaps(g, max_gap_ms=2000)[["device_id", "start_ms", "end_ms"]].values.tolist()
[['a', 1000, 5000]]
>>> resample(g, ["x"], interval_ms=2000)["x"].tolist()
[2.0, 5.0]
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from training.data import Dataset


@dataclass
class CleanReport:
    """What :func:`clean` changed.

    >>> CleanReport(duplicates=2, rows_in=10, rows_out=8).to_dict()["duplicates"]
    2
    """

    duplicates: int = 0
    out_of_range: int = 0
    outliers: dict[str, int] = field(default_factory=dict)
    gaps: int = 0
    rows_in: int = 0
    rows_out: int = 0

    def to_dict(self) -> dict:
        """Plain dict (for MLflow params / JSON)."""
        return asdict(self)


def drop_duplicate_timestamps(frame: pd.DataFrame, sensors: list[str]) -> tuple[pd.DataFrame, int]:
    """Merge rows sharing ``(device_id, ts)``: sensors averaged (NaN-aware), label = max.

    Returns (frame sorted by device and time, number of rows removed).
    """
    dup = frame.duplicated(["device_id", "ts"], keep=False)
    if not dup.any():
        return frame.sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True), 0
    agg: dict[str, str] = {s: "mean" for s in sensors}
    if "label" in frame:
        agg["label"] = "max"
    for c in ("changepoint",):
        if c in frame:
            agg[c] = "max"
    if "fault_kind" in frame:
        agg["fault_kind"] = "max"  # "" sorts first, so any fault kind wins
    merged = frame[dup].groupby(["device_id", "ts"], as_index=False, sort=False).agg(agg)
    out = pd.concat([frame[~dup], merged], ignore_index=True)
    out = out.sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True)
    return out[frame.columns], int(len(frame) - len(out))


def find_gaps(frame: pd.DataFrame, max_gap_ms: int) -> pd.DataFrame:
    """Gaps longer than ``max_gap_ms`` between consecutive readings of a device.

    Returns columns ``device_id, start_ms`` (last reading before), ``end_ms`` (first after),
    ``gap_ms``. Expects rows sorted by device and time.
    """
    d = frame["device_id"].to_numpy()
    t = frame["ts"].to_numpy()
    if len(t) < 2:
        return pd.DataFrame(columns=["device_id", "start_ms", "end_ms", "gap_ms"])
    same = d[1:] == d[:-1]
    dt = np.diff(t)
    idx = np.flatnonzero(same & (dt > max_gap_ms))
    return pd.DataFrame({"device_id": d[idx + 1], "start_ms": t[idx], "end_ms": t[idx + 1], "gap_ms": dt[idx]})


def apply_limits(frame: pd.DataFrame, limits: dict[str, tuple[float, float]]) -> tuple[pd.DataFrame, int]:
    """Set values outside a sensor's physical range to NaN; return (frame, values blanked)."""
    out = frame.copy()
    n = 0
    for s, (lo, hi) in limits.items():
        if s in out:
            bad = (out[s] < lo) | (out[s] > hi)
            n += int(bad.sum())
            out.loc[bad, s] = np.nan
    return out, n


def robust_outliers(frame: pd.DataFrame, sensors: list[str], k: float = 8.0) -> pd.DataFrame:
    """Boolean mask per sensor: farther than ``k`` robust σ (1.4826·MAD) from the device median."""
    g = frame.groupby("device_id", sort=False)[sensors]
    med = g.transform("median")
    mad = (frame[sensors] - med).abs().groupby(frame["device_id"], sort=False).transform("median") * 1.4826
    mad = mad.where(mad > 0, np.nan)
    return ((frame[sensors] - med).abs() > k * mad).fillna(False)


def handle_outliers(
    frame: pd.DataFrame, sensors: list[str], k: float = 8.0, mode: Literal["flag", "nan", "clip"] = "flag"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Count (``flag``), blank (``nan``) or clip (``clip``) robust outliers per sensor."""
    mask = robust_outliers(frame, sensors, k)
    counts = {s: int(mask[s].sum()) for s in sensors}
    if mode == "flag" or not any(counts.values()):
        return frame, counts
    out = frame.copy()
    if mode == "nan":
        for s in sensors:
            out.loc[mask[s], s] = np.nan
    else:
        g = frame.groupby("device_id", sort=False)[sensors]
        med = g.transform("median")
        mad = (frame[sensors] - med).abs().groupby(frame["device_id"], sort=False).transform("median") * 1.4826
        out[sensors] = frame[sensors].clip(med - k * mad, med + k * mad, axis=None)
    return out, counts


def resample(
    frame: pd.DataFrame,
    sensors: list[str],
    interval_ms: int,
    agg: Literal["mean", "median", "last", "max", "min"] = "mean",
    fill: Literal["none", "ffill", "interpolate"] = "none",
    max_fill: int = 0,
) -> pd.DataFrame:
    """Aggregate each device onto a fixed grid (``ts`` floored to ``interval_ms``).

    ``label`` becomes the max in the bucket, ``fault_kind`` the first non-empty one.
    ``fill`` inserts the missing grid points and fills at most ``max_fill`` consecutive ones
    (0 = insert them as NaN rows only when ``fill != "none"``).
    """
    if interval_ms <= 0:
        raise ValueError(f"interval_ms must be positive, got {interval_ms}")
    f = frame.assign(ts=(frame["ts"] // interval_ms) * interval_ms)
    spec: dict[str, str] = {s: agg for s in sensors}
    if "label" in f:
        spec["label"] = "max"
    if "changepoint" in f:
        spec["changepoint"] = "max"
    if "fault_kind" in f:
        spec["fault_kind"] = "max"
    out = f.groupby(["device_id", "ts"], as_index=False, sort=True).agg(spec)
    if fill == "none":
        return out.reset_index(drop=True)
    parts = []
    for dev, g in out.groupby("device_id", sort=False):
        grid = np.arange(g["ts"].iloc[0], g["ts"].iloc[-1] + interval_ms, interval_ms, dtype=np.int64)
        g = g.set_index("ts").reindex(grid)
        g["device_id"] = dev
        lim = max_fill or None
        if fill == "ffill":
            g[sensors] = g[sensors].ffill(limit=lim)
        else:
            g[sensors] = g[sensors].interpolate(limit=lim, limit_area="inside")
        if "label" in g:
            g["label"] = g["label"].fillna(0).astype(np.int64)
        if "fault_kind" in g:
            g["fault_kind"] = g["fault_kind"].fillna("")
        if "changepoint" in g:
            g["changepoint"] = g["changepoint"].fillna(0).astype(np.int64)
        parts.append(g.rename_axis("ts").reset_index())
    res = pd.concat(parts, ignore_index=True)
    return res[out.columns]


def clean(
    ds: Dataset,
    *,
    limits: dict[str, tuple[float, float]] | None = None,
    outliers: Literal["flag", "nan", "clip"] = "flag",
    outlier_k: float = 8.0,
    max_gap_ms: int | None = None,
    resample_ms: int | None = None,
) -> tuple[Dataset, CleanReport]:
    """Deduplicate timestamps, apply physical limits, handle outliers, count gaps, resample."""
    rep = CleanReport(rows_in=len(ds.frame))
    f, rep.duplicates = drop_duplicate_timestamps(ds.frame, ds.sensors)
    if limits:
        f, rep.out_of_range = apply_limits(f, limits)
    f, rep.outliers = handle_outliers(f, ds.sensors, outlier_k, outliers)
    if max_gap_ms is not None:
        rep.gaps = len(find_gaps(f, max_gap_ms))
    if resample_ms:
        f = resample(f, ds.sensors, resample_ms)
    rep.rows_out = len(f)
    return ds.replace(f), rep
