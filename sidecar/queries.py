"""Async reads and small writes (ack, label) for the API, over the layout in `sidecar.store`."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import redis.asyncio as aioredis

from sidecar.store import Keys

_FIELDS = ("device_id", "severity", "kind", "status", "ts", "doc", "closed_at", "ack", "label")
SCAN_CAP = 5000

# ARGV: prefix, base zset, hi, lo, limit, after_ts, after_id, device, severity, kind, status, cap.
# Returns {last_scanned_ts, last_scanned_id, capped, ts1, id1, json1, ts2, ...}; up to limit+1 hits.
LIST_ALERTS = """
local p, base, hi, lo = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local limit, after_ts, after_id = tonumber(ARGV[5]), ARGV[6], ARGV[7]
local want = {ARGV[8], ARGV[9], ARGV[10], ARGV[11]}
local cap = tonumber(ARGV[12])
local out = {'', '', 0}
local n, offset, batch, scanned = 0, 0, limit + 1, 0
while n <= limit do
  if scanned >= cap then out[3] = 1; break end
  local ids = redis.call('ZREVRANGEBYSCORE', base, hi, lo, 'WITHSCORES', 'LIMIT', offset, batch)
  if #ids == 0 then break end
  offset = offset + #ids / 2
  for i = 1, #ids, 2 do
    local id, sc = ids[i], ids[i + 1]
    scanned = scanned + 1
    out[1], out[2] = sc, id
    if not (after_ts ~= '' and tonumber(sc) == tonumber(after_ts) and id >= after_id) then
      local f = redis.call('HMGET', p .. ':alert:' .. id, 'device_id', 'severity', 'kind', 'status',
                          'doc', 'closed_at', 'ack', 'label')
      if f[1] and (want[1] == '' or f[1] == want[1]) and (want[2] == '' or f[2] == want[2])
         and (want[3] == '' or f[3] == want[3]) and (want[4] == '' or f[4] == want[4]) then
        n = n + 1
        out[#out + 1] = sc
        out[#out + 1] = id
        out[#out + 1] = string.sub(f[5], 1, -2) .. ',"status":"' .. f[4] .. '","closed_at":' ..
          (f[6] or 'null') .. ',"ack":' .. (f[7] or 'null') .. ',"label":' .. (f[8] or 'null') .. '}'
        if n > limit then break end
      end
    end
    if scanned >= cap then break end
  end
  if batch < 200 then batch = 200 end
end
return out
"""


class BadCursor(ValueError):
    """The pagination cursor is not one this service issued."""


def encode_cursor(ts: int, alert_id: str) -> str:
    """Opaque cursor for the position after (ts, alert_id) in newest-first order.

    >>> decode_cursor(encode_cursor(12, "abc"))
    (12, 'abc')
    """
    return base64.urlsafe_b64encode(f"{ts}|{alert_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of :func:`encode_cursor`; raises :class:`BadCursor`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, alert_id = raw.split("|", 1)
        return int(ts), alert_id
    except (ValueError, UnicodeDecodeError) as e:
        raise BadCursor(f"invalid cursor {cursor[:40]!r}") from e


def render_alert(alert_id: str, row: list[bytes | None]) -> dict[str, Any] | None:
    """One stored alert as the API returns it (opening message + status, close, ack, label)."""
    if row[0] is None:
        return None
    f = dict(zip(_FIELDS, (v.decode() if v is not None else None for v in row)))
    out = json.loads(f["doc"])
    out["alert_id"] = alert_id
    out["status"] = f["status"]
    out["closed_at"] = json.loads(f["closed_at"]) if f["closed_at"] else None
    out["ack"] = json.loads(f["ack"]) if f["ack"] else None
    out["label"] = json.loads(f["label"]) if f["label"] else None
    return out


class Queries:
    """API-side access to Redis. Every method raises redis ConnectionError/TimeoutError when
    Redis is down; the app maps those to 503."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.r = client
        self.k = Keys(prefix)
        self._list = client.register_script(LIST_ALERTS)

    async def get_alert(self, alert_id: str) -> dict[str, Any] | None:
        row = await self.r.hmget(self.k.alert(alert_id), *_FIELDS)
        return render_alert(alert_id, row)

    async def list_alerts(self, *, device: str | None = None, since_ms: int | None = None,
                          until_ms: int | None = None, severity: str | None = None,
                          kind: str | None = None, status: str | None = None, limit: int = 50,
                          cursor: str | None = None) -> tuple[list[bytes], str | None]:
        """Newest first, as ready-made JSON documents (spliced in Redis by one Lua call).

        Scans the smallest matching index and filters the rest inside Redis; at most
        ``SCAN_CAP`` index entries per call, after which the cursor continues the scan."""
        filters = {"severity": severity, "kind": kind, "status": status}
        candidates = [self.k.dev_alerts(device)] if device else []
        candidates += [self.k.index(f, v) for f, v in filters.items() if v]
        if not candidates:
            base = self.k.alerts
        elif len(candidates) == 1:
            base = candidates[0]
        else:
            pipe = self.r.pipeline(transaction=False)
            for c in candidates:
                pipe.zcard(c)
            sizes = await pipe.execute()
            base = candidates[sizes.index(min(sizes))]
        hi: float | str = "+inf" if until_ms is None else until_ms
        after_ts, after_id = "", ""
        if cursor:
            ts, after_id = decode_cursor(cursor)
            after_ts = str(ts)
            hi = ts if until_ms is None else min(ts, until_ms)
        lo = "-inf" if since_ms is None else since_ms
        res = await self._list(args=[self.k.p, base, hi, lo, limit, after_ts, after_id, device or "",
                                     severity or "", kind or "", status or "", SCAN_CAP])
        last_ts, last_id, capped, flat = res[0], res[1], res[2], res[3:]
        items = [flat[i + 2] for i in range(0, len(flat), 3)]
        nxt = None
        if len(items) > limit:
            items = items[:limit]
            nxt = encode_cursor(int(float(flat[3 * (limit - 1)])), flat[3 * (limit - 1) + 1].decode())
        elif int(capped):
            nxt = encode_cursor(int(float(last_ts)), last_id.decode())
        return items, nxt

    async def set_ack(self, alert_id: str, by: str, note: str) -> dict[str, Any] | None:
        key = self.k.alert(alert_id)
        if not await self.r.exists(key):
            return None
        ack = {"by": by, "note": note, "at_ms": int(time.time() * 1000)}
        await self.r.hset(key, "ack", json.dumps(ack))
        return await self.get_alert(alert_id)

    async def set_label(self, alert_id: str, label: str, by: str, note: str) -> dict[str, Any] | None:
        """Store feedback on the alert and in ``P:labels`` (kept past alert retention)."""
        alert = await self.get_alert(alert_id)
        if alert is None:
            return None
        rec = {"alert_id": alert_id, "label": label, "by": by, "note": note,
               "labelled_at_ms": int(time.time() * 1000), "device_id": alert.get("device_id"),
               "kind": alert.get("kind"), "window_start": alert.get("window_start"),
               "window_end": alert.get("window_end"), "score": alert.get("score"),
               "threshold": alert.get("threshold"), "model": alert.get("model")}
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.k.alert(alert_id), "label", json.dumps(rec))
        pipe.hset(self.k.labels, alert_id, json.dumps(rec))
        await pipe.execute()
        alert["label"] = rec
        return alert

    async def list_devices(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        devs = await self.r.zrevrange(self.k.devices, offset, offset + limit - 1, withscores=True)
        return [await self._device(d.decode(), int(s)) for d, s in devs]

    async def get_device(self, device: str, scores: int = 200) -> dict[str, Any] | None:
        seen = await self.r.zscore(self.k.devices, device)
        if seen is None:
            return None
        d = await self._device(device, int(seen))
        d["open_alert_ids"] = sorted(x.decode() for x in await self.r.smembers(self.k.dev_open(device)))
        rows = await self.r.zrange(self.k.dev_scores(device), -scores, -1) if scores > 0 else []
        d["recent_scores"] = [_score_point(r.decode()) for r in rows]
        return d

    async def _device(self, device: str, seen_ms: int) -> dict[str, Any]:
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self.k.device(device))
        pipe.scard(self.k.dev_open(device))
        h, n_open = await pipe.execute()
        h = {k.decode(): v.decode() for k, v in h.items()}
        return {
            "device_id": device, "last_seen_ms": max(seen_ms, int(h.get("last_seen") or 0)),
            "last_score": float(h["last_score"]) if h.get("last_score") else None,
            "last_threshold": float(h["last_threshold"]) if h.get("last_threshold") else None,
            "model": json.loads(h["model"]) if h.get("model") else None,
            "open_alerts": int(n_open),
        }

    async def labels(self) -> list[dict[str, Any]]:
        return [json.loads(v) for v in (await self.r.hgetall(self.k.labels)).values()]


def _score_point(member: str) -> dict[str, Any]:
    ts, score, thr = member.split("|")
    return {"ts": int(ts), "score": float(score), "threshold": float(thr) if thr else None}
