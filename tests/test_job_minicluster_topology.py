"""The anomaly job's topology on a local PyFlink MiniCluster (in-memory source, collected outputs).

Exactly ``jobs.anomaly_job.build_core`` — parse/validate with DLQ, watermarks, keyed device
state, the pandas scoring UDF (real onnxruntime, real Isolation Forest bundle), alert
policy — fed with seeded readings, fuzzed bad messages and one late reading.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest

from job_fixtures import T0, fuzzed_bad, job_config, make_bundle, readings, run_core, window_count

pytestmark = pytest.mark.timeout(600)

N_STEPS, WINDOW, SLIDE = 120, 20, 5


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    bundle = make_bundle(root, window=WINDOW, slide=SLIDE)
    cfg = job_config(bundle, emit_scores=True)
    good = readings(3, N_STEPS, anomaly={"dev-001": (60, 85)})
    bad = fuzzed_bad(48)
    rows: list[bytes] = []
    bi = iter(bad)
    for i, g in enumerate(good):
        rows.append(json.dumps(g).encode())
        if i % 7 == 3:
            nxt = next(bi, None)
            if nxt:
                rows.append(nxt[0])
        if i == 3 * 100:  # dev-000 is at step 100: a reading from step 10 is far too late
            rows.append(json.dumps({"device_id": "dev-000", "ts": T0 + 10_000, "values": {"s0": 0.0}}).encode())
    rows.extend(b for b, _ in bi)
    out = run_core(cfg, str(bundle), rows)
    return {"out": out, "bad": bad, "good": good}


def test_every_bad_message_in_dlq_with_reason(result):
    dlq = [o for o in result["out"] if "reason" in o]
    got = Counter(o["reason"] for o in dlq)
    want = Counter(r for _, r in result["bad"])
    want["late"] += 1
    assert got == want
    late = [o for o in dlq if o["reason"] == "late"][0]
    assert late["topic"] == "sensor-readings" and late["partition"] == 0 and isinstance(late["offset"], int)
    assert all(isinstance(o["offset"], int) for o in dlq)


def test_every_good_reading_reaches_a_window(result):
    scores = [o for o in result["out"] if "window_end_ms" in o]
    per_dev = Counter(o["device_id"] for o in scores)
    assert per_dev == {f"dev-{d:03d}": window_count(N_STEPS, WINDOW, SLIDE) for d in range(3)}
    ends = [o["window_end_ms"] for o in scores if o["device_id"] == "dev-000"]
    assert ends == sorted(ends)  # per-device order survives the Table API scoring hop


def test_fault_raises_one_anomaly_that_opens_and_closes(result):
    alerts = [o for o in result["out"] if o.get("kind") == "anomaly"]
    devs = {a["device_id"] for a in alerts}
    assert devs == {"dev-001"}, alerts
    opened = [a for a in alerts if a["status"] == "open"]
    assert len(opened) == 1
    a = opened[0]
    end = a["window_end"]
    assert a["score"] >= a["threshold"] and a["top_features"] and a["model"]["name"] == "iforest"
    # opening window lies inside the fault (+ a window of run-in)
    from udfs.schema import parse_ts
    step = (parse_ts(end) - T0) // 1000
    assert 60 <= step <= 85 + WINDOW, step
    assert any(x["status"] == "closed" and x["alert_id"] == a["alert_id"] for x in alerts)


def test_end_of_input_marks_devices_silent(result):
    silent = {o["device_id"] for o in result["out"] if o.get("kind") == "stream_silent" and o.get("sensor") is None}
    assert silent == {"dev-000", "dev-001", "dev-002"}


def test_drift_reports_flow(result):
    drift = [o for o in result["out"] if "psi" in o]
    assert drift and {"feature", "psi", "ks", "n", "drifted", "model"} <= set(drift[0])


def test_bundle_with_unsupported_spec_is_refused(tmp_path):
    from jobs import anomaly_job as job

    bundle = make_bundle(tmp_path, window=WINDOW, slide=SLIDE)
    man = json.loads((bundle / "manifest.json").read_text())
    man["feature_spec"]["per_sensor"].append("wavelet_entropy")
    (bundle / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(SystemExit, match="wavelet_entropy"):
        job.preflight(job_config(bundle))


def test_archive_writes_validated_readings_per_day(tmp_path):
    from pyflink.common import Row, Types

    from jobs import anomaly_job as job

    bundle = make_bundle(tmp_path / "b", window=WINDOW, slide=SLIDE)
    arch = tmp_path / "archive"
    cfg = job_config(bundle, archive_path=str(arch))
    good = readings(2, 30, step_ms=3_600_000)  # 30 hours: spans two UTC days
    s0, s1 = sorted(good[0]["values"])[:2]
    good[3]["values"][s0] = None  # a null value and an absent sensor survive as NaN
    del good[4]["values"][s1]
    rows = [json.dumps(g).encode() for g in good] + [b"{bad"]
    env, t_env = job.make_env(cfg, job.parse_args(["--bundle-ms", "50"]))
    src_type = Types.ROW_NAMED(["raw", "topic", "partition", "offset"],
                               [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.STRING(), Types.INT(), Types.LONG()])
    src = env.from_collection([Row(r, "sensor-readings", 0, i) for i, r in enumerate(rows)], type_info=src_type)
    out = job.build_core(env, t_env, src, cfg, str(bundle))
    stmts = t_env.create_statement_set()
    job.attach_archive(t_env, out, cfg, stmts)
    stmts.execute().wait()
    days = sorted(p.name for p in arch.iterdir() if p.is_dir())
    assert days == ["day=2026-11-23", "day=2026-11-24"], days
    parts = [p for p in arch.rglob("part-*") if p.is_file()]
    assert parts and all(p.read_bytes()[:4] == b"PAR1" for p in parts), parts  # Parquet, committed
    assert not [p for p in arch.rglob(".*") if p.is_file()]  # nothing left in progress at end of input

    from training.data import load_dataset

    ds = load_dataset(arch)  # training's loader, format detected
    assert ds.fmt == "archive" and ds.sensors == sorted(good[0]["values"])
    assert len(ds.frame) == len(good)  # every validated reading once, the bad one not at all
    want = pd.DataFrame([{"device_id": g["device_id"], "ts": g["ts"], **g["values"]} for g in good])
    want = want.sort_values(["device_id", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ds.frame[want.columns], want, check_dtype=False)
    for day in days:  # each day folder holds exactly that UTC day's readings
        d = load_dataset(arch / day, fmt="archive")
        assert set(pd.to_datetime(d.frame["ts"], unit="ms", utc=True).dt.strftime("day=%Y-%m-%d")) == {day}
