"""Sidecar units: pure helpers, plus the Redis layout (Lua apply/list) on a private redis-server."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from fastapi.testclient import TestClient
from sidecar_fixtures import RedisServer, free_port, make_alert, tmp_base

from sidecar import queries as q_mod
from sidecar.app import create_app
from sidecar.auth import matches, token_hash
from sidecar.queries import BadCursor, Queries, decode_cursor, encode_cursor
from sidecar.scoring import BadWindow, raw_window
from sidecar.settings import SidecarSettings
from sidecar.store import AlertWriter
from udfs.features import FeatureSpec

T0 = 1_795_442_400_000


def test_token_hash_and_constant_time_match():
    h = token_hash("s3cret")
    assert matches("s3cret", ["0" * 64, h]) and matches("s3cret", [h.upper()])
    assert not matches("s3cret!", [h]) and not matches("s3cret", [])


def test_cursor_roundtrip_and_garbage():
    assert decode_cursor(encode_cursor(T0, "abc|def")) == (T0, "abc|def")
    for bad in ("!!", "", encode_cursor(1, "x")[:-3] + "@@"):
        with pytest.raises(BadCursor):
            decode_cursor(bad)


def test_raw_window_keeps_gaps_for_the_jobs_imputation_and_rejects():
    spec = FeatureSpec(sensors=["a", "b"], window=4, per_sensor=["mean"])
    w = raw_window(spec, {"a": [None, 2.0, None, 4.0], "b": [1, 1, 1, 1]})
    assert w.dtype == np.float32 and np.isnan(w[[0, 2], 0]).all() and w[:, 1].tolist() == [1, 1, 1, 1]
    for values, msg in (({"a": [1, 2, 3, 4]}, "missing sensors"), ({"a": [1, 2], "b": [1, 2]}, "window is 4"),
                        ({"a": [1, 2, 3, float("inf")], "b": [1] * 4}, "non-finite")):
        with pytest.raises(BadWindow, match=msg):
            raw_window(spec, values)


def _settings(**kw) -> SidecarSettings:
    base = {"redis_url": f"redis://127.0.0.1:{free_port()}/0", "kafka_bootstrap": f"127.0.0.1:{free_port()}",
            "consume": False, "write_token": "tok"}
    return SidecarSettings(**{**base, **kw})


def test_redis_down_gives_503_json_and_kafka_down_gives_503():
    with TestClient(create_app(_settings(redis_timeout_s=0.3))) as c:
        r = c.get("/v1/anomalies")
        assert r.status_code == 503 and r.json()["error"] == "redis_unavailable"
        assert c.get("/v1/devices/x").status_code == 503
        assert c.get("/readyz").json() == {"ready": False, "checks": {"redis": False, "kafka": False},
                                           "consumer_error": None}
        r = c.post("/v1/readings", json=[{"device_id": "p", "ts": T0, "values": {}}],
                   headers={"Authorization": "Bearer tok"})
        assert r.status_code == 503 and r.json()["error"] == "kafka_unavailable"
        assert "Traceback" not in r.text


def test_auth_limits_and_read_tokens():
    s = _settings(max_body_bytes=1000, read_auth=True, read_token_hashes=[token_hash("reader")])
    with TestClient(create_app(s)) as c:
        assert c.post("/v1/readings", json=[]).status_code == 401
        assert c.post("/v1/readings", json=[], headers={"Authorization": "Bearer reader"}).status_code == 401
        r = c.post("/v1/readings", content=b"[" + b" " * 2000 + b"]", headers={"Authorization": "Bearer tok"})
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
        assert c.get("/v1/anomalies").status_code == 401
        # a valid read token passes auth (then fails on the absent Redis, proving auth came first)
        assert c.get("/v1/anomalies", headers={"Authorization": "Bearer reader"}).status_code == 503
        assert c.get("/v1/anomalies?access_token=reader").status_code == 503
        assert c.get("/healthz").status_code == 200
    with TestClient(create_app(_settings(write_token=None))) as c:
        r = c.post("/v1/readings", json=[], headers={"Authorization": "Bearer tok"})
        assert r.status_code == 401 and "no write token configured" in r.json()["detail"]


def test_score_without_bundle_is_503():
    with TestClient(create_app(_settings())) as c:
        r = c.post("/v1/score", json={"values": {"a": [1.0]}}, headers={"Authorization": "Bearer tok"})
        assert r.status_code == 503 and r.json()["error"] == "no_model"


@pytest.fixture(scope="module")
def rs():
    server = RedisServer(tmp_base("unit"))
    server.start()
    yield server
    server.stop()


def test_apply_alert_is_idempotent_and_never_reopens(rs):
    w = AlertWriter(redis.Redis.from_url(rs.url), "u1")
    a = make_alert("pump-1", T0)
    closed = make_alert("pump-1", T0, status="closed", closed_end_ms=T0 + 5000)
    assert w.apply_alert(a) is True and w.apply_alert(a) is False
    assert w.apply_alert(closed) is True and w.apply_alert(closed) is False
    assert w.apply_alert(a) is False  # a late redelivery of the opening does not reopen
    r = w.r
    h = r.hgetall(f"u1:alert:{a['alert_id']}")
    assert h[b"status"] == b"closed" and json.loads(h[b"closed_at"]) == closed["closed_at"]
    assert r.zcard("u1:idx:status:open") == 0 and r.zcard("u1:idx:status:closed") == 1
    assert r.scard("u1:dev:pump-1:open") == 0
    assert [f[b"type"] for _, f in r.xrange("u1:events")] == [b"alert.new", b"alert.closed"]
    got = asyncio.run(Queries(aioredis.Redis.from_url(rs.url), "u1").get_alert(a["alert_id"]))
    assert got["status"] == "closed" and got["score"] == a["score"] and got["ack"] is None


def test_list_matches_get_and_scan_cap_continues_with_cursor(rs, monkeypatch):
    w = AlertWriter(redis.Redis.from_url(rs.url), "u2")
    alerts = [make_alert(f"pump-{i % 4}", T0 + i * 1000, severity="critical" if i % 8 < 4 else "info")
              for i in range(40)]
    for a in alerts:
        w.apply_alert(a)

    async def run():
        qs = Queries(aioredis.Redis.from_url(rs.url), "u2")
        items, _ = await qs.list_alerts(limit=1)
        assert json.loads(items[0]) == await qs.get_alert(alerts[-1]["alert_id"])
        monkeypatch.setattr(q_mod, "SCAN_CAP", 7)  # force capped scans: results must still be complete
        seen, cursor, calls = [], None, 0
        while True:
            items, cursor = await qs.list_alerts(device="pump-0", severity="critical", limit=2, cursor=cursor)
            seen += [json.loads(x)["alert_id"] for x in items]
            calls += 1
            if not cursor:
                return seen, calls

    seen, calls = asyncio.run(run())
    want = [a["alert_id"] for a in reversed(alerts) if a["device_id"] == "pump-0" and a["severity"] == "critical"]
    assert len(want) == 5 and seen == want and calls >= 3


def test_retention_removes_old_alerts_everywhere(rs):
    w = AlertWriter(redis.Redis.from_url(rs.url), "u3")
    for i in range(5):
        w.apply_alert(make_alert("pump-1", T0 + i * 1000, kind="sensor_stuck"))
    assert w.expire_older_than(T0 + 3000) == 3
    r = w.r
    assert r.zcard("u3:alerts") == 2 and r.zcard("u3:dev:pump-1:alerts") == 2
    assert r.zcard("u3:idx:kind:sensor_stuck") == 2 and r.scard("u3:dev:pump-1:open") == 2
    assert len(list(r.scan_iter("u3:alert:*"))) == 2
