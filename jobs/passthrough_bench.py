"""Throughput of the passthrough job on the stack's cluster (`vigil bench passthrough`).

Method: pre-load N simulated readings into a fresh input topic, run the passthrough job with
a *bounded* source (it finishes after the last pre-loaded offset), and time the output from
the broker's append timestamps (the output topic uses ``LogAppendTime``): sustained
readings/s = (N - 1) / (last append - first append). Job start-up (Python workers, first
checkpoint) is reported apart as wall time. The anomaly job's benchmark reuses
:func:`run_bench` with its own job name and arguments.
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from deploy.stack import Stack


def _append_times(bootstrap: str, topic: str, n: int, timeout_s: float) -> list[int]:
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      isolation_level="read_committed", fetch_max_bytes=64 * 1024 * 1024,
                      max_partition_fetch_bytes=16 * 1024 * 1024)
    try:
        parts = c.partitions_for_topic(topic) or set()
        c.assign([TopicPartition(topic, p) for p in parts])
        c.seek_to_beginning()
        ts: list[int] = []
        deadline = time.monotonic() + timeout_s
        while len(ts) < n and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500, max_records=50_000).values():
                ts.extend(r.timestamp for r in recs)
        return ts
    finally:
        c.close()


def preload(stack: Stack, topic: str, readings: int, partitions: int = 4, devices: int = 200) -> dict:
    """Create ``topic`` and fill it with ``readings`` valid simulated readings (seeded)."""
    from training.sim_kafka import produce
    from training.simulator import SimConfig

    stack.create_topics({topic: partitions})
    cfg = SimConfig(devices=devices, rate=1.0, duration_s=readings / devices + 60, seed=3,
                    start_ms=1_795_442_400_000, max_readings=readings, late_fraction=0.0)
    return produce(cfg, stack.kafka_bootstrap, topic)


def run_bench(
    readings: int = 200_000, *, job: str = "passthrough", parallelism: int = 1, python_mode: str = "process",
    delivery: str = "exactly-once", extra_args: list[str] | None = None, stack: Stack | None = None,
    input_topic: str | None = None, timeout_s: float = 900.0,
) -> dict[str, Any]:
    """Pre-load (unless ``input_topic`` is given), run the bounded job, measure; returns the figures."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from jobs.submit import JobFailedError, cancel, submit, wait_for_state

    stack = stack or Stack()
    run = uuid.uuid4().hex[:8]
    created: list[str] = []
    if input_topic is None:
        input_topic = f"bench-in-{run}"
        created.append(input_topic)
        pre = preload(stack, input_topic, readings)
    else:
        pre = {"readings": readings}
    out_topic, dlq_topic = f"bench-out-{run}", f"bench-dlq-{run}"
    admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
    try:
        admin.create_topics([
            NewTopic(out_topic, 4, 1, topic_configs={"message.timestamp.type": "LogAppendTime"}),
            NewTopic(dlq_topic, 1, 1),
        ])
        created += [out_topic, dlq_topic]
        args = ["--input-topic", input_topic, "--output-topic", out_topic, "--dlq-topic", dlq_topic,
                "--bounded", "--starting-offsets", "earliest", "--parallelism", str(parallelism),
                "--python-mode", python_mode, "--delivery", delivery, *(extra_args or [])]
        t0 = time.time()
        sub = submit(job, args, stack=stack)
        t_sub = time.time()
        try:
            state = wait_for_state(sub.job_id, {"FINISHED"}, timeout_s=timeout_s, stack=stack)
        except (TimeoutError, JobFailedError):
            cancel(sub.job_id, stack)
            raise
        t_end = time.time()
        if state != "FINISHED":
            raise RuntimeError(f"bench job {sub.job_id} ended {state}; see {stack.flink_rest_url}")
        ts = _append_times(stack.kafka_bootstrap, out_topic, readings, timeout_s=120)
    finally:
        try:
            admin.delete_topics(created)
        finally:
            admin.close()
    if len(ts) != pre["readings"]:
        raise RuntimeError(f"expected {pre['readings']} output records, read {len(ts)}")
    span = (max(ts) - min(ts)) / 1000.0
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores",
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "job": job, "readings": len(ts), "parallelism": parallelism, "python_mode": python_mode,
        "delivery": delivery,
        "readings_per_s": round((len(ts) - 1) / span, 1) if span > 0 else None,
        "processing_span_s": round(span, 2),
        "submit_s": round(t_sub - t0, 2),
        "wall_s": round(t_end - t0, 2),
        "wall_readings_per_s": round(len(ts) / (t_end - t0), 1),
        "job_id": sub.job_id,
    }
