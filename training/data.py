"""Dataset loaders: simulator CSV, NAB, SKAB, generic CSV and the job's Parquet archive.

Every loader returns a :class:`Dataset` whose ``frame`` follows one contract:

* ``device_id`` (str), ``ts`` (int64 epoch milliseconds, UTC),
* one float64 column per sensor (NaN = missing),
* optional ``label`` (int 0/1) and ``fault_kind`` (str, ``""`` when normal); SKAB also keeps
  ``changepoint`` (int 0/1).

Rows are sorted by ``(device_id, ts)`` (stable) unless ``sort=False``, which keeps file order
(the simulator writes delivery order; replay may want it). Naive timestamps are read as UTC.
Unknown formats, missing files and unknown columns raise :class:`DataError` (a ``ValueError``)
with a message naming the file and what was expected.

>>> import io
>>> ds = load_csv_generic(io.StringIO("time,dev,a,b\\n2024-01-01 00:00:01,x,1.5,2\\n2024-01-01 00:00:00,x,1,\\n"))
>>> ds.sensors, ds.frame["ts"].tolist(), ds.frame["b"].isna().tolist()
(['a', 'b'], [1704067200000, 1704067201000], [True, False])
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

from udfs.schema import SENSORS

#: The simulator's 8 sensors (the contract's list, defined once in udfs.schema).
SIM_SENSORS: tuple[str, ...] = SENSORS
SKAB_SENSORS: tuple[str, ...] = (
    "Accelerometer1RMS",
    "Accelerometer2RMS",
    "Current",
    "Pressure",
    "Temperature",
    "Thermocouple",
    "Voltage",
    "Volume Flow RateRMS",
)
_SIM_COLUMNS = ["device_id", "ts", *SIM_SENSORS, "label", "fault_kind"]
_TS_NAMES = ("ts", "timestamp", "time", "datetime", "date", "time_stamp", "event_time", "date_time")
_DEVICE_NAMES = ("device_id", "device", "deviceid", "machine_id", "machine", "asset_id", "asset", "sensor_id", "unit_id")
_LABEL_NAMES = ("label", "anomaly", "is_anomaly", "labels")
_META = {"device_id", "ts", "label", "fault_kind", "changepoint"}
Format = Literal["auto", "sim", "nab", "skab", "csv", "parquet", "archive"]
FORMATS: tuple[str, ...] = ("auto", "sim", "nab", "skab", "csv", "parquet", "archive")
_PARTITION_PREFIXES = ("day=", "date=", "dt=")


class DataError(ValueError):
    """A dataset cannot be read as asked: the message names the file and what was wrong."""


@dataclass
class Dataset:
    """A loaded dataset in the contract form (see the module docstring).

    ``label_windows`` holds NAB's label windows per device as ``[(start_ms, end_ms), ...]``
    (inclusive), empty for other formats. Assumes the frame already follows the contract
    (the loaders guarantee it); ``device_frame`` raises ``KeyError`` for unknown devices.

    >>> f = pd.DataFrame({"device_id": ["a", "a"], "ts": [0, 1000], "x": [1.0, float("nan")]})
    >>> ds = Dataset(f, ["x"], "tiny")
    >>> ds.devices, ds.has_labels, ds.values().shape
    (['a'], False, (2, 1))
    """

    frame: pd.DataFrame
    sensors: list[str]
    name: str
    label_windows: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    source: str = ""
    fmt: str = ""

    @property
    def has_labels(self) -> bool:
        """True when the frame has a ``label`` column."""
        return "label" in self.frame.columns

    @property
    def devices(self) -> list[str]:
        """Device ids in first-seen order."""
        return list(pd.unique(self.frame["device_id"]))

    def device_frame(self, device_id: str) -> pd.DataFrame:
        """Rows of one device (raises ``KeyError`` naming the known devices)."""
        sel = self.frame[self.frame["device_id"] == device_id]
        if sel.empty:
            raise KeyError(f"device {device_id!r} not in dataset {self.name!r}; devices: {self.devices[:10]}")
        return sel

    def values(self) -> np.ndarray:
        """Sensor matrix ``[rows, sensors]`` float64 (NaN = missing)."""
        return self.frame[self.sensors].to_numpy(dtype=np.float64)

    def replace(self, frame: pd.DataFrame) -> Dataset:
        """Same metadata, new frame."""
        return Dataset(frame, list(self.sensors), self.name, dict(self.label_windows), self.source, self.fmt)

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, fmt={self.fmt!r}, rows={len(self.frame)}, "
            f"devices={self.frame['device_id'].nunique()}, sensors={self.sensors}, labels={self.has_labels})"
        )


# -- locations -----------------------------------------------------------------------------


def repo_root() -> Path:
    """The project root (the folder holding ``training/``)."""
    return Path(__file__).resolve().parents[1]


def datasets_root() -> Path:
    """``$VIGIL_DATASETS`` or ``<repo>/../shared/datasets`` (may not exist)."""
    env = os.environ.get("VIGIL_DATASETS")
    return Path(env).expanduser() if env else (repo_root().parent / "shared" / "datasets").resolve()


def require_dataset(relpath: str | Path) -> Path:
    """Path of a dataset under :func:`datasets_root`, for tests.

    Missing: under ``CI=true`` raises ``FileNotFoundError`` (the test fails); elsewhere calls
    ``pytest.skip`` with a message naming ``VIGIL_DATASETS``.
    """
    path = datasets_root() / relpath
    if path.exists():
        return path
    msg = (
        f"dataset {str(relpath)!r} not found at {path} "
        f"(set VIGIL_DATASETS to the folder holding nab/ and skab/; default <repo>/../shared/datasets)"
    )
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise FileNotFoundError(msg)
    import pytest

    pytest.skip(msg)
    raise AssertionError("unreachable")  # pragma: no cover


def _resolve(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if p.exists():
        return p
    if not p.is_absolute() and (datasets_root() / p).exists():
        return datasets_root() / p
    raise DataError(f"no such file or directory: {str(path)!r} (also looked under VIGIL_DATASETS={datasets_root()})")


# -- time ----------------------------------------------------------------------------------


def to_epoch_ms(col: pd.Series, what: str = "timestamp") -> pd.Series:
    """Timestamps (ISO strings, datetimes, or epoch s/ms/us/ns numbers) → int64 epoch ms, UTC.

    Naive times are taken as UTC. Raises :class:`DataError` naming ``what`` when values do
    not parse.

    >>> to_epoch_ms(pd.Series(["2024-01-01T00:00:00.5Z", "2024-01-01 00:00:01"])).tolist()
    [1704067200500, 1704067201000]
    >>> to_epoch_ms(pd.Series([1704067200, 1704067201])).tolist()
    [1704067200000, 1704067201000]
    """
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        x = col.astype("float64")
        if x.isna().any():
            raise DataError(f"{what}: {int(x.isna().sum())} empty timestamps")
        mag = float(np.nanmedian(np.abs(x))) if len(x) else 0.0
        # magnitude → unit: epoch seconds ~1e9, ms ~1e12, us ~1e15, ns ~1e18
        scale = 1000.0 if mag < 1e11 else 1.0 if mag < 1e14 else 1e-3 if mag < 1e17 else 1e-6
        return pd.Series(np.round(x.to_numpy() * scale).astype(np.int64), index=col.index, name=col.name)
    try:
        if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
            dt = col
        else:
            dt = pd.to_datetime(col, utc=True, format="ISO8601")
    except (ValueError, TypeError) as e:
        try:
            dt = pd.to_datetime(col, utc=True, format="mixed")
        except (ValueError, TypeError):
            raise DataError(f"{what}: cannot parse timestamps such as {col.iloc[0]!r} ({e})") from None
    if dt.dt.tz is None:
        dt = dt.dt.tz_localize("UTC")
    if dt.isna().any():
        raise DataError(f"{what}: {int(dt.isna().sum())} empty or unparseable timestamps")
    return pd.Series(dt.dt.as_unit("ms").astype("int64").to_numpy(), index=col.index, name=col.name)


# -- format detection ----------------------------------------------------------------------


def _head(path: Path, n: int = 4096) -> str:
    with open(path, "rb") as fh:
        raw = fh.read(n)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e})") from None


def detect_format(path: str | Path) -> str:
    """Guess the format of a file or folder: ``sim``, ``nab``, ``skab``, ``csv``, ``parquet``, ``archive``."""
    p = _resolve(path)
    if p.is_dir():
        if any(p.rglob("*.parquet")):
            return "parquet"
        if any(d.is_dir() and d.name.startswith(_PARTITION_PREFIXES) for d in p.iterdir()):
            return "archive"
        csvs = sorted(x for x in p.rglob("*.csv"))
        if not csvs:
            raise DataError(f"{p}: folder holds no .csv or .parquet files")
        kinds = {detect_format(x) for x in csvs[:20]}
        if len(kinds) > 1:
            raise DataError(f"{p}: folder mixes formats {sorted(kinds)}; pass one file or fmt=")
        return kinds.pop()
    if p.suffix == ".parquet":
        return "parquet"
    first = _head(p).splitlines()[0].strip() if _head(p) else ""
    cols = [c.strip().strip('"') for c in first.split(";" if ";" in first else ",")]
    if "datetime" in cols and set(SKAB_SENSORS) <= set(cols):
        return "skab"
    if cols == ["timestamp", "value"]:
        return "nab"
    if cols == _SIM_COLUMNS:
        return "sim"
    return "csv"


def load_dataset(path: str | Path | IO[str], fmt: Format | str = "auto", *, sort: bool = True, **kwargs) -> Dataset:
    """Load a dataset in any supported format (``fmt="auto"`` detects it).

    ``path`` may be relative to :func:`datasets_root` (e.g. ``"nab/realKnownCause"``).
    ``kwargs`` go to the format's loader (e.g. ``timestamp_col``, ``device_col``,
    ``sensors`` for generic CSV; ``labels_path`` for NAB).
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r}; known: {list(FORMATS)}")
    if not isinstance(path, (str, Path)):
        if fmt not in ("auto", "csv", "sim"):
            raise DataError(f"a file object can only be read as generic CSV, not {fmt!r}")
        return load_csv_generic(path, sort=sort, **kwargs)
    p = _resolve(path)
    if fmt == "auto":
        fmt = detect_format(p)
    loader = {"sim": load_sim_csv, "nab": load_nab, "skab": load_skab, "csv": load_csv_generic,
              "parquet": load_parquet, "archive": load_archive}[fmt]
    if p.is_dir() and fmt in ("sim", "csv"):
        # a folder of such files: one dataset (generic CSVs without a device column get the
        # file stem as device id)
        parts = [loader(f, sort=False, **kwargs) for f in sorted(p.rglob("*.csv"))]
        if not parts:
            raise DataError(f"{p}: folder holds no .csv files")
        sensors = list(dict.fromkeys(s for d in parts for s in d.sensors))
        frame = pd.concat([d.frame for d in parts], ignore_index=True)
        return Dataset(_finish(frame, sensors, sort), sensors, p.name, source=str(p), fmt=fmt)
    return loader(p, sort=sort, **kwargs)


def _finish(frame: pd.DataFrame, sensors: list[str], sort: bool) -> pd.DataFrame:
    frame["device_id"] = frame["device_id"].astype(str)
    frame["ts"] = frame["ts"].astype(np.int64)
    for s in sensors:
        frame[s] = pd.to_numeric(frame[s], errors="coerce").astype(np.float64)
    if "label" in frame.columns:
        frame["label"] = frame["label"].fillna(0).astype(np.int64)
    if "fault_kind" in frame.columns:
        frame["fault_kind"] = frame["fault_kind"].fillna("").astype(str)
    cols = ["device_id", "ts", *sensors] + [c for c in ("label", "fault_kind", "changepoint") if c in frame.columns]
    frame = frame[cols]
    if sort:
        frame = frame.sort_values(["device_id", "ts"], kind="stable")
    return frame.reset_index(drop=True)


# -- simulator CSV -------------------------------------------------------------------------


def load_sim_csv(path: str | Path, *, sort: bool = True) -> Dataset:
    """The simulator's labelled CSV (``vigil simulate --out``)."""
    p = _resolve(path)
    dtypes = {s: "float64" for s in SIM_SENSORS} | {"device_id": "string", "ts": "string", "label": "int64", "fault_kind": "string"}
    try:
        df = pd.read_csv(p, dtype=dtypes, engine="pyarrow")
    except Exception as e:  # pyarrow raises its own error types
        raise DataError(f"{p}: not a simulator CSV ({e})") from None
    missing = [c for c in _SIM_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{p}: simulator CSV lacks columns {missing}")
    df["ts"] = to_epoch_ms(df["ts"], f"{p}: column 'ts'")
    df["device_id"] = df["device_id"].astype(str)
    df["fault_kind"] = df["fault_kind"].fillna("").astype(str)
    return Dataset(_finish(df, list(SIM_SENSORS), sort), list(SIM_SENSORS), p.stem, source=str(p), fmt="sim")


# -- NAB -----------------------------------------------------------------------------------


def _find_nab_labels(p: Path) -> Path | None:
    for d in [p if p.is_dir() else p.parent, *p.parents][:4]:
        cand = d / "labels" / "combined_windows.json"
        if cand.exists():
            return cand
    cand = datasets_root() / "nab" / "labels" / "combined_windows.json"
    return cand if cand.exists() else None


def load_nab(path: str | Path, *, sort: bool = True, labels_path: str | Path | None = None) -> Dataset:
    """A NAB file or folder (``timestamp,value``); device id = file stem, sensor ``value``.

    Labels come from ``labels/combined_windows.json`` (found next to the category folders, or
    under ``$VIGIL_DATASETS/nab``): ``label = 1`` inside a window (ends inclusive), and
    ``label_windows`` holds the windows. A file not in the label file gets no windows; if no
    label file is found at all the dataset has no ``label`` column.
    """
    p = _resolve(path)
    files = sorted(x for x in p.rglob("*.csv")) if p.is_dir() else [p]
    files = [f for f in files if "labels" not in f.parts]
    if not files:
        raise DataError(f"{p}: no NAB .csv files")
    lp = Path(labels_path) if labels_path else _find_nab_labels(p)
    windows_raw: dict = {}
    if lp is not None:
        try:
            windows_raw = json.loads(Path(lp).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DataError(f"{lp}: cannot read NAB label windows ({e})") from None
    frames, label_windows = [], {}
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise DataError(f"NAB device id {f.stem!r} is ambiguous: {stems[f.stem]} and {f}")
        stems[f.stem] = f
        df = pd.read_csv(f)
        if list(df.columns) != ["timestamp", "value"]:
            raise DataError(f"{f}: NAB files have columns ['timestamp', 'value'], found {list(df.columns)}")
        ts = to_epoch_ms(df["timestamp"], f"{f}: column 'timestamp'")
        out = pd.DataFrame({"device_id": f.stem, "ts": ts, "value": df["value"].astype(np.float64)})
        if lp is not None:
            key = f"{f.parent.name}/{f.name}"
            wins = [
                (int(to_epoch_ms(pd.Series([a]))[0]), int(to_epoch_ms(pd.Series([b]))[0]))
                for a, b in windows_raw.get(key, [])
            ]
            label_windows[f.stem] = wins
            lab = np.zeros(len(out), dtype=np.int64)
            t = out["ts"].to_numpy()
            for a, b in wins:
                lab[(t >= a) & (t <= b)] = 1
            out["label"] = lab
            out["fault_kind"] = np.where(lab == 1, "anomaly", "")
        frames.append(out)
    frame = pd.concat(frames, ignore_index=True)
    name = p.stem if p.is_file() else p.name
    return Dataset(_finish(frame, ["value"], sort), ["value"], name, label_windows, str(p), "nab")


# -- SKAB ----------------------------------------------------------------------------------


def load_skab(path: str | Path, *, sort: bool = True) -> Dataset:
    """A SKAB file or folder (``;``-separated, ``datetime`` column, 8 sensors).

    Device id = ``<folder>/<stem>`` (e.g. ``valve1/3``); ``anomaly`` → ``label`` (files
    without it, like ``anomaly-free``, get label 0); ``changepoint`` is kept.
    """
    p = _resolve(path)
    files = sorted(p.rglob("*.csv"), key=lambda f: (f.parent.name, int(f.stem) if f.stem.isdigit() else 1 << 30, f.stem)) if p.is_dir() else [p]
    if not files:
        raise DataError(f"{p}: no SKAB .csv files")
    frames = []
    for f in files:
        df = pd.read_csv(f, sep=";")
        missing = [c for c in ("datetime", *SKAB_SENSORS) if c not in df.columns]
        if missing:
            raise DataError(f"{f}: not a SKAB file, lacks columns {missing} (found {list(df.columns)})")
        out = pd.DataFrame({"device_id": f"{f.parent.name}/{f.stem}"}, index=df.index)
        out["ts"] = to_epoch_ms(df["datetime"], f"{f}: column 'datetime'")
        for s in SKAB_SENSORS:
            out[s] = df[s].astype(np.float64)
        out["label"] = df["anomaly"].fillna(0).astype(np.int64) if "anomaly" in df else 0
        out["fault_kind"] = np.where(out["label"] == 1, "anomaly", "")
        out["changepoint"] = df["changepoint"].fillna(0).astype(np.int64) if "changepoint" in df else 0
        frames.append(out)
    frame = pd.concat(frames, ignore_index=True)
    name = p.stem if p.is_file() else p.name
    return Dataset(_finish(frame, list(SKAB_SENSORS), sort), list(SKAB_SENSORS), name, source=str(p), fmt="skab")


# -- generic CSV ---------------------------------------------------------------------------


def _sniff_sep(text: str) -> str:
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0] + "\n", delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _pick(cols: list[str], names: tuple[str, ...]) -> str | None:
    low = {c.lower().strip(): c for c in cols}
    for n in names:
        if n in low:
            return low[n]
    return None


def load_csv_generic(
    path: str | Path | IO[str],
    *,
    sort: bool = True,
    timestamp_col: str | None = None,
    device_col: str | None = None,
    sensors: list[str] | None = None,
    label_col: str | None = None,
    device_id: str | None = None,
    sep: str | None = None,
) -> Dataset:
    """Any CSV with a timestamp column, numeric sensor columns and optionally a device column.

    The timestamp column is ``timestamp_col`` or the first of ts/timestamp/time/datetime/date…,
    else the first column that parses as dates. Sensors are ``sensors`` or every numeric
    column other than timestamp, device and label. The device column is ``device_col`` or one
    named device_id/device/machine…; without one, every row belongs to ``device_id`` (default:
    the file stem). Unknown columns named in arguments raise :class:`DataError` listing the
    available ones.
    """
    if isinstance(path, (str, Path)):
        p = _resolve(path)
        src, name = str(p), p.stem
        text = _head(p)
        reader: str | Path | IO[str] = p
    else:
        src, name = "<stream>", "stream"
        data = path.read()
        text = data
        reader = io.StringIO(data)
    sep = sep or _sniff_sep(text)
    try:
        df = pd.read_csv(reader, sep=sep)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{src}: cannot parse as CSV ({e})") from None
    if df.empty:
        raise DataError(f"{src}: no rows")
    cols = [str(c) for c in df.columns]
    df.columns = cols

    def need(col: str | None, what: str) -> None:
        if col is not None and col not in cols:
            raise DataError(f"{src}: {what} column {col!r} not found; columns are {cols}")

    need(timestamp_col, "timestamp")
    need(device_col, "device")
    need(label_col, "label")
    ts_col = timestamp_col or _pick(cols, _TS_NAMES)
    if ts_col is None:
        for c in cols:
            if df[c].dtype == object:
                try:
                    pd.to_datetime(df[c].head(50), utc=True, format="mixed")
                    ts_col = c
                    break
                except (ValueError, TypeError):
                    continue
    if ts_col is None:
        raise DataError(f"{src}: no timestamp column found (looked for {list(_TS_NAMES)} or a date-like column); columns are {cols}; pass timestamp_col=")
    dev_col = device_col or _pick(cols, _DEVICE_NAMES)
    lab_col = label_col or _pick(cols, _LABEL_NAMES)
    skip = {ts_col, dev_col, lab_col, "fault_kind", "changepoint"}
    if sensors is not None:
        unknown = [s for s in sensors if s not in cols]
        if unknown:
            raise DataError(f"{src}: unknown sensor columns {unknown}; columns are {cols}")
        bad = [s for s in sensors if not pd.api.types.is_numeric_dtype(df[s])]
        if bad:
            raise DataError(f"{src}: sensor columns {bad} are not numeric (first values {[df[b].iloc[0] for b in bad]})")
        sens = list(sensors)
    else:
        sens = [c for c in cols if c not in skip and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    if not sens:
        raise DataError(f"{src}: no numeric sensor columns besides {sorted(x for x in skip if x)}; columns are {cols}")
    out = pd.DataFrame(index=df.index)
    out["device_id"] = df[dev_col].astype(str) if dev_col else (device_id or name)
    out["ts"] = to_epoch_ms(df[ts_col], f"{src}: column {ts_col!r}")
    for s in sens:
        out[s] = df[s].astype(np.float64)
    if lab_col:
        lab = pd.to_numeric(df[lab_col], errors="coerce").fillna(0)
        if not lab.isin([0, 1]).all():
            raise DataError(f"{src}: label column {lab_col!r} must hold 0/1, found {sorted(lab.unique())[:5]}")
        out["label"] = lab.astype(np.int64)
        out["fault_kind"] = df["fault_kind"].fillna("").astype(str) if "fault_kind" in cols else np.where(out["label"] == 1, "anomaly", "")
    if "changepoint" in cols:
        out["changepoint"] = pd.to_numeric(df["changepoint"], errors="coerce").fillna(0).astype(np.int64)
    return Dataset(_finish(out, sens, sort), sens, name, source=src, fmt="csv")


# -- Parquet archive -----------------------------------------------------------------------

_PARQUET_MAGIC = b"PAR1"


def _is_parquet(path: Path) -> bool:
    """Parquet by content (Flink's part files have no ``.parquet`` suffix)."""
    with open(path, "rb") as fh:
        return fh.read(4) == _PARQUET_MAGIC


def _expand_values_json(col: pd.Series, src: Path, sensors: list[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """The job's ``values_json`` column (one JSON object per reading, nulls kept) as float64
    sensor columns; sensors = ``sensors`` or every key seen, sorted."""
    import orjson

    try:
        vals = pd.DataFrame.from_records([orjson.loads(v) for v in col])
    except (orjson.JSONDecodeError, TypeError) as e:
        raise DataError(f"{src}: archive values_json is not JSON ({e})") from None
    vals.index = col.index
    sens = list(sensors) if sensors else sorted(vals.columns)
    unknown = [s for s in sens if s not in vals.columns]
    if sensors and unknown:
        raise DataError(f"{src}: unknown sensors {unknown}; the archive has {sorted(vals.columns)}")
    return pd.DataFrame({s: pd.to_numeric(vals[s], errors="coerce").astype(np.float64) for s in sens},
                        index=col.index), sens


def load_parquet(path: str | Path, *, sort: bool = True, sensors: list[str] | None = None,
                 fmt: str = "parquet") -> Dataset:
    """Parquet files, usually partitioned by day (hive folders ``day=``/``date=YYYY-MM-DD/``).

    Columns: ``device_id`` (string), ``ts`` (int64 epoch ms or a timestamp type), and one of:
    ``values_json`` (the anomaly job's archive: a JSON object per reading), a ``values``
    map<string, double>, or one numeric column per sensor. Optional ``label``/``fault_kind``
    are kept; partition columns are dropped. Files whose name starts with ``.`` or ``_``
    (Flink's in-progress ``.part-…`` files, ``_SUCCESS``) are skipped.
    """
    import pyarrow as pa
    import pyarrow.dataset as pads

    p = _resolve(path)
    try:
        ds = pads.dataset(str(p), format="parquet", partitioning="hive")
        table = ds.to_table()
    except (pa.ArrowInvalid, OSError) as e:
        raise DataError(f"{p}: cannot read as a Parquet archive ({e})") from None
    names = table.column_names
    for need in ("device_id", "ts"):
        if need not in names:
            raise DataError(f"{p}: archive lacks column {need!r}; columns are {names}")
    part_cols = {f.name for f in (ds.partitioning.schema if ds.partitioning else pa.schema([]))}
    df = pd.DataFrame({"device_id": table.column("device_id").to_pandas().astype(str)})
    tcol = table.column("ts")
    if pa.types.is_timestamp(tcol.type):
        df["ts"] = tcol.cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    else:
        df["ts"] = to_epoch_ms(tcol.to_pandas(), f"{p}: column 'ts'").to_numpy()
    if "values_json" in names:
        vals, sens = _expand_values_json(table.column("values_json").to_pandas(), p, sensors)
        df = pd.concat([df, vals], axis=1)
    elif "values" in names and pa.types.is_map(table.schema.field("values").type):
        maps = table.column("values").to_pylist()
        vals = pd.DataFrame.from_records([dict(m) if m is not None else {} for m in maps])
        if len(vals) != len(df):
            vals = vals.reindex(range(len(df)))
        sens = sensors or sorted(vals.columns)
        for s in sens:
            df[s] = vals[s].astype(np.float64) if s in vals else np.nan
    else:
        skip = {"device_id", "ts", "label", "fault_kind", "changepoint", "received_at", "values"} | part_cols
        cand = [n for n in names if n not in skip and (pa.types.is_floating(table.schema.field(n).type) or pa.types.is_integer(table.schema.field(n).type))]
        if sensors:
            unknown = [s for s in sensors if s not in names]
            if unknown:
                raise DataError(f"{p}: unknown sensor columns {unknown}; columns are {names}")
            cand = list(sensors)
        if not cand:
            raise DataError(f"{p}: archive has no sensor columns (numeric columns, a 'values' map or 'values_json'); columns are {names}")
        sens = cand
        for s in sens:
            df[s] = table.column(s).to_numpy(zero_copy_only=False).astype(np.float64)
    for extra in ("label", "fault_kind", "changepoint"):
        if extra in names:
            df[extra] = table.column(extra).to_pandas()
    return Dataset(_finish(df, list(sens), sort), list(sens), p.stem if p.is_file() else p.name, source=str(p), fmt=fmt)


def load_archive(path: str | Path, *, sort: bool = True, sensors: list[str] | None = None) -> Dataset:
    """The anomaly job's raw archive (``--archive-path``), as Flink's filesystem sink writes it.

    Layout: ``<path>/day=YYYY-MM-DD/part-<uuid>-<subtask>-<n>`` Parquet files (no suffix) with
    columns ``device_id, ts (epoch ms), values_json`` (the reading's ``values`` object, nulls
    kept); read with pyarrow (:func:`load_parquet`). Hidden and in-progress files (``.part-…``,
    ``_SUCCESS``) are skipped. Archives of earlier job versions — the same three columns as
    header-less CSV — are still read. Sensors = ``sensors`` or every key seen, sorted.
    """
    p = _resolve(path)
    files = sorted(
        f for f in (p.rglob("*") if p.is_dir() else [p])
        if f.is_file() and not f.name.startswith((".", "_")) and f.suffix not in (".crc", ".json")
    )
    if not files:
        raise DataError(f"{p}: no archive files (expected day=YYYY-MM-DD/part-* Parquet files)")
    parquet = [f for f in files if _is_parquet(f)]
    if parquet:
        if len(parquet) != len(files):
            other = [str(f.relative_to(p)) for f in files if f not in set(parquet)][:3]
            raise DataError(f"{p}: archive mixes Parquet and other files ({other}); pass one day folder")
        return load_parquet(p, sort=sort, sensors=sensors, fmt="archive")
    frames = []
    for f in files:  # the CSV archive of earlier job versions
        try:
            df = pd.read_csv(f, header=None, names=["device_id", "ts", "values_json"],
                             dtype={"device_id": str, "values_json": str})
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
            raise DataError(f"{f}: not an archive file (Parquet, or device_id,ts,values_json CSV): {e}") from None
        if df.empty:
            continue
        if not pd.api.types.is_integer_dtype(df["ts"]):
            raise DataError(f"{f}: archive column 2 must be epoch ms, found {df['ts'].iloc[0]!r}")
        frames.append(df)
    if not frames:
        raise DataError(f"{p}: archive files hold no rows")
    df = pd.concat(frames, ignore_index=True)
    vals, sens = _expand_values_json(df["values_json"], p, sensors)
    out = pd.concat([pd.DataFrame({"device_id": df["device_id"], "ts": df["ts"].astype(np.int64)}), vals], axis=1)
    return Dataset(_finish(out, sens, sort), sens, p.name, source=str(p), fmt="archive")
