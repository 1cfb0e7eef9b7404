"""Redis layout and the idempotent writers used by the consumer.

Keys (``P`` = settings.key_prefix):

- ``P:alert:<id>`` hash: ``device_id severity kind status ts doc closed_at close_doc ack
  label updated_ms``. ``doc`` = the opening message JSON without ``status``/``closed_at``
  (those live in their own fields, so a list query can splice the API's JSON together
  inside Redis without parsing); ``closed_at``/``ack``/``label`` hold JSON literals;
  ``close_doc`` = the closing message.
- ``P:alerts`` zset of all alert ids scored by event time (window end of the opening, ms);
  ``P:dev:<device>:alerts``, ``P:idx:severity:<s>``, ``P:idx:kind:<k>``,
  ``P:idx:status:<open|closed>`` — the same ids and scores, one zset per filter value.
- ``P:dev:<device>:open`` set of open alert ids; ``P:devices`` zset device → last seen ms;
  ``P:device:<device>`` hash ``last_seen last_score last_threshold model``;
  ``P:dev:<device>:scores`` zset of recent ``"<ts>|<score>|<threshold>"`` by ts.
- ``P:events`` stream (SSE source, ids are the Last-Event-ID): ``type`` (alert.new,
  alert.closed, score), ``data`` (JSON).
- ``P:labels`` hash alert id → label record (never expired: feeds retraining).

Applying an alert is one Lua script, so it is atomic and idempotent: the same
(alert_id, status) twice is a no-op, a closed alert never reopens, and the SSE event is
appended in the same step as the state change.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import redis

APPLY_ALERT = """
local p, id, dev, sev, kind, status = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local ts, doc, maxlen, now, event = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local full, closed_at = ARGV[12], ARGV[13]
local key = p .. ':alert:' .. id
local old = redis.call('HGET', key, 'status')
if old == status or old == 'closed' then return 0 end
if old then
  ts = redis.call('HGET', key, 'ts')
  redis.call('ZREM', p .. ':idx:status:' .. old, id)
  redis.call('HSET', key, 'status', status, 'close_doc', full, 'closed_at', closed_at, 'updated_ms', now)
else
  redis.call('HSET', key, 'device_id', dev, 'severity', sev, 'kind', kind, 'status', status,
             'ts', ts, 'doc', doc, 'updated_ms', now)
  if status == 'closed' then redis.call('HSET', key, 'close_doc', full, 'closed_at', closed_at) end
  redis.call('ZADD', p .. ':alerts', ts, id)
  redis.call('ZADD', p .. ':dev:' .. dev .. ':alerts', ts, id)
  redis.call('ZADD', p .. ':idx:severity:' .. sev, ts, id)
  redis.call('ZADD', p .. ':idx:kind:' .. kind, ts, id)
end
redis.call('ZADD', p .. ':idx:status:' .. status, ts, id)
if status == 'open' then
  redis.call('SADD', p .. ':dev:' .. dev .. ':open', id)
else
  redis.call('SREM', p .. ':dev:' .. dev .. ':open', id)
end
redis.call('ZADD', p .. ':devices', 'GT', ts, dev)
redis.call('XADD', p .. ':events', 'MAXLEN', '~', maxlen, '*', 'type', event, 'data', full)
return 1
"""


def to_ms(value: Any) -> int | None:
    """Epoch ms from an ISO-8601 string or an epoch-ms number; None when absent/unparseable.

    >>> to_ms("2026-11-23T14:00:00.120Z"), to_ms(5), to_ms("7"), to_ms(None), to_ms("x")
    (1795442400120, 5, 7, None, None)
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit() and len(value) < 16:
        return int(value)
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(round(dt.timestamp() * 1000))


class Keys:
    """Key names for one prefix."""

    def __init__(self, prefix: str) -> None:
        self.p = prefix
        self.alerts = f"{prefix}:alerts"
        self.devices = f"{prefix}:devices"
        self.events = f"{prefix}:events"
        self.labels = f"{prefix}:labels"
        self.bad = f"{prefix}:bad-messages"

    def alert(self, alert_id: str) -> str:
        return f"{self.p}:alert:{alert_id}"

    def dev_alerts(self, device: str) -> str:
        return f"{self.p}:dev:{device}:alerts"

    def dev_open(self, device: str) -> str:
        return f"{self.p}:dev:{device}:open"

    def dev_scores(self, device: str) -> str:
        return f"{self.p}:dev:{device}:scores"

    def device(self, device: str) -> str:
        return f"{self.p}:device:{device}"

    def index(self, field: str, value: str) -> str:
        return f"{self.p}:idx:{field}:{value}"


class AlertWriter:
    """Synchronous writer used by the consumer thread (redis-py, one connection pool).

    Fails with ``redis.ConnectionError``/``TimeoutError`` when Redis is down; the caller keeps
    the Kafka offset uncommitted and retries (the apply is idempotent)."""

    def __init__(self, client: redis.Redis, prefix: str, events_maxlen: int = 100_000,
                 scores_per_device: int = 2000) -> None:
        self.r = client
        self.k = Keys(prefix)
        self.maxlen = events_maxlen
        self.scores_per_device = scores_per_device
        self._apply = client.register_script(APPLY_ALERT)

    def apply_alert(self, alert: dict[str, Any]) -> bool:
        """Store one validated alert dict; True when it changed state (new or newly closed)."""
        status = alert.get("status", "open")
        ts = to_ms(alert.get("opened_at")) or to_ms(alert.get("window_end")) or to_ms(alert.get("detected_at"))
        full = json.dumps(alert, separators=(",", ":"))
        doc = json.dumps({k: v for k, v in alert.items() if k not in ("status", "closed_at", "ack", "label")},
                         separators=(",", ":"))
        closed_at = alert.get("closed_at") or (alert.get("window_end") if status == "closed" else None)
        event = "alert.new" if status == "open" else "alert.closed"
        res = self._apply(args=[
            self.k.p, alert["alert_id"], alert["device_id"], alert["severity"], alert["kind"], status,
            ts or int(time.time() * 1000), doc, self.maxlen, int(time.time() * 1000), event, full,
            json.dumps(closed_at),
        ])
        return bool(res)

    def apply_score(self, msg: dict[str, Any]) -> None:
        """Device status from one ``window-scores`` message as the job emits it (device_id,
        window_end_ms — or window_end ISO/ms —, score, threshold, model). Idempotent for state; a redelivered score adds one more SSE event."""
        dev = str(msg["device_id"])
        ts = (to_ms(msg.get("window_end_ms")) or to_ms(msg.get("window_end")) or to_ms(msg.get("ts"))
              or int(time.time() * 1000))
        score = float(msg["score"])
        thr = msg.get("threshold")
        model = msg.get("model")
        data = {"device_id": dev, "ts": ts, "score": score, "threshold": thr, "model": model}
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(self.k.devices, {dev: ts}, gt=True)
        pipe.hset(self.k.device(dev), mapping={
            "last_seen": ts, "last_score": score,
            "last_threshold": "" if thr is None else float(thr),
            "model": json.dumps(model) if model is not None else "",
        })
        pipe.zadd(self.k.dev_scores(dev), {f"{ts}|{score}|{'' if thr is None else thr}": ts})
        pipe.zremrangebyrank(self.k.dev_scores(dev), 0, -(self.scores_per_device + 1))
        pipe.xadd(self.k.events, {"type": "score", "data": json.dumps(data)}, maxlen=self.maxlen,
                  approximate=True)
        pipe.execute()

    def keep_bad(self, raw: bytes, reason: str, where: str) -> None:
        """Keep an unparseable ``anomalies`` message (capped list) instead of dropping it."""
        rec = {"reason": reason, "where": where, "raw": raw[:65536].decode("utf-8", "replace"),
               "at": int(time.time() * 1000)}
        self.r.lpush(self.k.bad, json.dumps(rec))
        self.r.ltrim(self.k.bad, 0, 9999)

    def expire_older_than(self, cutoff_ms: int, batch: int = 500) -> int:
        """Delete alerts (hash + index entries) with event time before cutoff; returns count."""
        removed = 0
        while True:
            ids = self.r.zrangebyscore(self.k.alerts, "-inf", f"({cutoff_ms}", start=0, num=batch)
            if not ids:
                return removed
            pipe = self.r.pipeline(transaction=False)
            for i in ids:
                pipe.hmget(self.k.alert(i.decode()), "device_id", "severity", "kind", "status")
            rows = pipe.execute()
            pipe = self.r.pipeline(transaction=True)
            for raw_id, (dev, sev, kind, status) in zip(ids, rows):
                i = raw_id.decode()
                pipe.delete(self.k.alert(i))
                pipe.zrem(self.k.alerts, i)
                if dev is not None:
                    d = dev.decode()
                    pipe.zrem(self.k.dev_alerts(d), i)
                    pipe.srem(self.k.dev_open(d), i)
                    pipe.zrem(self.k.index("severity", sev.decode()), i)
                    pipe.zrem(self.k.index("kind", kind.decode()), i)
                    pipe.zrem(self.k.index("status", status.decode()), i)
            pipe.execute()
            removed += len(ids)
