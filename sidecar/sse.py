"""GET /v1/stream: server-sent events from the Redis stream `P:events`.

Event ids are Redis stream ids, so a client reconnecting with `Last-Event-ID` (EventSource does
this by itself) resumes exactly after the last event it saw, as long as the event is still in
the capped stream. Without an id the stream starts at "now". If Redis goes away the server
sends an `error` event and ends the response; the client's reconnect resumes from its last id.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

EVENT_TYPES = ("alert.new", "alert.closed", "score")
_ID = re.compile(r"^\d+-\d+$")


def valid_event_id(value: str | None) -> bool:
    """Stream ids look like `1700000000000-0`.

    >>> valid_event_id("1700000000000-3"), valid_event_id("x")
    (True, False)
    """
    return bool(value) and bool(_ID.match(value))


async def start_id(r: aioredis.Redis, key: str, last_event_id: str | None) -> str:
    """Where to read from: after Last-Event-ID if given, else after the newest existing event."""
    if valid_event_id(last_event_id):
        return last_event_id  # type: ignore[return-value]
    newest = await r.xrevrange(key, count=1)
    return newest[0][0].decode() if newest else "0-0"


async def events(r: aioredis.Redis, key: str, after: str, types: set[str],
                 block_ms: int = 5000) -> AsyncIterator[str]:
    """Yield SSE frames for events after `after` (heartbeat comments while idle)."""
    yield "retry: 2000\n\n"
    last = after
    while True:
        try:
            resp = await r.xread({key: last}, count=200, block=block_ms)
        except (RedisConnectionError, RedisTimeoutError, OSError) as e:
            yield f"event: error\ndata: {json.dumps({'error': 'redis_unavailable', 'detail': str(e)[:200]})}\n\n"
            return
        if not resp:
            yield ": ping\n\n"
            continue
        for _key, entries in resp:
            for eid, fields in entries:
                last = eid.decode()
                typ = fields.get(b"type", b"").decode()
                if typ in types:
                    yield f"id: {last}\nevent: {typ}\ndata: {fields.get(b'data', b'{}').decode()}\n\n"
