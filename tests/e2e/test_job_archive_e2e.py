"""The anomaly job's raw archive on the real stack: readings over two UTC days → Kafka → the
job on the stack's Flink cluster (``--archive-path``, bounded input) → Parquet files per day,
read back by training's loader, then compacted (`vigil archive compact`) to one file per day.

Checks what the MiniCluster test cannot: that the Parquet format's jars, shipped with the job
(``pipeline.jars``), reach a cluster whose ``lib/`` has neither flink-parquet nor Hadoop.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conftest import produce_json  # noqa: E402
from job_fixtures import make_bundle, readings  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]


def test_archive_is_parquet_per_day_and_loadable_by_training(stack, tmp_path):
    from jobs.submit import cancel, job_failures, submit, wait_for_state
    from training.data import load_dataset

    tag = f"jobarch-{uuid.uuid4().hex[:8]}"
    t = {k: f"{tag}-{k}" for k in ("in", "anom", "dlq", "drift")}
    stack.create_topics({v: 1 for v in t.values()})
    bundle = make_bundle(tmp_path / "b", window=20, slide=5)
    good = readings(3, 40, step_ms=1_800_000)  # 20 hours from T0 (14:00 UTC): two UTC days
    good[7]["values"]["s0"] = None
    produce_json(stack.kafka_bootstrap, t["in"], [json.dumps(g).encode() for g in good] + [b"{bad"])
    arch = tmp_path / "archive"
    args = ["--bundle", str(bundle), "--input-topic", t["in"], "--group-id", t["in"],
            "--starting-offsets", "earliest", "--bounded", "--checkpoint-ms", "2000",
            "--archive-path", str(arch),
            "--set", f"topic_anomalies={t['anom']}", "--set", f"topic_dlq={t['dlq']}",
            "--set", f"topic_drift={t['drift']}"]
    job = submit("anomaly", args, stack=stack)
    try:
        state = wait_for_state(job.job_id, "FINISHED", 600, stack=stack)
    finally:
        try:
            cancel(job.job_id, stack)
        except Exception:  # noqa: BLE001 - already finished
            pass
    assert state == "FINISHED", job_failures(job.job_id, stack)

    days = sorted(p.name for p in arch.iterdir() if p.is_dir())
    assert days == ["day=2026-11-23", "day=2026-11-24"], days
    parts = [p for p in arch.rglob("part-*") if p.is_file()]
    assert parts and all(p.read_bytes()[:4] == b"PAR1" for p in parts), parts
    ds = load_dataset(arch)
    assert ds.fmt == "archive" and len(ds.frame) == len(good)
    want = pd.DataFrame([{"device_id": g["device_id"], "ts": g["ts"], **g["values"]} for g in good])
    want = want.sort_values(["device_id", "ts"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ds.frame[want.columns], want, check_dtype=False)

    # the days are closed: `vigil archive compact` leaves one file per day, same readings
    from datetime import date

    from training.archive import compact_archive

    res = compact_archive(arch, today=date(2026, 11, 26))  # both days closed whatever the clock says
    assert sorted(r.day for r in res) == ["2026-11-23", "2026-11-24"] and \
        {r.action for r in res} <= {"compacted", "skipped"}
    for r in res:  # a day written in several checkpoints is merged; either way one file is left
        files = [p for p in (arch / f"day={r.day}").iterdir() if not p.name.startswith((".", "_"))]
        assert len(files) == 1 and (r.action == "compacted") == (r.files_in > 1), (r, files)
    again = load_dataset(arch)
    assert again.fmt == "archive"
    pd.testing.assert_frame_equal(again.frame, ds.frame)
