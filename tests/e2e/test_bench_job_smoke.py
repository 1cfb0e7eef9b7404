"""`vigil bench job` itself on the real stack, at toy size: the machinery, not the speed.

Speed is measured by the benchmark and written to bench-results/ (never asserted here). This
checks that a run with parallelism 2, extra job arguments and one scaling point really runs the
SQL anchor, the project passthrough and the anomaly job (RocksDB and heap) on the cluster, sees
every expected output, and records CPU, memory, checkpoints and its setup.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def test_bench_job_runs_every_job_and_records_its_setup(stack, tmp_path) -> None:
    from jobs.bench import run_bench, summary

    out = tmp_path / "job.json"
    devices, steps = 10, 80  # window 60, slide 10 → 3 windows per device
    r = run_bench(devices=devices, steps=steps, skip_latency=True, out=out, parallelism=2,
                  job_args=["--bundle-size", "2000"], scaling=[20])
    assert json.loads(out.read_text()) == r
    assert r["setup"]["parallelism"] == 2 and r["setup"]["job_args"] == ["--bundle-size", "2000"]
    assert r["sql_passthrough"]["outputs"] == r["passthrough"]["outputs"] == devices * steps
    for job in ("anomaly_job", "anomaly_job_heap"):
        assert r[job]["outputs"] == r[job]["outputs_expected"] == devices * 3
        assert r[job]["cpu_s"]["taskmanager"] > 0 and r[job]["peak_rss_mb"]["taskmanager"] > 0
        assert r[job]["checkpoints"]["completed"] >= 1
    for job in ("sql_passthrough", "passthrough", "anomaly_job"):
        rate = r[job]["readings_per_s"]
        assert rate is None or rate > 0  # None: all outputs within one millisecond at this size
    scaled = r["device_scaling"]["20"]
    assert scaled["readings"] == 20 * scaled["steps_per_device"] and "peak_rss_mb" in scaled
    assert "latency" not in r and r["versions"]["apache-flink"] == "2.2.1"
    assert "anomaly job" in summary(r) and "SQL passthrough" in summary(r)
