"""Shared fixtures for the whole suite: the real local stack and small Kafka helpers.

Fixtures
--------
``stack`` (session)
    A :class:`deploy.stack.Stack` whose services are all healthy. It starts only what is not
    already running (one start for the whole `pytest` run). At session end it stops the stack
    only when this session started all of it (a fresh machine, CI) and no other test session
    holds a lease on it (several engineers share one machine); a stack that was already
    (partly) running is left as found. ``VIGIL_KEEP_STACK=1`` always keeps it running.
    Addresses: ``stack.kafka_bootstrap``, ``stack.flink_rest_url``, ``stack.redis_url``,
    ``stack.prometheus_url``; ``stack.flink_env()`` for the ``flink`` CLI.
``kafka_topic`` (function)
    Factory ``kafka_topic(prefix="t", partitions=1) -> str`` creating a fresh, uniquely named
    topic; the topics are deleted after the test.
``consume`` / ``produce`` (function)
    The helpers below, as fixtures bound to the stack's bootstrap address.

Helpers (importable: ``from conftest import consume_n, produce_json``)
-------------------------------------------------------------------
``consume_n(bootstrap, topic, n, timeout_s=60, read_committed=False)`` and
``produce_json(bootstrap, topic, items, key=...)``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from deploy.settings import StackSettings
from deploy.stack import SERVICE_NAMES, Stack, other_live_leases, take_lease


def consume_n(
    bootstrap: str, topic: str, n: int, timeout_s: float = 60.0, *, read_committed: bool = False,
    from_beginning: bool = True, decode_json: bool = False, extra_wait_s: float = 0.0,
) -> list[Any]:
    """Read up to ``n`` records of ``topic`` (all partitions), waiting at most ``timeout_s``.

    Returns kafka-python ``ConsumerRecord``s (``.key``/``.value`` bytes), or the decoded JSON
    values with ``decode_json=True``. Returns fewer than ``n`` on timeout (assert the count in
    the test, so a shortfall reads as a clear failure). Uses no consumer group (no commits).
    ``extra_wait_s`` > 0: once ``n`` arrived, keep reading that long and return any surplus
    too, so ``len(result) == n`` proves nothing extra came (for exactly-once checks).
    ``read_committed`` hides records of open or aborted transactions (Flink exactly-once sinks).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        isolation_level="read_committed" if read_committed else "read_uncommitted",
        consumer_timeout_ms=int(timeout_s * 1000),
    )
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.2)
        if not parts:
            return []
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        if from_beginning:
            consumer.seek_to_beginning()
        out: list[Any] = []
        while len(out) < n and time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=min(10_000, n - len(out)))
            for records in batch.values():
                out.extend(records)
        if extra_wait_s > 0 and len(out) >= n:
            settle = time.monotonic() + extra_wait_s
            while time.monotonic() < settle:
                for records in consumer.poll(timeout_ms=250).values():
                    out.extend(records)
        else:
            out = out[:n]
        return [json.loads(r.value) for r in out] if decode_json else out
    finally:
        consumer.close()


def produce_json(
    bootstrap: str, topic: str, items: Iterable[Any], *, key: Callable[[Any], str | None] | None = None,
) -> int:
    """Send each item as UTF-8 JSON (bytes/str items are sent as is); returns the count sent.

    ``key(item)`` gives the message key (e.g. ``lambda r: r["device_id"]``). Flushes before returning.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024, acks="all")
    count = 0
    try:
        for item in items:
            if isinstance(item, bytes):
                value = item
            elif isinstance(item, str):
                value = item.encode()
            else:
                value = json.dumps(item).encode()
            k = key(item) if key else None
            producer.send(topic, value=value, key=k.encode() if isinstance(k, str) else k)
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return count


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The real local stack, brought up once per session (see module docstring)."""
    settings = StackSettings()
    st = Stack(settings)
    lease = take_lease(settings)
    try:
        st.up()
    except Exception:
        lease.unlink(missing_ok=True)
        raise
    # Stop at the end only a stack this session brought up from nothing (CI, `make test`);
    # services it merely topped up belong to the stack someone else started.
    owned = set(st.started) == set(SERVICE_NAMES)
    try:
        yield st
    finally:
        lease.unlink(missing_ok=True)
        if owned and not os.environ.get("VIGIL_KEEP_STACK") and not other_live_leases(settings):
            # Everything this state folder's records hold: a test may have restarted a service
            # (the TaskManager crash test), which replaced `st.started`.
            st.down()


@pytest.fixture
def kafka_topic(stack: Stack) -> Iterator[Callable[..., str]]:
    """Factory for fresh topics: ``kafka_topic("readings", partitions=2) -> "readings-<hex>"``."""
    created: list[str] = []

    def make(prefix: str = "t", partitions: int = 1) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        stack.create_topics({name: partitions})
        created.append(name)
        return name

    yield make
    if created:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        try:
            admin.delete_topics(created)
        except Exception:  # noqa: BLE001 - cleanup is best effort; names are unique anyway
            pass
        finally:
            admin.close()


@pytest.fixture
def consume(stack: Stack) -> Callable[..., list[Any]]:
    """``consume(topic, n, timeout_s=60, read_committed=False, decode_json=False)`` on the stack."""
    return lambda topic, n, **kw: consume_n(stack.kafka_bootstrap, topic, n, **kw)


@pytest.fixture
def produce(stack: Stack) -> Callable[..., int]:
    """``produce(topic, items, key=None)`` on the stack (JSON-encodes dicts)."""
    return lambda topic, items, **kw: produce_json(stack.kafka_bootstrap, topic, items, **kw)
