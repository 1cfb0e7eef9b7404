"""Loaders on the real shared datasets (NAB, SKAB), the simulator CSV, generic CSV and Parquet."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from training.data import (
    SIM_SENSORS,
    SKAB_SENSORS,
    DataError,
    datasets_root,
    detect_format,
    load_dataset,
    require_dataset,
)
from training.simulator import SimConfig, to_frame, write_csv

START = 1_795_442_400_000


def _contract(ds) -> None:
    f = ds.frame
    assert list(f.columns[:2]) == ["device_id", "ts"]
    assert f["ts"].dtype == np.int64
    assert f["device_id"].map(type).eq(str).all()
    for s in ds.sensors:
        assert f[s].dtype == np.float64, s
    if "label" in f:
        assert set(f["label"].unique()) <= {0, 1}
        assert f["fault_kind"].map(type).eq(str).all()
        assert (f.loc[f["label"] == 0, "fault_kind"] == "").all()
    assert (f.groupby("device_id")["ts"].diff().dropna() >= 0).all()


def test_nab_file_labels_follow_combined_windows() -> None:
    path = require_dataset("nab/realKnownCause/nyc_taxi.csv")
    windows = json.loads(require_dataset("nab/labels/combined_windows.json").read_text())
    ds = load_dataset(path)
    _contract(ds)
    raw = pd.read_csv(path)
    assert len(ds.frame) == len(raw) and ds.sensors == ["value"] and ds.fmt == "nab"
    assert ds.devices == ["nyc_taxi"]
    wins = windows["realKnownCause/nyc_taxi.csv"]
    assert len(ds.label_windows["nyc_taxi"]) == len(wins) == 5
    t = pd.to_datetime(raw["timestamp"])
    expected = np.zeros(len(raw), bool)
    for a, b in wins:
        expected |= (t >= pd.Timestamp(a)).to_numpy() & (t <= pd.Timestamp(b)).to_numpy()
    assert (ds.frame["label"].to_numpy() == expected).all()
    assert ds.frame["value"].tolist()[:2] == [10844.0, 8127.0]
    assert ds.frame["ts"].iloc[0] == pd.Timestamp("2014-07-01", tz="UTC").value // 10**6


def test_nab_folder_and_relative_path() -> None:
    require_dataset("nab/artificialWithAnomaly")
    ds = load_dataset("nab/artificialWithAnomaly")  # relative to VIGIL_DATASETS
    _contract(ds)
    assert len(ds.devices) == 6 and "art_daily_jumpsup" in ds.devices
    assert all(len(w) >= 1 for w in ds.label_windows.values())
    assert 0.05 < ds.frame["label"].mean() < 0.2


def test_skab_file() -> None:
    path = require_dataset("skab/valve1/3.csv")
    ds = load_dataset(path)
    _contract(ds)
    raw = pd.read_csv(path, sep=";")
    assert ds.fmt == "skab" and ds.devices == ["valve1/3"] and ds.sensors == list(SKAB_SENSORS)
    assert len(ds.frame) == len(raw)
    assert ds.frame["label"].sum() == raw["anomaly"].sum() > 0
    assert ds.frame["changepoint"].sum() == raw["changepoint"].sum() > 0
    assert np.allclose(ds.frame["Current"].to_numpy(), raw["Current"].to_numpy())


def test_skab_folder_includes_anomaly_free_as_label_zero() -> None:
    require_dataset("skab/anomaly-free/anomaly-free.csv")
    ds = load_dataset(datasets_root() / "skab")
    _contract(ds)
    assert "anomaly-free/anomaly-free" in ds.devices and "valve1/0" in ds.devices and len(ds.devices) == 17
    assert ds.device_frame("anomaly-free/anomaly-free")["label"].sum() == 0
    with pytest.raises(KeyError, match="valve9/9"):
        ds.device_frame("valve9/9")


def test_simulator_csv_round_trip(tmp_path) -> None:
    cfg = SimConfig(devices=4, duration_s=1800, seed=2, start_ms=START, anomaly_rate=0.2)
    write_csv(cfg, tmp_path / "sim.csv")
    assert detect_format(tmp_path / "sim.csv") == "sim"
    ds = load_dataset(tmp_path / "sim.csv")
    _contract(ds)
    assert ds.sensors == list(SIM_SENSORS) and ds.fmt == "sim"
    ref = to_frame(cfg).sort_values(["device_id", "ts"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(ds.frame, ref)
    unsorted = load_dataset(tmp_path / "sim.csv", sort=False)
    pd.testing.assert_frame_equal(unsorted.frame, to_frame(cfg))  # delivery order kept


def test_generic_csv_autodetects_and_explains_errors(tmp_path) -> None:
    p = tmp_path / "plant.csv"
    p.write_text(
        "Time;machine;temp;speed;status;anomaly\n"
        "1700000001;m1;20.5;100;ok;0\n"
        "1700000000;m1;20.0;;ok;0\n"
        "1700000000;m2;30.0;200;ok;1\n"
    )
    ds = load_dataset(p)
    _contract(ds)
    assert ds.fmt == "csv" and ds.sensors == ["temp", "speed"]
    assert ds.devices == ["m1", "m2"]
    assert ds.frame["ts"].tolist() == [1_700_000_000_000, 1_700_000_001_000, 1_700_000_000_000]
    assert ds.frame["label"].tolist() == [0, 0, 1]
    assert np.isnan(ds.frame["speed"].iloc[0])

    with pytest.raises(DataError, match=r"unknown sensor columns \['pressure'\].*columns are"):
        load_dataset(p, sensors=["pressure"])
    with pytest.raises(DataError, match=r"not numeric"):
        load_dataset(p, sensors=["status"])
    with pytest.raises(DataError, match="timestamp column 'when' not found"):
        load_dataset(p, timestamp_col="when")
    q = tmp_path / "nots.csv"
    q.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no timestamp column"):
        load_dataset(q)
    r = tmp_path / "bad_ts.csv"
    r.write_text("timestamp,x\nyesterday,1\nlater,2\n")
    with pytest.raises(DataError, match="cannot parse timestamps"):
        load_dataset(r)
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="unknown format 'xml'"):
        load_dataset(p, fmt="xml")


def test_wrong_format_is_a_clear_error(tmp_path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("timestamp,foo\n2024-01-01,1\n")
    with pytest.raises(DataError, match=r"NAB files have columns \['timestamp', 'value'\]"):
        load_dataset(p, fmt="nab")
    with pytest.raises(DataError, match="not a SKAB file"):
        load_dataset(p, fmt="skab")
    b = tmp_path / "bin.csv"
    b.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not a UTF-8"):
        load_dataset(b)


@pytest.mark.parametrize("layout", ["wide", "map"])
def test_parquet_archive_partitioned_by_day(tmp_path, layout) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = to_frame(SimConfig(devices=3, duration_s=3 * 3600, rate=0.1, seed=1, start_ms=START + 8 * 3600_000,
                               anomaly_rate=0))
    frame["date"] = pd.to_datetime(frame["ts"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
    assert frame["date"].nunique() == 2  # crosses midnight
    for day, g in frame.groupby("date"):
        d = tmp_path / "archive" / f"date={day}"
        d.mkdir(parents=True)
        if layout == "wide":
            t = pa.table({"device_id": g["device_id"], "ts": pa.array(g["ts"], pa.timestamp("ms", tz="UTC"))}
                         | {s: g[s] for s in SIM_SENSORS})
        else:
            maps = [[(s, None if np.isnan(v) else float(v)) for s, v in zip(SIM_SENSORS, row)]
                    for row in g[list(SIM_SENSORS)].to_numpy()]
            t = pa.table({"device_id": g["device_id"], "ts": g["ts"],
                          "values": pa.array(maps, pa.map_(pa.string(), pa.float64()))})
        pq.write_table(t, d / "part-0.parquet")
    ds = load_dataset(tmp_path / "archive")
    _contract(ds)
    assert ds.fmt == "parquet" and sorted(ds.sensors) == sorted(SIM_SENSORS)
    ref = frame.drop(columns=["date", "label", "fault_kind"]).sort_values(["device_id", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ds.frame[ref.columns], ref)

    (tmp_path / "empty").mkdir()
    pq.write_table(pa.table({"device_id": ["a"], "ts": [1]}), tmp_path / "empty" / "p.parquet")
    with pytest.raises(DataError, match="no sensor columns"):
        load_dataset(tmp_path / "empty")


def test_datasets_root_and_require_dataset(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VIGIL_DATASETS", str(tmp_path))
    assert datasets_root() == tmp_path
    monkeypatch.setenv("CI", "true")
    with pytest.raises(FileNotFoundError, match="VIGIL_DATASETS"):
        require_dataset("nab/nothing.csv")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="VIGIL_DATASETS"):
        require_dataset("nab/nothing.csv")
    (tmp_path / "nab").mkdir()
    assert require_dataset("nab") == tmp_path / "nab"


def _archive_readings() -> tuple[SimConfig, list[dict]]:
    """Simulated readings (with dropouts) as the job archives them, epoch-ms times."""
    import orjson

    from training.sim_kafka import iter_messages

    cfg = SimConfig(devices=3, duration_s=600, rate=0.5, seed=4, start_ms=START, dropout_rate=0.05)
    return cfg, [orjson.loads(m.value) for m in iter_messages(cfg, ts_format="epoch_ms")]


def _load_archive(root, cfg: SimConfig, readings: list[dict]):  # noqa: ANN001, ANN202
    """Load ``root`` as an archive, check the loader contract; returns (dataset, reference frame)."""
    assert detect_format(root) == "archive"
    ds = load_dataset(root)
    _contract(ds)
    assert ds.fmt == "archive" and ds.sensors == sorted(SIM_SENSORS)
    assert len(ds.frame) == len(readings)
    return ds, to_frame(cfg).sort_values(["device_id", "ts"]).reset_index(drop=True)


def test_jobs_parquet_archive_partitioned_by_day(tmp_path) -> None:
    """The anomaly job's archive as Flink's filesystem sink lays it out: day=… folders of
    suffix-less Parquet part files (device_id, ts, values_json), hidden in-progress files."""
    import orjson
    import pyarrow as pa
    import pyarrow.parquet as pq

    cfg, readings = _archive_readings()
    root = tmp_path / "archive"
    for i, day in enumerate(["2026-11-23", "2026-11-24"]):
        d = root / f"day={day}"
        d.mkdir(parents=True)
        part = readings[i::2]
        for j in range(2):  # one file per checkpoint
            rows = part[j::2]
            pq.write_table(pa.table({"device_id": [r["device_id"] for r in rows], "ts": [r["ts"] for r in rows],
                                     "values_json": [orjson.dumps(r["values"]).decode() for r in rows]}),
                           d / f"part-6f1c-0-{j}", compression="snappy")
        (d / f".part-6f1c-0-2.inprogress.{i}").write_bytes(b"PAR1 not finished")
    ds, ref = _load_archive(root, cfg, readings)
    pd.testing.assert_frame_equal(ds.frame[["device_id", "ts", *SIM_SENSORS]], ref[["device_id", "ts", *SIM_SENSORS]])
    one_day = load_dataset(root / "day=2026-11-24", fmt="archive", sensors=["rpm", "flow"])
    assert one_day.sensors == ["rpm", "flow"] and len(one_day) == len(readings[1::2])
    with pytest.raises(DataError, match="unknown sensors"):
        load_dataset(root, fmt="archive", sensors=["nope"])
    (root / "day=2026-11-24" / "part-legacy-0").write_text("pump-01,1,{}\n")
    with pytest.raises(DataError, match="mixes Parquet and other files"):
        load_dataset(root)


def test_jobs_csv_archive_partitioned_by_day(tmp_path) -> None:
    """The CSV archive of earlier job versions: CSV without header, day=… folders (still read)."""
    import csv

    import orjson

    cfg, readings = _archive_readings()
    root = tmp_path / "archive"
    for i, day in enumerate(["2026-11-23", "2026-11-24"]):
        d = root / f"day={day}"
        d.mkdir(parents=True)
        part = readings[i::2]
        with open(d / f"part-abc-{i}-0", "w", newline="") as fh:
            w = csv.writer(fh)
            for r in part:
                w.writerow([r["device_id"], r["ts"], orjson.dumps(r["values"]).decode()])
        (d / f".part-abc-{i}-1.inprogress").write_text("garbage,not,read\n")
    ds, ref = _load_archive(root, cfg, readings)
    pd.testing.assert_frame_equal(ds.frame[["device_id", "ts", *SIM_SENSORS]], ref[["device_id", "ts", *SIM_SENSORS]])
    bad = tmp_path / "bad" / "day=2026-11-23"
    bad.mkdir(parents=True)
    (bad / "part-0").write_text("pump-01,yesterday,{}\n")
    with pytest.raises(DataError, match="epoch ms"):
        load_dataset(tmp_path / "bad")


def test_folder_of_simulator_csvs(tmp_path) -> None:
    for seed in (1, 2):
        write_csv(SimConfig(devices=2, duration_s=300, seed=seed, start_ms=START, device_prefix=f"line{seed}"),
                  tmp_path / f"run{seed}.csv")
    ds = load_dataset(tmp_path)
    _contract(ds)
    assert ds.fmt == "sim" and ds.devices == ["line1-01", "line1-02", "line2-01", "line2-02"]
