"""Time-ordered train / validation / test splits and a scaler fitted on train only.

Splits are cut per device by time (never shuffled), so validation and test always lie after
the training data of the same device: no look-ahead.

>>> f = pd.DataFrame({"device_id": ["a"] * 10, "ts": range(10), "x": [float(i) for i in range(10)]})
>>> s = time_split(f, train=0.6, val=0.2)
>>> [len(s.train), len(s.val), len(s.test)], bool(s.train["ts"].max() < s.val["ts"].min())
([6, 2, 2], True)
>>> sc = Scaler("standard").fit(s.train, ["x"])
>>> abs(round(float(sc.transform(s.train)["x"].mean()), 6)), sc.to_dict()["mean"]
(0.0, [2.5])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd


@dataclass
class Splits:
    """Three frames in time order per device."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        """Row counts."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def time_split(frame: pd.DataFrame, train: float = 0.6, val: float = 0.2, *, per_device: bool = True) -> Splits:
    """Cut each device's rows (sorted by ``ts``) at fractions ``train`` and ``train + val``.

    ``per_device=False`` cuts the whole frame at global time quantiles instead. Raises
    ``ValueError`` on fractions outside (0, 1) or summing above 1.
    """
    if not (0 < train < 1) or not (0 <= val < 1) or train + val > 1 + 1e-9:
        raise ValueError(f"bad split fractions train={train} val={val} (need 0<train<1, 0<=val, train+val<=1)")
    f = frame.sort_values(["device_id", "ts"], kind="stable") if per_device else frame.sort_values("ts", kind="stable")
    if per_device:
        pos = f.groupby("device_id", sort=False).cumcount().to_numpy()
        n = f.groupby("device_id", sort=False)["ts"].transform("size").to_numpy()
    else:
        pos = np.arange(len(f))
        n = np.full(len(f), len(f))
    a = np.floor(n * train + 1e-9).astype(np.int64)
    b = np.floor(n * (train + val) + 1e-9).astype(np.int64)
    tr, va = pos < a, (pos >= a) & (pos < b)
    te = pos >= b
    return Splits(f[tr].reset_index(drop=True), f[va].reset_index(drop=True), f[te].reset_index(drop=True))


def split_at(frame: pd.DataFrame, train_end_ms: int, val_end_ms: int) -> Splits:
    """Split by absolute event times: train ``ts < train_end_ms`` ≤ val ``< val_end_ms`` ≤ test."""
    if val_end_ms < train_end_ms:
        raise ValueError(f"val_end_ms {val_end_ms} is before train_end_ms {train_end_ms}")
    t = frame["ts"]
    return Splits(
        frame[t < train_end_ms].reset_index(drop=True),
        frame[(t >= train_end_ms) & (t < val_end_ms)].reset_index(drop=True),
        frame[t >= val_end_ms].reset_index(drop=True),
    )


class Scaler:
    """Per-sensor scaler (``standard``: mean/std, ``robust``: median/IQR), NaN-aware.

    Assumptions: fit on training rows only; constant or all-NaN sensors get scale 1 (so they
    pass through centred instead of dividing by zero). ``transform`` before ``fit`` raises
    ``RuntimeError``; missing sensor columns raise ``KeyError`` naming them.
    """

    def __init__(self, kind: Literal["standard", "robust"] = "standard") -> None:
        if kind not in ("standard", "robust"):
            raise ValueError(f"unknown scaler kind {kind!r}; use 'standard' or 'robust'")
        self.kind = kind
        self.sensors: list[str] = []
        self.center: np.ndarray | None = None
        self.scale: np.ndarray | None = None

    def fit(self, frame: pd.DataFrame, sensors: list[str]) -> Scaler:
        """Learn centre and scale of each sensor from ``frame`` (the training split)."""
        missing = [s for s in sensors if s not in frame]
        if missing:
            raise KeyError(f"sensors {missing} not in frame columns {list(frame.columns)}")
        x = frame[sensors].to_numpy(dtype=np.float64)
        if self.kind == "standard":
            c, s = np.nanmean(x, axis=0), np.nanstd(x, axis=0)
        else:
            q1, med, q3 = np.nanpercentile(x, [25, 50, 75], axis=0)
            c, s = med, q3 - q1
        c = np.where(np.isfinite(c), c, 0.0)
        s = np.where(np.isfinite(s) & (s > 1e-12), s, 1.0)
        self.sensors, self.center, self.scale = list(sensors), c, s
        return self

    def _check(self, frame: pd.DataFrame) -> None:
        if self.center is None:
            raise RuntimeError("Scaler used before fit()")
        missing = [s for s in self.sensors if s not in frame]
        if missing:
            raise KeyError(f"sensors {missing} not in frame columns {list(frame.columns)}")

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Scaled copy of ``frame`` (other columns untouched)."""
        self._check(frame)
        out = frame.copy()
        out[self.sensors] = (frame[self.sensors].to_numpy(dtype=np.float64) - self.center) / self.scale
        return out

    def inverse_transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Undo :meth:`transform`."""
        self._check(frame)
        out = frame.copy()
        out[self.sensors] = frame[self.sensors].to_numpy(dtype=np.float64) * self.scale + self.center
        return out

    def to_dict(self) -> dict:
        """JSON-friendly parameters."""
        key = ("mean", "std") if self.kind == "standard" else ("median", "iqr")
        return {"kind": self.kind, "sensors": self.sensors, key[0]: self.center.tolist(), key[1]: self.scale.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        """Rebuild from :meth:`to_dict`."""
        sc = cls(d["kind"])
        sc.sensors = list(d["sensors"])
        c, s = ("mean", "std") if d["kind"] == "standard" else ("median", "iqr")
        sc.center, sc.scale = np.asarray(d[c], float), np.asarray(d[s], float)
        return sc


def fit_scaler_on_train(splits: Splits, sensors: list[str], kind: Literal["standard", "robust"] = "standard") -> tuple[Scaler, Splits]:
    """Fit a scaler on ``splits.train`` only and apply it to all three splits."""
    sc = Scaler(kind).fit(splits.train, sensors)
    return sc, Splits(sc.transform(splits.train), sc.transform(splits.val), sc.transform(splits.test))
