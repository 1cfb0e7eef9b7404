"""POST /v1/readings: validate like the job (`udfs.schema.parse_reading`) and produce to Kafka.

Valid readings go to `sensor-readings` keyed by device id; invalid ones go to the DLQ with
their reason (and are reported back), so nothing is lost. The batch is acknowledged only after
Kafka acked every record (acks=all); if Kafka is unreachable the whole batch gets 503 and the
producer is rebuilt, so buffered records are not sent behind the client's back.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from typing import Any

from sidecar import metrics
from sidecar.settings import SidecarSettings

log = logging.getLogger("vigil.sidecar.ingest")


class KafkaUnavailable(RuntimeError):
    """Kafka did not accept the records in time."""


def kafka_reachable(bootstrap: str, timeout: float = 0.5) -> bool:
    """True when at least one bootstrap address accepts a TCP connection."""
    for addr in bootstrap.split(","):
        host, _, port = addr.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


class KafkaGateway:
    """A lazily (re)built kafka-python producer shared by request threads."""

    def __init__(self, settings: SidecarSettings) -> None:
        self.s = settings
        self._producer = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                self._producer = KafkaProducer(
                    bootstrap_servers=self.s.kafka_bootstrap.split(","), acks="all", linger_ms=2,
                    max_block_ms=3000, request_timeout_ms=3000, delivery_timeout_ms=6000,
                    retry_backoff_ms=100, reconnect_backoff_max_ms=1000, client_id="vigil-sidecar",
                )
            return self._producer

    def _reset(self) -> None:
        with self._lock:
            p, self._producer = self._producer, None
        if p is not None:
            try:
                p.close(timeout=0)
            except Exception:  # noqa: BLE001
                pass

    def send(self, topic: str, records: list[tuple[bytes, bytes]], timeout: float = 8.0) -> None:
        """Send (key, value) pairs and wait for all acks; raises :class:`KafkaUnavailable`."""
        if not records:
            return
        try:
            p = self._get()
            futures = [p.send(topic, key=k, value=v) for k, v in records]
            p.flush(timeout=timeout)
            for f in futures:
                f.get(timeout=0.1)
        except Exception as e:  # noqa: BLE001 - any client failure = Kafka unavailable to us
            self._reset()
            raise KafkaUnavailable(f"Kafka at {self.s.kafka_bootstrap} did not accept the records: {e!r}"[:300]) from e

    def close(self) -> None:
        self._reset()


def validate_batch(items: list[Any]) -> tuple[list[tuple[bytes, bytes]], list[dict[str, Any]], list[dict]]:
    """Split a batch into (key, value) records for Kafka, error entries for the response and
    DLQ records. Each item is re-serialised and checked by `parse_reading` with the default
    physical limits, exactly as the job checks Kafka messages.

    >>> ok, errs, dlq = validate_batch([{"device_id": "p1", "ts": 1, "values": {"rpm": 5}}, {"ts": 1}])
    >>> len(ok), errs[0]["index"], errs[0]["reason"], dlq[0]["reason"]
    (1, 1, 'missing_device', 'missing_device')
    """
    from udfs.schema import DEFAULT_LIMITS, InvalidReading, parse_reading

    ok: list[tuple[bytes, bytes]] = []
    errors: list[dict[str, Any]] = []
    dlq: list[dict] = []
    for i, item in enumerate(items):
        raw = json.dumps(item, separators=(",", ":"), allow_nan=True).encode()
        try:
            r = parse_reading(raw, DEFAULT_LIMITS)
        except InvalidReading as e:
            errors.append({"index": i, "reason": e.reason, "detail": e.detail})
            from udfs.schema import dlq_record

            dlq.append(dlq_record(e.reason, e.detail, raw, "http:/v1/readings", None, i))
            continue
        ok.append((r.device_id.encode(), raw))
    return ok, errors, dlq


def ingest(gateway: KafkaGateway, settings: SidecarSettings, items: list[Any]) -> dict[str, Any]:
    """Validate and produce one batch (blocking; run it in a worker thread)."""
    ok, errors, dlq = validate_batch(items)
    gateway.send(settings.readings_topic, ok)
    gateway.send(settings.dlq_topic, [(b"http", json.dumps(d).encode()) for d in dlq])
    metrics.READINGS.labels("accepted").inc(len(ok))
    metrics.READINGS.labels("rejected").inc(len(errors))
    for e in errors:
        metrics.REJECTED.labels(e["reason"]).inc()
    return {"accepted": len(ok), "rejected": len(errors), "errors": errors}
