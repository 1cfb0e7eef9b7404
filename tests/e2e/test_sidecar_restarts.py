"""Failure behaviour with REAL restarts of a private Redis and a private Kafka (own ports and
dirs, so the shared stack is untouched): 503s while down, self-recovery, no lost or doubled alert."""

from __future__ import annotations

import uuid

import httpx
import pytest
import redis
from conftest import consume_n, produce_json
from sidecar_fixtures import (KafkaServer, RedisServer, SidecarServer, auth, make_alert,
                              sidecar_env, tmp_base, wait_for)

pytestmark = pytest.mark.e2e
T0 = 1_795_442_400_000


@pytest.fixture(scope="module")
def env():
    base = tmp_base("restarts")
    rs, ks = RedisServer(base), KafkaServer(base)
    rs.start()
    ks.start()
    tag = uuid.uuid4().hex[:8]
    e = sidecar_env(ks.bootstrap, rs.url, tag, VIGIL_SIDECAR_REDIS_TIMEOUT_S="0.5")
    produce_json(ks.bootstrap, e["VIGIL_SIDECAR_ANOMALIES_TOPIC"], [])  # topics auto-create on first use
    sc = SidecarServer(e, base / "sidecar.log")
    sc.start()
    http = httpx.Client(base_url=sc.url, timeout=20)
    yield rs, ks, sc, e, http
    sc.stop()
    ks.stop()
    rs.stop()


def _ids(http) -> list[str]:
    r = http.get("/v1/anomalies", params={"limit": 500})
    assert r.status_code == 200, r.text
    return [a["alert_id"] for a in r.json()["items"]]


def _new_events(rs: RedisServer, prefix: str) -> list[str]:
    r = redis.Redis.from_url(rs.url)
    return [f[b"data"] for _, f in r.xrange(f"{prefix}:events") if f[b"type"] == b"alert.new"]


def _readings(n: int, dev: str) -> list[dict]:
    return [{"device_id": dev, "ts": T0 + i, "values": {"temperature": 60.0}} for i in range(n)]


def test_redis_restart(env):
    rs, ks, sc, e, http = env
    topic, prefix = e["VIGIL_SIDECAR_ANOMALIES_TOPIC"], e["VIGIL_SIDECAR_KEY_PREFIX"]
    first = [make_alert(f"r-{i % 2}", T0 + i * 1000) for i in range(5)]
    produce_json(ks.bootstrap, topic, first, key=lambda m: m["device_id"])
    wait_for(lambda: len(_ids(http)) == 5, 60, what="first alerts")

    rs.stop()
    r = http.get("/v1/anomalies")
    assert r.status_code == 503 and r.json()["error"] == "redis_unavailable" and "Redis" in r.json()["detail"]
    assert http.get(f"/v1/anomalies/{first[0]['alert_id']}").status_code == 503
    assert http.get("/v1/devices").status_code == 503
    assert http.get("/readyz").status_code == 503
    assert http.get("/healthz").status_code == 200
    # ingestion does not need Redis
    ok = http.post("/v1/readings", json=_readings(3, "during-redis-outage"), headers=auth())
    assert ok.status_code == 202 and ok.json()["accepted"] == 3
    # alerts arriving during the outage (plus redeliveries of old ones) wait in Kafka
    second = [make_alert(f"r-{i % 2}", T0 + 10_000 + i * 1000, severity="critical") for i in range(5)]
    produce_json(ks.bootstrap, topic, second + first[:2], key=lambda m: m["device_id"])

    rs.start()
    wait_for(lambda: len(_ids(http)) == 10, 60, what="alerts after Redis restart")
    assert sorted(_ids(http)) == sorted(a["alert_id"] for a in first + second)
    news = _new_events(rs, prefix)
    assert len(news) == 10 and len(set(news)) == 10  # each alert announced exactly once
    recs = consume_n(ks.bootstrap, e["VIGIL_SIDECAR_READINGS_TOPIC"], 3, timeout_s=20)
    assert len(recs) == 3
    assert http.get("/readyz").status_code == 200


def test_kafka_restart(env):
    rs, ks, sc, e, http = env
    topic, prefix = e["VIGIL_SIDECAR_ANOMALIES_TOPIC"], e["VIGIL_SIDECAR_KEY_PREFIX"]
    before = len(_ids(http))
    ks.stop()
    r = http.post("/v1/readings", json=_readings(2, "during-kafka-outage"), headers=auth())
    assert r.status_code == 503 and r.json()["error"] == "kafka_unavailable"
    assert http.get("/v1/anomalies").status_code == 200  # reads keep working from Redis
    assert http.get("/readyz").json()["checks"] == {"redis": True, "kafka": False}

    ks.start()
    wait_for(lambda: http.post("/v1/readings", json=_readings(2, "after-kafka-restart"),
                               headers=auth()).status_code == 202, 90, interval=1, what="ingestion back")
    third = [make_alert(f"k-{i}", T0 + 50_000 + i * 1000) for i in range(4)]
    produce_json(ks.bootstrap, topic, third, key=lambda m: m["device_id"])
    wait_for(lambda: len(_ids(http)) == before + 4, 90, what="alerts after Kafka restart")
    news = _new_events(rs, prefix)
    assert len(news) == before + 4 and len(set(news)) == len(news)
    devs = [m.value for m in consume_n(ks.bootstrap, e["VIGIL_SIDECAR_READINGS_TOPIC"], 100, timeout_s=10)]
    assert not any(b"during-kafka-outage" in v for v in devs)  # the 503'd batch was not sent later
    assert any(b"after-kafka-restart" in v for v in devs)
