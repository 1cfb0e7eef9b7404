"""Kafka `anomalies` (and optionally `window-scores`) → Redis, in a background thread.

Delivery: the consumer group reads with ``isolation_level=read_committed`` and auto-commit
off; a record's offset is committed only after Redis holds it. When Redis fails, the
partition is rewound to the first record not yet stored and the loop backs off, so nothing
is lost; redelivered alerts are no-ops in Redis (idempotent Lua apply), so nothing is doubled.
Kafka outages are handled by the client's reconnects; a failed commit only means redelivery.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from pydantic import ValidationError

from sidecar import metrics
from sidecar.settings import SidecarSettings
from sidecar.store import AlertWriter

log = logging.getLogger("vigil.sidecar.consumer")


def parse_alert(raw: bytes) -> dict[str, Any]:
    """Validate one `anomalies` message with `udfs.schema.Alert`; raises ValueError."""
    from udfs.schema import Alert

    try:
        a = Alert.model_validate_json(raw)
    except ValidationError as e:
        raise ValueError(str(e).splitlines()[0] + ": " + "; ".join(
            f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors()[:5])) from None
    return a.model_dump(mode="json")


class AlertConsumer:
    """Runs the consume → store → commit loop until :meth:`stop`.

    ``on_new(alert, event)`` is called (in this thread) after an alert changed state in Redis
    and its offset is committed-or-pending; the notifier uses it."""

    def __init__(self, settings: SidecarSettings, on_new: Callable[[dict, str], None] | None = None) -> None:
        self.s = settings
        self.on_new = on_new
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.last_error = ""
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s * 3,
                                      socket_connect_timeout=settings.redis_timeout_s)
        self.writer = AlertWriter(client, settings.key_prefix, settings.events_maxlen,
                                  settings.scores_per_device)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="anomalies-consumer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _make_consumer(self):
        from kafka import KafkaConsumer

        topics = [self.s.anomalies_topic] + ([self.s.scores_topic] if self.s.scores_enabled else [])
        c = KafkaConsumer(
            bootstrap_servers=self.s.kafka_bootstrap.split(","), group_id=self.s.consumer_group,
            enable_auto_commit=False, isolation_level="read_committed",
            auto_offset_reset="earliest", max_poll_records=500, client_id="vigil-sidecar",
            request_timeout_ms=30_000, reconnect_backoff_max_ms=2000,
        )
        c.subscribe(topics)
        return c

    def _run(self) -> None:
        consumer = None
        backoff = 0.2
        last_retention = 0.0
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._make_consumer()
                batches = consumer.poll(timeout_ms=500)
                self.connected = True
                self._handle(consumer, batches)
                backoff = 0.2
                if time.monotonic() - last_retention > 60:
                    cutoff = int((time.time() - self.s.retention_days * 86400) * 1000)
                    n = self.writer.expire_older_than(cutoff)
                    metrics.ALERTS_EXPIRED.inc(n)
                    last_retention = time.monotonic()
            except (redis.ConnectionError, redis.TimeoutError) as e:
                self.last_error = f"redis: {e}"
                metrics.CONSUMER_ERRORS.labels("redis").inc()
                log.warning("redis unavailable, retrying in %.1fs: %s", backoff, e)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            except Exception as e:  # noqa: BLE001 - Kafka or unexpected: rebuild the client
                self.connected = False
                self.last_error = f"kafka: {e!r}"
                metrics.CONSUMER_ERRORS.labels("kafka").inc()
                log.warning("consumer error, reconnecting in %.1fs: %r", backoff, e)
                if consumer is not None:
                    try:
                        consumer.close(autocommit=False)
                    except Exception:  # noqa: BLE001
                        pass
                    consumer = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
        if consumer is not None:
            consumer.close(autocommit=False)

    def _handle(self, consumer, batches: dict) -> None:
        from kafka.structs import OffsetAndMetadata

        items = list(batches.items())
        for n, (tp, records) in enumerate(items):
            done: int | None = None
            try:
                for rec in records:
                    self._one(tp.topic, rec)
                    done = rec.offset
            except (redis.ConnectionError, redis.TimeoutError):
                # rewind this partition to the first record Redis does not have, and every
                # partition of this poll not processed yet to its first record; commit the rest
                consumer.seek(tp, records[0].offset if done is None else done + 1)
                for later_tp, later in items[n + 1:]:
                    consumer.seek(later_tp, later[0].offset)
                if done is not None:
                    self._commit(consumer, {tp: OffsetAndMetadata(done + 1, "", -1)})
                raise
            if done is not None:
                self._commit(consumer, {tp: OffsetAndMetadata(done + 1, "", -1)})

    def _commit(self, consumer, offsets: dict) -> None:
        try:
            consumer.commit(offsets)
        except Exception as e:  # noqa: BLE001 - uncommitted = redelivered = idempotent no-op
            metrics.CONSUMER_ERRORS.labels("commit").inc()
            log.warning("offset commit failed (records will be redelivered): %r", e)

    def _one(self, topic: str, rec) -> None:
        if topic == self.s.scores_topic:
            try:
                msg = json.loads(rec.value)
                self.writer.apply_score(msg)
                metrics.SCORES_CONSUMED.inc()
            except (ValueError, KeyError, TypeError) as e:
                self.writer.keep_bad(rec.value, f"bad score message: {e}", f"{topic}/{rec.partition}/{rec.offset}")
                metrics.BAD_MESSAGES.labels(topic).inc()
            return
        try:
            alert = parse_alert(rec.value)
        except ValueError as e:
            self.writer.keep_bad(rec.value, str(e)[:500], f"{topic}/{rec.partition}/{rec.offset}")
            metrics.BAD_MESSAGES.labels(topic).inc()
            return
        changed = self.writer.apply_alert(alert)
        metrics.ALERTS_CONSUMED.labels("stored" if changed else "duplicate").inc()
        if changed and self.on_new is not None:
            self.on_new(alert, "alert.new" if alert["status"] == "open" else "alert.closed")
