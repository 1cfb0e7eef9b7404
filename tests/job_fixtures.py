"""Shared helpers of the job tests: seeded synthetic readings that look like the
``bundle_factory`` training windows, fuzzed bad messages, and a tiny Isolation Forest bundle."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

SENSORS = ["s0", "s1", "s2", "s3"]
T0 = 1_795_442_400_000  # 2026-11-23T14:00:00Z


def make_bundle(root: Path, sensors: list[str] = SENSORS, window: int = 20, slide: int = 5) -> Path:
    """Isolation Forest bundle (skl2onnx) trained on bundle_factory's healthy windows."""
    from bundle_factory import make_iforest_bundle

    return make_iforest_bundle(root, sensors, window, slide, n_estimators=50)


def healthy_value(t: int, s: int, rng: random.Random, noise: float = 0.1) -> float:
    """Same family as ``bundle_factory.normal_windows`` (sinusoid period 50 + sensor offset)."""
    return math.sin(2 * math.pi * t / 50.0) * (1 + 0.1 * s) + s + noise * rng.gauss(0, 1)


def readings(devices: int, n: int, *, seed: int = 0, sensors: list[str] = SENSORS, step_ms: int = 1000,
             anomaly: dict[str, tuple[int, int]] | None = None, t0: int = T0) -> list[dict[str, Any]]:
    """Time-ordered readings of ``devices`` devices × ``n`` steps. ``anomaly`` = {device:
    (first step, last step)} adds +6 to every sensor (a clear fault) in that range."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        for d in range(devices):
            dev = f"dev-{d:03d}"
            vals = {s: round(healthy_value(i, j, rng), 4) for j, s in enumerate(sensors)}
            if anomaly and dev in anomaly and anomaly[dev][0] <= i <= anomaly[dev][1]:
                vals = {k: v + 6.0 for k, v in vals.items()}
            out.append({"device_id": dev, "ts": t0 + i * step_ms, "values": vals})
    return out


def fuzzed_bad(n: int, seed: int = 1) -> list[tuple[bytes, str]]:
    """``n`` invalid messages with the DLQ reason each must get."""
    rng = random.Random(seed)
    makers = [
        (lambda: b'{"device_id": "x", "ts": 1795442400000, "values": {"s0": 1.0}', "bad_json"),
        (lambda: b"\xff\xfe" + bytes(rng.randrange(256) for _ in range(8)), "not_utf8"),
        (lambda: b"[1, 2, 3]", "not_object"),
        (lambda: json.dumps({"ts": T0, "values": {}}).encode(), "missing_device"),
        (lambda: json.dumps({"device_id": 7, "ts": T0, "values": {}}).encode(), "bad_device"),
        (lambda: json.dumps({"device_id": "d", "values": {}}).encode(), "missing_ts"),
        (lambda: json.dumps({"device_id": "d", "ts": "yesterday", "values": {}}).encode(), "bad_ts"),
        (lambda: json.dumps({"device_id": "d", "ts": T0, "values": [1]}).encode(), "bad_values"),
        (lambda: json.dumps({"device_id": "d", "ts": T0, "values": {"s0": "hot"}}).encode(), "non_numeric"),
        (lambda: b'{"device_id": "d", "ts": 1795442400000, "values": {"s0": NaN}}', "non_finite"),
        (lambda: json.dumps({"device_id": "d", "ts": T0, "values": {"s0": 1e6}}).encode(), "out_of_range"),
        (lambda: b'{"device_id": "d", "ts": 1, "values": {"pad": "' + b"x" * 70_000 + b'"}}', "oversized"),
    ]
    out = []
    for i in range(n):
        f, reason = makers[i % len(makers)]
        out.append((f(), reason))
    rng.shuffle(out)
    return out


def job_config(bundle: Path, **kw: Any) -> Any:
    """JobConfig for the synthetic data: physical limit on s0 (for out_of_range), fixed seeds."""
    from udfs.config import JobConfig

    base = dict(bundle_path=str(bundle), physical_limits={"s0": (-1000.0, 1000.0)},
                silent_after_ms=30_000, cooldown_ms=0, min_duration=2, close_after=2,
                out_of_orderness_ms=2_000, allowed_lateness_ms=5_000, idle_timeout_ms=0,
                checkpoint_interval_ms=2_000)
    base.update(kw)
    return JobConfig(**base)


def window_count(n_readings: int, window: int, slide: int) -> int:
    """Count windows a device of ``n_readings`` in-order readings emits."""
    return 0 if n_readings < window else 1 + (n_readings - window) // slide


def job_topics(stack: Any, tag: str) -> dict[str, str]:
    """Fresh single-partition topics ``<tag>-in|anom|dlq|drift|scores`` for one job run."""
    t = {k: f"{tag}-{k}" for k in ("in", "anom", "dlq", "drift", "scores")}
    stack.create_topics({v: 1 for v in t.values()})
    return t


def submit_job(stack: Any, bundle: Path, t: dict[str, str], *extra: str, from_savepoint: str | None = None) -> str:
    """Submit the anomaly job on the stack over topics ``t`` (earliest offsets, scores on,
    checkpoints every 2 s; restored from ``from_savepoint`` when given) and wait for RUNNING."""
    from jobs.submit import submit, wait_for_state

    args = ["--bundle", str(bundle), "--input-topic", t["in"], "--group-id", t["in"],
            "--starting-offsets", "earliest", "--emit-scores", "--checkpoint-ms", "2000",
            "--set", f"topic_anomalies={t['anom']}", "--set", f"topic_dlq={t['dlq']}",
            "--set", f"topic_drift={t['drift']}", "--set", f"topic_scores={t['scores']}", *extra]
    job = submit("anomaly", args, stack=stack, from_savepoint=from_savepoint)
    assert wait_for_state(job.job_id, "RUNNING", 600, stack=stack) == "RUNNING"
    return job.job_id


def cancel_job(stack: Any, job_id: str) -> None:
    """Cancel ``job_id`` if it still runs."""
    from jobs.submit import cancel

    try:
        cancel(job_id, stack)
    except Exception:  # noqa: BLE001 - already finished
        pass


def run_core(cfg: Any, bundle_dir: str, raw: list[bytes], drift_every_s: float = 0.0,
             windows: bool = False) -> list[dict[str, Any]]:
    """``jobs.anomaly_job.build_core`` on a local MiniCluster over the raw messages ``raw``
    (partition 0, offsets in order; 50 ms Python bundles); returns every output record (alerts,
    DLQ, drift reports, window scores, and with ``windows`` the raw windows) as JSON."""
    from pyflink.common import Row, Types

    from jobs import anomaly_job as job

    env, t_env = job.make_env(cfg, job.parse_args(["--bundle-ms", "50"]))
    src_type = Types.ROW_NAMED(["raw", "topic", "partition", "offset"],
                               [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.STRING(), Types.INT(), Types.LONG()])
    src = env.from_collection([Row(r, "sensor-readings", 0, i) for i, r in enumerate(raw)], type_info=src_type)
    out = job.build_core(env, t_env, src, cfg, bundle_dir, drift_every_s=drift_every_s)
    streams = [out.dlq, out.drift, out.scores] + ([out.topology.stream("windowRecords")] if windows else [])
    with out.anomalies.union(*streams).execute_and_collect() as it:
        return [json.loads(bytes(r[1])) for r in it]


__all__ = ["SENSORS", "T0", "make_bundle", "readings", "fuzzed_bad", "job_config", "window_count",
           "job_topics", "submit_job", "cancel_job", "run_core"]
