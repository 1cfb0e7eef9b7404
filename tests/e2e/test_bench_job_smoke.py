"""`vigil bench job` itself on the real stack, at toy size: the machinery, not the speed.

Speed is measured by the benchmark and written to bench-results/ (never asserted here). This
checks that a run with parallelism 2 and extra job arguments really runs all three jobs
(passthrough, keyed-state skeleton, anomaly job) on the cluster, sees every expected window,
and records what it ran.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def test_bench_job_runs_all_three_jobs_and_records_its_setup(stack, tmp_path) -> None:
    from jobs.bench import run_bench, summary

    out = tmp_path / "job.json"
    devices, steps = 10, 80  # window 60, slide 10 → 3 windows per device
    r = run_bench(devices=devices, steps=steps, skip_latency=True, out=out, parallelism=2,
                  job_args=["--bundle-size", "2000"])
    assert json.loads(out.read_text()) == r
    assert r["setup"]["parallelism"] == 2 and r["setup"]["job_args"] == ["--bundle-size", "2000"]
    assert r["passthrough"]["records_out"] == devices * steps
    assert r["anomaly_job"]["windows_scored"] == r["anomaly_job"]["windows_expected"] == devices * 3
    assert r["keyed_skeleton"]["windows_emitted"] == devices * 3  # same windows, same points
    for rate in (r["anomaly_job"]["readings_per_s"], r["passthrough"]["readings_per_s"],
                 r["keyed_skeleton"]["readings_per_s"]):
        assert rate is None or rate > 0  # None: all outputs within one millisecond at this size
    assert "latency" not in r
    assert "anomaly job" in summary(r) and "keyed-state skeleton" in summary(r)
