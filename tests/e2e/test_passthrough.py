"""The passthrough job on the real cluster: simulated readings in → exactly those readings out.

Produces a fixed simulated run (seeded, zstd, some malformed messages mixed in) to a fresh
topic, submits ``jobs/passthrough_job.py`` with ``vigil``'s submit code, stops it with a
savepoint part-way and restores it, and checks that the output topic holds exactly the valid
readings (same key, same bytes, each once; read_committed) and the DLQ exactly the malformed
ones with the reason the simulator meant.
"""

from __future__ import annotations

from collections import Counter

import pytest

from conftest import consume_n
from jobs.submit import cancel, job_state, stop_with_savepoint, submit, wait_for_state
from training.sim_kafka import iter_messages
from training.simulator import SimConfig

pytestmark = pytest.mark.e2e


def _produce(bootstrap: str, topic: str, messages) -> None:
    from kafka import KafkaProducer

    # zstd like the simulator: the cluster needs zstd-jni next to the connector to read it.
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, compression_type="zstd")
    for m in messages:
        producer.send(topic, key=m.key, value=m.value)
    producer.flush()
    producer.close()


def test_passthrough_delivers_exactly_the_produced_readings(stack, kafka_topic, tmp_path) -> None:
    """N readings → exactly N out; stop with a savepoint; M more; resume → exactly N + M."""
    cfg = SimConfig(devices=12, rate=2.0, duration_s=90, seed=11, start_ms=1_795_442_400_000,
                    malformed_rate=0.02)
    messages = list(iter_messages(cfg))
    cut = len(messages) * 2 // 3
    first, second = messages[:cut], messages[cut:]
    valid = [m for m in messages if m.malformed is None]
    valid_first = [m for m in first if m.malformed is None]
    bad = [m for m in messages if m.malformed is not None]
    assert len(valid_first) > 1000 and bad, "the fixture run should contain both kinds"

    tin, tout, tdlq = kafka_topic("pt-in", 3), kafka_topic("pt-out", 3), kafka_topic("pt-dlq")
    _produce(stack.kafka_bootstrap, tin, first)
    args = ["--input-topic", tin, "--output-topic", tout, "--dlq-topic", tdlq, "--parallelism", "2",
            "--checkpoint-ms", "1000"]
    job = submit("passthrough", args, stack=stack)
    try:
        assert wait_for_state(job.job_id, "RUNNING", timeout_s=240, stack=stack, max_failures=10) == "RUNNING"
        # extra_wait_s spans several checkpoints (1 s): a duplicate would be committed by then.
        out = consume_n(stack.kafka_bootstrap, tout, len(valid_first), timeout_s=120, read_committed=True,
                        extra_wait_s=3)
        assert job_state(job.job_id, stack) == "RUNNING"
        savepoint = stop_with_savepoint(job.job_id, tmp_path / "savepoints", stack=stack)
    except BaseException:
        cancel(job.job_id, stack)
        raise
    assert Counter((r.key, r.value) for r in out) == Counter((m.key, m.value) for m in valid_first)
    assert wait_for_state(job.job_id, {"FINISHED"}, timeout_s=60, stack=stack) == "FINISHED"
    assert savepoint.startswith("file:") and (tmp_path / "savepoints").exists()

    # While the job is stopped, the rest arrives; the restored job continues from the savepoint.
    _produce(stack.kafka_bootstrap, tin, second)
    job2 = submit("passthrough", args, stack=stack, from_savepoint=savepoint)
    try:
        assert wait_for_state(job2.job_id, "RUNNING", timeout_s=240, stack=stack, max_failures=10) == "RUNNING"
        out = consume_n(stack.kafka_bootstrap, tout, len(valid), timeout_s=120, read_committed=True,
                        extra_wait_s=4)
        dlq = consume_n(stack.kafka_bootstrap, tdlq, len(bad), timeout_s=30, read_committed=True,
                        decode_json=True, extra_wait_s=1)
    finally:
        cancel(job2.job_id, stack)

    # Exactly the valid readings: same (key, bytes) multiset, nothing missing, nothing repeated.
    assert len(out) == len(valid)
    assert Counter((r.key, r.value) for r in out) == Counter((m.key, m.value) for m in valid)
    # Per-device order survives (key → partition, one reader per partition), across the restore.
    by_dev: dict[bytes, list[bytes]] = {}
    for r in out:
        by_dev.setdefault(r.key, []).append(r.value)
    for key, values in by_dev.items():
        assert values == [m.value for m in valid if m.key == key]
    # Every malformed message is in the DLQ once, with the reason the simulator meant.
    assert sorted(d["reason"] for d in dlq) == sorted(m.malformed for m in bad)
    assert all(d["topic"] == tin for d in dlq)


def test_submit_rejects_unknown_job(stack) -> None:
    with pytest.raises(FileNotFoundError, match="known jobs: .*passthrough"):
        submit("no-such-job", stack=stack)
