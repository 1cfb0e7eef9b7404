"""Micro-benchmarks of the per-record logic (`vigil bench udfs`): numbers for docs/udfs.md.

Uses the test bundle factory (tests/bundle_factory.py) to build real ONNX bundles, so it runs
from a source checkout.
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np


CPU_RATES: dict[str, float] = {}  # same measurements per CPU-second of this process


def _rate(fn: Callable[[], int], min_s: float, key: str = "") -> float:
    """Items per wall-clock second of ``fn`` (returns items done), repeated for at least
    ``min_s``. On a loaded machine wall time includes waiting for a core, so the rate per
    process-CPU-second is recorded too (``CPU_RATES[key]``)."""
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while True:
        n += fn()
        dt = time.perf_counter() - t0
        if dt >= min_s:
            if key:
                CPU_RATES[key] = n / max(time.process_time() - c0, 1e-9)
            return n / dt


def bench_parse(min_s: float) -> dict[str, float]:
    import json

    import orjson

    from udfs.schema import DEFAULT_LIMITS, SENSORS, parse_reading

    rng = np.random.default_rng(0)
    msgs = [orjson.dumps({"device_id": f"pump-{i % 1000:04d}", "ts": "2026-11-23T14:00:00.120Z",
                          "values": {s: float(rng.normal(50, 5)) for s in SENSORS}}) for i in range(1000)]
    msgs_ms = [orjson.dumps({"device_id": f"pump-{i % 1000:04d}", "ts": 1795442400120 + i,
                             "values": {s: float(rng.normal(50, 5)) for s in SENSORS}}) for i in range(1000)]

    def run(ms: list[bytes]) -> Callable[[], int]:
        def f() -> int:
            for m in ms:
                parse_reading(m, DEFAULT_LIMITS)
            return len(ms)
        return f

    def stdlib() -> int:
        for m in msgs:
            json.loads(m)
        return len(msgs)

    return {"parse_iso_ts_per_s": round(_rate(run(msgs), min_s, "parse_iso_ts_per_s")),
            "parse_epoch_ms_per_s": round(_rate(run(msgs_ms), min_s, "parse_epoch_ms_per_s")),
            "stdlib_json_loads_only_per_s": round(_rate(stdlib, min_s))}


def bench_state(min_s: float) -> dict[str, float]:
    """The Python reference's per-device costs (what replay pays per reading and per window;
    the job runs these rules in the JVM)."""
    from udfs.alerts import AlertPolicy
    from udfs.config import JobConfig
    from udfs.device_state import Context
    from udfs.features import FeatureSpec
    from udfs.schema import SENSORS, Reading

    ctx = Context(JobConfig(), FeatureSpec(sensors=list(SENSORS), window=60, slide=10))
    p = ctx.new("pump-0001")
    rng = np.random.default_rng(0)
    readings = [Reading("pump-0001", 1_000_000 + i * 1000, {s: float(rng.normal()) for s in SENSORS}) for i in range(600)]
    i = [0]

    def step() -> int:
        for _ in range(500):
            p.on_reading(Reading("pump-0001", 2_000_000 + i[0] * 1000, readings[i[0] % 600].values))
            i[0] += 1
        return 500

    pol = AlertPolicy(JobConfig(threshold_mode="likelihood"))
    st = pol.new_state()
    k = [0]

    def score() -> int:
        for _ in range(1000):
            pol.on_score(st, "d", k[0], k[0] + 1, float(rng.normal()), {"name": "m", "version": "v"})
            k[0] += 1
        return 1000

    return {
        "on_reading_us": round(1e6 / _rate(step, min_s, "on_reading"), 2),
        "alert_policy_likelihood_us": round(1e6 / _rate(score, min_s, "alert_policy"), 2),
    }


def bench_scoring(min_s: float, root: Path) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from bundle_factory import make_autoencoder_bundle, make_iforest_bundle, normal_windows

    from udfs.scorer import Scorer
    from udfs.schema import SENSORS

    sensors = list(SENSORS)
    out: dict[str, Any] = {}
    train = normal_windows(2000, 60, 8, seed=0)
    paths = {"iforest_100_trees": make_iforest_bundle(root, sensors, 60, 10, train=train),
             "dense_autoencoder": make_autoencoder_bundle(root, sensors, 60, 10, train=train, epochs=20)}
    w = normal_windows(1024, 60, 8, seed=1)
    for name, p in paths.items():
        sc = Scorer(p)
        x = sc.features(w) if sc.input_kind == "features" else w
        for b in (1, 1024):
            xb = x[:b]
            k = f"{name}_model_rows_per_s_batch{b}"
            out[k] = round(_rate(lambda: len(sc.score(xb)), min_s, k))
            k = f"{name}_windows_incl_features_per_s_batch{b}"
            out[k] = round(_rate(lambda: len(sc.score_windows(w[:b])), min_s, k))
    return out


def bench_replay(root: Path, n: int) -> dict[str, Any]:
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from bundle_factory import make_iforest_bundle, normal_windows

    from jobs.replay import replay
    from udfs.config import JobConfig
    from udfs.schema import SENSORS

    sensors = list(SENSORS)
    p = make_iforest_bundle(root, sensors, 60, 10, version="replay", train=normal_windows(2000, 60, 8, seed=0))
    frames = []
    for d in range(10):
        v = normal_windows(1, n // 10, 8, seed=d)[0].astype(np.float64)
        f = pd.DataFrame(v, columns=sensors)
        f.insert(0, "ts", 1_700_000_000_000 + np.arange(n // 10) * 1000)
        f.insert(0, "device_id", f"pump-{d:02d}")
        frames.append(f)

    class DS:
        frame = pd.concat(frames, ignore_index=True)
        name = "bench"

    DS.sensors = sensors
    c0 = time.process_time()
    res = replay(DS, str(p), JobConfig(), batch_size=1024)
    CPU_RATES["replay_readings_per_s"] = res.stats["readings"] / max(time.process_time() - c0, 1e-9)
    return {"replay_readings": res.stats["readings"], "replay_windows": res.stats["windows_scored"],
            "replay_readings_per_s_iforest_w60_s10": res.stats["readings_per_s"]}


def run_all(quick: bool = False) -> dict[str, Any]:
    min_s = 0.3 if quick else 1.5
    res: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, python {platform.python_version()}",
        "note": "single thread; shared machine, other jobs running",
        "loadavg_1m_start": round(__import__("os").getloadavg()[0], 2),
    }
    res.update(bench_parse(min_s))
    res.update(bench_state(min_s))
    with tempfile.TemporaryDirectory() as d:
        res.update(bench_scoring(min_s, Path(d)))
        res.update(bench_replay(Path(d), 20_000 if quick else 100_000))
    res["loadavg_1m_end"] = round(__import__("os").getloadavg()[0], 2)
    res["per_cpu_second"] = {k: (round(1e6 / v, 2) if k.endswith("roundtrip") or k == "on_reading" else round(v))
                             for k, v in CPU_RATES.items()}
    res["per_cpu_second_note"] = "rates per second of process CPU time (µs for *roundtrip/on_reading)"
    return res
