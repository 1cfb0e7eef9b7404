"""Cleaning, resampling, time-ordered splits and the train-only scaler, on real and simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.cleaning import clean, drop_duplicate_timestamps, find_gaps, handle_outliers, resample
from training.data import Dataset, load_dataset, require_dataset
from training.simulator import SENSORS, SimConfig, Simulation, to_frame
from training.splits import Scaler, fit_scaler_on_train, split_at, time_split

START = 1_795_442_400_000
S = list(SENSORS)


@pytest.fixture(scope="module")
def sim() -> tuple[Dataset, Simulation]:
    cfg = SimConfig(devices=4, duration_s=3 * 3600, seed=8, start_ms=START, anomaly_rate=0.1,
                    kinds=("silence", "spike", "level_shift"))
    return Dataset(to_frame(cfg), S, "sim", fmt="sim"), Simulation(cfg)


def test_duplicates_are_merged_not_dropped(sim) -> None:
    ds, _ = sim
    f = ds.frame.sort_values(["device_id", "ts"]).reset_index(drop=True)
    dup = f.iloc[[10, 20]].copy()
    dup["temperature"] += 2.0
    dup["label"] = 1
    g, n = drop_duplicate_timestamps(pd.concat([f, dup], ignore_index=True), S)
    assert n == 2 and len(g) == len(f)
    row = g[(g["device_id"] == f.at[10, "device_id"]) & (g["ts"] == f.at[10, "ts"])].iloc[0]
    assert row["temperature"] == pytest.approx(f.at[10, "temperature"] + 1.0)
    assert row["label"] == 1


def test_gaps_find_the_simulated_silences(sim) -> None:
    ds, s = sim
    f = ds.frame.sort_values(["device_id", "ts"]).reset_index(drop=True)
    gaps = find_gaps(f, max_gap_ms=30_000)
    silences = [x for x in s.faults if x.kind == "silence"]
    assert silences and len(gaps) == len(silences)
    for x in silences:
        g = gaps[gaps["device_id"] == x.device_id]
        assert ((g["start_ms"] < x.start_ms) & (g["end_ms"] >= x.end_ms)).any()


def test_resample_aggregates_and_fills(sim) -> None:
    ds, _ = sim
    f = ds.frame.sort_values(["device_id", "ts"]).reset_index(drop=True)
    r = resample(f, S, interval_ms=60_000)
    assert (r["ts"] % 60_000 == 0).all()
    one = r[r["device_id"] == "pump-01"]
    assert len(one) <= 180 + 1
    # label of a bucket = max of its readings
    lab = f[f["label"] == 1]
    want = set(zip(lab["device_id"], (lab["ts"] // 60_000 * 60_000).astype(int)))
    got = r[r["label"] == 1]
    assert want and set(zip(got["device_id"], got["ts"].astype(int))) == want
    b = f[(f["device_id"] == "pump-01") & (f["ts"] // 60_000 == one["ts"].iloc[5] // 60_000)]
    assert one["rpm"].iloc[5] == pytest.approx(b["rpm"].mean())
    filled = resample(f, S, interval_ms=60_000, fill="ffill", max_fill=2)
    per_dev = filled.groupby("device_id")["ts"].diff().dropna()
    assert (per_dev == 60_000).all()  # a regular grid
    assert len(filled) >= len(r)
    with pytest.raises(ValueError, match="interval_ms must be positive"):
        resample(f, S, 0)


def test_outliers_counted_by_default_and_removed_on_request(sim) -> None:
    ds, _ = sim
    f = ds.frame.copy()
    f.loc[5, "voltage"] = 900.0
    same, counts = handle_outliers(f, S)
    assert counts["voltage"] >= 1 and same is f
    gone, _ = handle_outliers(f, S, mode="nan")
    assert np.isnan(gone.loc[5, "voltage"])
    clipped, _ = handle_outliers(f, S, mode="clip")
    assert clipped.loc[5, "voltage"] < 900.0


def test_clean_on_real_skab_reports_what_it_did() -> None:
    ds = load_dataset(require_dataset("skab/valve1/1.csv"))
    out, rep = clean(ds, max_gap_ms=5_000, resample_ms=5_000)
    assert rep.rows_in == len(ds.frame) and rep.rows_out == len(out.frame) < len(ds.frame)
    assert set(rep.to_dict()) >= {"duplicates", "outliers", "gaps", "rows_in", "rows_out"}
    assert out.frame["label"].sum() > 0


def test_time_split_per_device_has_no_look_ahead(sim) -> None:
    ds, _ = sim
    sp = time_split(ds.frame, train=0.6, val=0.2)
    assert sum(sp.sizes().values()) == len(ds.frame)
    for d in ds.devices:
        tr, va, te = (x[x["device_id"] == d]["ts"] for x in (sp.train, sp.val, sp.test))
        assert tr.max() < va.min() and va.max() < te.min()
        n = len(tr) + len(va) + len(te)
        assert len(tr) == int(n * 0.6)
    with pytest.raises(ValueError, match="bad split fractions"):
        time_split(ds.frame, train=0.8, val=0.3)
    at = split_at(ds.frame, START + 3600_000, START + 7200_000)
    assert at.train["ts"].max() < START + 3600_000 <= at.val["ts"].min()


def test_scaler_is_fitted_on_train_only(sim) -> None:
    ds, _ = sim
    sp = time_split(ds.frame, train=0.5, val=0.25)
    sc, scaled = fit_scaler_on_train(sp, S, kind="robust")
    med = np.nanmedian(sp.train[S].to_numpy(), axis=0)
    assert np.allclose(sc.center, med)
    assert np.allclose(np.nanmedian(scaled.train[S].to_numpy(), axis=0), 0, atol=1e-9)
    back = sc.inverse_transform(scaled.test)
    assert np.allclose(back[S].to_numpy(), sp.test[S].to_numpy(), equal_nan=True)
    again = Scaler.from_dict(sc.to_dict())
    pd.testing.assert_frame_equal(again.transform(sp.val), scaled.val)
    with pytest.raises(RuntimeError, match="before fit"):
        Scaler().transform(sp.val)
    with pytest.raises(KeyError, match="nope"):
        Scaler().fit(sp.train, ["nope"])
    const = sp.train.assign(temperature=1.0)
    assert Scaler().fit(const, ["temperature"]).scale[0] == 1.0
