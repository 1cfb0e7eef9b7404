"""Simulator: determinism, physics sanity, every fault kind present, labelled and shaped right.

The strongest checks compare a run with its fault-free twin (same seed, ``anomaly_rate=0``):
the signal noise does not depend on the fault plan, so the difference between the two runs
is exactly what the faults did.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from training.sim_faults import FAULT_KINDS
from training.simulator import SENSOR_RANGES, SENSORS, SimConfig, Simulation, simulate, to_frame, write_csv

START = 1_795_442_400_000  # 2026-11-23T14:00:00Z
S = list(SENSORS)


def _cfg(**kw) -> SimConfig:
    base = dict(devices=8, rate=1.0, duration_s=4 * 3600, seed=42, start_ms=START, anomaly_rate=0.15)
    base.update(kw)
    return SimConfig(**base)


@pytest.fixture(scope="module")
def pair() -> tuple[pd.DataFrame, pd.DataFrame, Simulation]:
    cfg = _cfg()
    faulty = to_frame(cfg).set_index(["device_id", "ts"]).sort_index()
    clean = to_frame(cfg.model_copy(update={"anomaly_rate": 0.0})).set_index(["device_id", "ts"]).sort_index()
    return faulty, clean, Simulation(cfg)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_byte_identical_csv_and_other_seed_differs(tmp_path) -> None:
    cfg = _cfg(devices=5, duration_s=1800)
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    write_csv(cfg, a)
    write_csv(cfg, b)
    write_csv(cfg.model_copy(update={"seed": 43}), c)
    assert a.stat().st_size > 100_000
    assert _sha(a) == _sha(b)
    assert _sha(a) != _sha(c)


def test_cli_is_deterministic_and_prints_a_summary(tmp_path) -> None:
    from deploy.cli import app

    runner = CliRunner()
    outs = []
    for name in ("x.csv", "y.csv"):
        res = runner.invoke(app, ["simulate", "--devices", "4", "--duration", "20m", "--seed", "9",
                                  "--start", "2026-11-24T10:00:00Z", "--out", str(tmp_path / name), "-q"])
        assert res.exit_code == 0, res.output
        outs.append(tmp_path / name)
        assert '"readings": ' in res.stdout
    assert _sha(outs[0]) == _sha(outs[1])
    head = outs[0].read_text().splitlines()[:2]
    assert head[0] == "device_id,ts," + ",".join(S) + ",label,fault_kind"
    assert head[1].split(",")[1].endswith("Z") and head[1].split(",")[1][19] == "."


def test_cli_rejects_bad_options(tmp_path) -> None:
    from deploy.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["simulate", "--devices", "2", "--duration", "1m"])
    assert res.exit_code != 0 and "--out" in res.output
    res = runner.invoke(app, ["simulate", "--duration", "ten minutes", "--out", str(tmp_path / "a.csv")])
    assert res.exit_code != 0 and "duration" in res.output
    res = runner.invoke(app, ["simulate", "--kinds", "spike,meteor", "--out", str(tmp_path / "a.csv")])
    assert res.exit_code != 0 and "meteor" in res.output


def test_config_validation_messages() -> None:
    with pytest.raises(ValueError, match="unknown fault kinds"):
        SimConfig(kinds=("spike", "gremlin"))
    with pytest.raises(ValueError, match="shorter than one sampling interval"):
        Simulation(SimConfig(rate=0.01, duration_s=10, start_ms=0))


def test_volume_ids_ranges_and_event_time(pair) -> None:
    faulty, clean, sim = pair
    cfg = sim.config
    n_expected = cfg.devices * cfg.duration_s * cfg.rate
    assert len(clean) == pytest.approx(n_expected, rel=0.001)
    assert len(faulty) < len(clean)  # silences remove readings
    assert sorted(faulty.index.get_level_values(0).unique()) == [f"pump-{i:02d}" for i in range(1, 9)]
    ts = faulty.index.get_level_values(1)
    assert ts.min() >= START and ts.max() < START + cfg.duration_s * 1000
    for s, (lo, hi) in SENSOR_RANGES.items():
        col = faulty[s].dropna()
        assert col.between(lo, hi).all(), s


def test_physics_correlations_in_the_fault_free_run(pair) -> None:
    _, clean, _ = pair
    dev = clean.xs("pump-01")
    c = dev[S].corr()
    # affinity laws: flow ∝ rpm, pressure ∝ rpm², current ∝ rpm³ → strongly positive
    assert c.loc["rpm", "flow"] > 0.95
    assert c.loc["rpm", "pressure"] > 0.9
    assert c.loc["rpm", "current"] > 0.9
    assert c.loc["rpm", "vibration_rms"] > 0.6
    # thermal lag: temperature follows current slowly, so correlated but not tightly
    assert 0.2 < c.loc["current", "temperature"] < 0.98
    # load regimes: the speed takes clearly separated levels (idle / normal / peak)
    frac = dev["rpm"] / dev["rpm"].quantile(0.99)
    assert (frac < 0.45).mean() > 0.02 and (frac > 0.65).mean() > 0.2


def test_daily_cycle_in_ambient_driven_temperature() -> None:
    cfg = SimConfig(devices=3, rate=1 / 60, duration_s=3 * 86400, seed=1, start_ms=START, anomaly_rate=0)
    f = to_frame(cfg)
    hour = (f["ts"] // 3_600_000) % 24
    prof = f.groupby(hour)["voltage"].mean()
    assert prof.max() - prof.min() > 4  # grid voltage daily swing (±4 V) beats the noise


def test_every_kind_is_present_and_labelled(pair) -> None:
    faulty, _, sim = pair
    kinds_planned = {f.kind for f in sim.faults}
    assert kinds_planned == set(FAULT_KINDS)
    labelled = faulty[faulty["label"] == 1]
    assert set(labelled["fault_kind"]) == set(FAULT_KINDS)
    assert (faulty.loc[faulty["label"] == 0, "fault_kind"] == "").all()
    rate = faulty["label"].mean()
    assert 0.03 < rate < 0.4, rate


def test_unlabelled_readings_are_untouched_by_faults(pair) -> None:
    faulty, clean, _ = pair
    c = clean.loc[faulty.index]
    diff = ~np.isclose(faulty[S].to_numpy(), c[S].to_numpy(), equal_nan=True)
    unl = faulty["label"].to_numpy() == 0
    assert not diff[unl].any()
    # …and the labelled ones (silence aside: its label sits on a normal-looking reading) do differ
    lab = (faulty["label"] == 1).to_numpy() & (faulty["fault_kind"] != "silence").to_numpy()
    assert diff[lab].any(axis=1).mean() > 0.95


def _rows(frame: pd.DataFrame, f) -> pd.DataFrame:
    d = frame.xs(f.device_id)
    return d[(d.index >= f.start_ms) & (d.index < f.end_ms)]


def test_each_fault_has_its_shape(pair) -> None:
    faulty, clean, sim = pair
    checked = {k: 0 for k in FAULT_KINDS}
    for f in sim.faults:
        got, ref = _rows(faulty, f), _rows(clean, f)
        if f.kind == "silence":
            assert got.empty and len(ref) > 0, "no readings inside a silence"
            after = faulty.xs(f.device_id)
            after = after[after.index >= f.end_ms]
            if len(after):
                assert after["label"].iloc[0] == 1 and after["fault_kind"].iloc[0] == "silence"
            checked["silence"] += 1
            continue
        assert len(got) and (got["label"] == 1).all() and (got["fault_kind"] == f.kind).all()
        ref = ref.loc[got.index]
        if f.kind == "bearing_failure":
            d = got[list(f.sensors)] - ref[list(f.sensors)]
            late = d.iloc[len(d) // 2:]
            assert (late.mean() > 0).all(), "vibration, bearing temp, current and temperature all rise together"
            assert late["bearing_temp"].mean() > d.iloc[: len(d) // 4]["bearing_temp"].mean()
        else:
            s = f.sensors[0]
            d = (got[s] - ref[s]).dropna()
            lo, hi = SENSOR_RANGES[s]
            clipped = (got[s] <= lo) | (got[s] >= hi)
            level = sim.nominal[f.device, S.index(s)]
            if f.kind in ("spike", "level_shift"):
                ok = ~clipped.loc[d.index]
                assert np.allclose(d[ok], f.magnitude * level, atol=0.02 * abs(level) + 0.01)
            elif f.kind == "drift":
                if len(d) >= 10:
                    assert abs(d.iloc[-len(d) // 5:].mean()) > abs(d.iloc[: len(d) // 5].mean())
                    assert np.sign(d.iloc[-1]) == np.sign(f.magnitude)
            elif f.kind == "stuck":
                vals = got[s].dropna()
                assert vals.nunique() == 1 and ref[s].nunique() > 1
            # other sensors of a single-sensor fault are untouched
            others = [x for x in S if x != s]
            assert np.allclose(got[others].to_numpy(), ref[others].to_numpy(), equal_nan=True)
        checked[f.kind] += 1
    assert all(v > 0 for v in checked.values()), checked


def test_dropouts_late_delivery_and_order_options() -> None:
    cfg = _cfg(devices=6, duration_s=1800, dropout_rate=0.01, late_fraction=0.05)
    f = to_frame(cfg)  # delivery order
    assert f[S].isna().mean().mean() == pytest.approx(0.01, rel=0.3)
    back = (f.groupby("device_id")["ts"].diff() < 0).sum()
    assert back > 0.01 * len(f), "late readings arrive after newer ones of the same device"
    ev = to_frame(cfg.model_copy(update={"order": "event"}))
    assert (ev.groupby("device_id")["ts"].diff().dropna() > 0).all()
    assert ev["ts"].is_monotonic_increasing
    pd.testing.assert_frame_equal(
        f.sort_values(["device_id", "ts"]).reset_index(drop=True),
        ev.sort_values(["device_id", "ts"]).reset_index(drop=True),
    )
    payloads = [p for p, _, _ in simulate(cfg)]
    nulls = sum(1 for p in payloads for v in p["values"].values() if v is None)
    missing = sum(1 for p in payloads if len(p["values"]) < 8)
    assert nulls > 0 and missing > 0


def test_max_readings_is_exact_and_a_prefix() -> None:
    cfg = _cfg(devices=4, duration_s=900)
    full = to_frame(cfg)
    part = to_frame(cfg.model_copy(update={"max_readings": 1234}))
    assert len(part) == 1234
    pd.testing.assert_frame_equal(part, full.head(1234))


def test_rate_above_one_per_second_and_chunk_borders() -> None:
    # 3 devices × 50/s × 30 min = 270k readings: several generation chunks
    cfg = SimConfig(devices=3, rate=50, duration_s=1800, seed=5, start_ms=START, anomaly_rate=0.1, late_fraction=0.0,
                    network_jitter_ms=0)  # jitter ≥ interval would reorder too
    f = to_frame(cfg)
    assert len(f) > 250_000
    d = f[f["device_id"] == "pump-01"]["ts"].diff().dropna()
    assert d.median() == 20 and (d > 0).all()
    # stuck values stay frozen across chunk borders
    for flt in Simulation(cfg).faults:
        if flt.kind == "stuck":
            g = f[(f["device_id"] == flt.device_id) & (f["ts"] >= flt.start_ms) & (f["ts"] < flt.end_ms)]
            assert g[flt.sensors[0]].dropna().nunique() == 1


def test_simulate_payload_matches_design() -> None:
    import re

    cfg = _cfg(devices=2, duration_s=120)
    items = list(simulate(cfg))
    p, label, kind = items[0]
    assert set(p) == {"device_id", "ts", "values"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", p["ts"])
    assert set(p["values"]) <= set(S)
    assert label in (0, 1) and isinstance(kind, str)
    q, _, _ = next(iter(simulate(cfg, ts_format="epoch_ms")))
    assert isinstance(q["ts"], int) and abs(q["ts"] - START) < 2000


def test_cli_writes_the_fault_plan_and_event_order(tmp_path) -> None:
    import json

    from deploy.cli import app

    res = CliRunner().invoke(app, ["simulate", "--devices", "3", "--duration", "2h", "--seed", "2", "--start", str(START),
                                   "--anomaly-rate", "0.2", "--order", "event", "--out", str(tmp_path / "e.csv"),
                                   "--faults-out", str(tmp_path / "f.json"), "-q"])
    assert res.exit_code == 0, res.output
    plan = json.loads((tmp_path / "f.json").read_text())
    assert plan and set(plan[0]) == {"device_id", "device", "kind", "start_ms", "end_ms", "sensors", "magnitude"}
    assert [f["start_ms"] for f in plan] == sorted(f["start_ms"] for f in plan)
    df = pd.read_csv(tmp_path / "e.csv")
    assert df["ts"].is_monotonic_increasing
    assert json.loads(res.stdout)["faults"] == len(plan)


def test_fault_free_lead_keeps_faults_out_and_rate_after_it(tmp_path) -> None:
    """``fault_free_s``: the same devices' clean history to train on, then faults at the rate
    asked for over the rest; the lead is the fault-free twin's readings exactly."""
    lead_s, run_s = 2 * 3600, 4 * 3600
    cfg = _cfg(devices=16, duration_s=run_s, anomaly_rate=0.1, fault_free_s=lead_s)
    sim = Simulation(cfg)
    cut = START + lead_s * 1000
    assert sim.faults and min(f.start_ms for f in sim.faults) >= cut
    faulty = sum(f.end_ms - f.start_ms for f in sim.faults) / (cfg.devices * (run_s - lead_s) * 1000)
    assert 0.05 < faulty < 0.2  # ~anomaly_rate of the time after the lead, not of the whole run
    df = to_frame(cfg)
    lead = df[df.ts < cut].set_index(["device_id", "ts"]).sort_index()
    twin = to_frame(cfg.model_copy(update={"anomaly_rate": 0.0}))
    twin = twin[twin.ts < cut].set_index(["device_id", "ts"]).sort_index()
    assert lead.label.sum() == 0
    pd.testing.assert_frame_equal(lead[S], twin[S])
    with pytest.raises(ValueError, match="must be shorter than duration_s"):
        _cfg(duration_s=600, fault_free_s=600)
    from deploy.cli import app

    r = CliRunner().invoke(app, ["simulate", "-n", "2", "--duration", "1h", "--fault-free", "2h",
                                    "--out", str(tmp_path / "x.csv"), "--quiet"])
    assert r.exit_code == 2 and "fault_free_s 7200.0 must be shorter than duration_s 3600.0" in \
        " ".join(r.output.replace("│", " ").split())
