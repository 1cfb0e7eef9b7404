"""End-to-end: `vigil sidecar` on the real stack (Kafka + Redis), alerts produced to Kafka."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from conftest import consume_n, produce_json
from sidecar_fixtures import (SidecarServer, auth, make_alert, sidecar_env, tmp_base,
                              wait_for)

pytestmark = pytest.mark.e2e
T0 = 1_795_442_400_000  # 2026-11-23T14:00:00Z


@pytest.fixture(scope="module")
def svc(stack):
    tag = uuid.uuid4().hex[:10]
    base = tmp_base(f"api-{tag}")
    from bundle_factory import make_zscore_bundle

    bundle = make_zscore_bundle(base / "models", sensors=["temperature", "vibration_rms"], window=16)
    env = sidecar_env(stack.kafka_bootstrap, stack.redis_url, tag,
                      VIGIL_SIDECAR_BUNDLE_PATH=str(bundle.parent),
                      VIGIL_SIDECAR_CORS_ORIGINS='["http://example.test"]',
                      VIGIL_SIDECAR_MAX_BODY_BYTES="200000")
    stack.create_topics({env["VIGIL_SIDECAR_ANOMALIES_TOPIC"]: 2, env["VIGIL_SIDECAR_SCORES_TOPIC"]: 1,
                         env["VIGIL_SIDECAR_READINGS_TOPIC"]: 2, env["VIGIL_SIDECAR_DLQ_TOPIC"]: 1})
    server = SidecarServer(env, base / "sidecar.log")
    server.start()
    r = redis.Redis.from_url(stack.redis_url)
    server.tag, server.base, server.r, server.prefix = tag, base, r, env["VIGIL_SIDECAR_KEY_PREFIX"]
    server.topic = env["VIGIL_SIDECAR_ANOMALIES_TOPIC"]
    server.bootstrap = stack.kafka_bootstrap
    server.http = httpx.Client(base_url=server.url, timeout=10)
    server.env = env
    yield server
    server.stop()
    for key in r.scan_iter(f"{server.prefix}:*", count=1000):
        r.delete(key)


def _alerts(svc, **params):
    r = svc.http.get("/v1/anomalies", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.fixture(scope="module")
def seeded(svc):
    """12 alerts on 3 devices (+ duplicates, one close, one bad message), stored once each."""
    alerts = []
    for i in range(12):
        alerts.append(make_alert(f"pump-{i % 3}", T0 + i * 60_000,
                                 severity=["info", "warning", "critical"][i % 3],
                                 kind=["anomaly", "sensor_stuck"][i % 2], score=0.8 + i / 100))
    close = make_alert("pump-0", T0, severity="info", status="closed", closed_end_ms=T0 + 30 * 60_000)
    msgs = alerts + alerts[:4] + [close, close, b"{not json"]
    produce_json(svc.bootstrap, svc.topic, msgs,
                 key=lambda m: m["device_id"] if isinstance(m, dict) else "x")
    wait_for(lambda: len(_alerts(svc)) == 12 and _alerts(svc, status="closed"), 60, what="12 alerts stored")
    wait_for(lambda: svc.r.llen(f"{svc.prefix}:bad-messages") == 1, 30, what="bad message kept")
    return alerts, close


def test_alerts_stored_once_with_status(svc, seeded):
    alerts, close = seeded
    got = _alerts(svc)
    assert sorted(a["alert_id"] for a in got) == sorted(a["alert_id"] for a in alerts)
    one = svc.http.get(f"/v1/anomalies/{close['alert_id']}").json()
    assert one["status"] == "closed" and one["closed_at"] == close["closed_at"]
    assert one["score"] == alerts[0]["score"]  # the opening message's fields are kept
    events = svc.r.xrange(f"{svc.prefix}:events")
    kinds = [e[1][b"type"].decode() for e in events if e[1][b"type"] != b"score"]
    assert kinds.count("alert.new") == 12 and kinds.count("alert.closed") == 1  # duplicates: no events
    bad = json.loads(svc.r.lindex(f"{svc.prefix}:bad-messages", 0))
    assert bad["raw"] == "{not json" and "anomalies" in bad["where"]


def test_filters_and_cursor_pagination(svc, seeded):
    alerts, _ = seeded
    assert {a["device_id"] for a in _alerts(svc, device="pump-1")} == {"pump-1"}
    assert len(_alerts(svc, device="pump-1")) == 4
    assert all(a["severity"] == "critical" for a in _alerts(svc, severity="critical"))
    assert len(_alerts(svc, kind="sensor_stuck")) == 6
    assert len(_alerts(svc, status="open")) == 11
    assert len(_alerts(svc, device="pump-0", status="open", kind="anomaly")) == 1  # i=6; i=0 closed
    win = _alerts(svc, since="2026-11-23T14:02:00Z", until=str(T0 + 5 * 60_000))
    assert len(win) == 4
    seen, cursor, pages = [], None, 0
    while True:
        r = svc.http.get("/v1/anomalies", params={"limit": 5, **({"cursor": cursor} if cursor else {})}).json()
        seen += [a["alert_id"] for a in r["items"]]
        pages += 1
        cursor = r["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and len(seen) == 12 and len(set(seen)) == 12
    ts = [a["window_end"] for a in _alerts(svc, status="open")]
    assert ts == sorted(ts, reverse=True)
    bad = svc.http.get("/v1/anomalies", params={"cursor": "!!"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_request"
    assert svc.http.get("/v1/anomalies", params={"since": "yesterday"}).status_code == 422


def test_write_auth_ack_label_and_export(svc, seeded):
    alerts, _ = seeded
    aid = alerts[3]["alert_id"]
    assert svc.http.post(f"/v1/anomalies/{aid}/ack", json={"by": "op"}).status_code == 401
    r = svc.http.post(f"/v1/anomalies/{aid}/ack", json={"by": "op"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and r.json() == {"error": "unauthorized", "detail": "invalid token"}
    r = svc.http.post(f"/v1/anomalies/{aid}/ack", json={"by": "op", "note": "looking"}, headers=auth())
    assert r.status_code == 200 and r.json()["ack"]["by"] == "op"
    assert svc.http.post("/v1/anomalies/nope/ack", json={}, headers=auth()).status_code == 404
    for a, lab in ((alerts[3], "normal"), (alerts[4], "anomaly")):
        r = svc.http.post(f"/v1/anomalies/{a['alert_id']}/label", json={"label": lab, "by": "op"}, headers=auth())
        assert r.status_code == 200 and r.json()["label"]["label"] == lab
    assert svc.http.post(f"/v1/anomalies/{aid}/label", json={"label": "maybe"}, headers=auth()).status_code == 422
    env = {**svc.env}
    for fmt in ("csv", "jsonl"):
        out = svc.base / f"labels.{fmt}"
        subprocess.run([str(Path(sys.executable).parent / "vigil"), "labels", "export", "--out", str(out)],
                       env={**os.environ, **env}, check=True, timeout=60)
        if fmt == "csv":
            rows = list(csv.DictReader(out.open()))
        else:
            rows = [json.loads(x) for x in out.read_text().splitlines()]
        assert {(x["alert_id"], x["label"]) for x in rows} == {(alerts[3]["alert_id"], "normal"),
                                                               (alerts[4]["alert_id"], "anomaly")}
        assert all(x["device_id"] and x["window_end"] for x in rows)


def test_readings_ingestion_to_kafka_and_dlq(svc):
    good = [{"device_id": f"pump-{i}", "ts": T0 + i, "values": {"temperature": 70.0 + i, "rpm": None}}
            for i in range(5)]
    bad = [{"device_id": "pump-x", "ts": "never", "values": {}}, {"ts": T0, "values": {}},
           {"device_id": "pump-y", "ts": T0, "values": {"rpm": -5}}, 42]
    r = svc.http.post("/v1/readings", json=good + bad, headers=auth())
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 5 and body["rejected"] == 4
    assert [(e["index"], e["reason"]) for e in body["errors"]] == [
        (5, "bad_ts"), (6, "missing_device"), (7, "out_of_range"), (8, "not_object")]
    recs = consume_n(svc.bootstrap, svc.env["VIGIL_SIDECAR_READINGS_TOPIC"], 5, timeout_s=30)
    assert sorted(json.loads(x.value)["device_id"] for x in recs) == [f"pump-{i}" for i in range(5)]
    assert all(x.key == json.loads(x.value)["device_id"].encode() for x in recs)
    dlq = consume_n(svc.bootstrap, svc.env["VIGIL_SIDECAR_DLQ_TOPIC"], 4, timeout_s=30, decode_json=True)
    assert sorted(d["reason"] for d in dlq) == ["bad_ts", "missing_device", "not_object", "out_of_range"]
    assert svc.http.post("/v1/readings", json=good).status_code == 401
    assert svc.http.post("/v1/readings", json={"not": "a list"}, headers=auth()).status_code == 422
    big = [{"device_id": "p", "ts": T0, "values": {"x": 1.0}}] * 8000
    r = svc.http.post("/v1/readings", json=big, headers=auth())
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"


def test_device_status_from_window_scores(svc, seeded):
    scores = [{"device_id": "pump-9", "window_end": T0 + i * 1000, "score": 0.1 * i, "threshold": 0.7,
               "model": {"name": "iforest", "version": "v1"}} for i in range(10)]
    produce_json(svc.bootstrap, svc.env["VIGIL_SIDECAR_SCORES_TOPIC"], scores, key=lambda m: m["device_id"])
    d = wait_for(lambda: (lambda x: x if x.status_code == 200 and len(x.json()["recent_scores"]) == 10 else None)(
        svc.http.get("/v1/devices/pump-9")), 30, what="device scores").json()
    assert d["last_score"] == pytest.approx(0.9) and d["last_threshold"] == 0.7 and d["open_alerts"] == 0
    assert [p["ts"] for p in d["recent_scores"]] == [T0 + i * 1000 for i in range(10)]
    devs = {x["device_id"]: x for x in svc.http.get("/v1/devices").json()}
    assert devs["pump-0"]["open_alerts"] == 3 and devs["pump-1"]["open_alerts"] == 4
    assert svc.http.get("/v1/devices/ghost").status_code == 404


def _read_sse(url: str, headers: dict, n: int, timeout: float = 30.0) -> list[dict]:
    out, cur = [], {}
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if line.startswith("id: "):
                cur["id"] = line[4:]
            elif line.startswith("event: "):
                cur["event"] = line[7:]
            elif line.startswith("data: "):
                cur["data"] = json.loads(line[6:])
            elif line == "" and "data" in cur:
                out.append(cur)
                cur = {}
                if len(out) >= n:
                    break
            if time.monotonic() > deadline:
                break
    return out


def test_sse_stream_resumes_with_last_event_id(svc, seeded):
    first = [make_alert("pump-sse", T0 + 10**8 + i * 1000) for i in range(3)]
    later = [make_alert("pump-sse", T0 + 2 * 10**8 + i * 1000, severity="critical") for i in range(4)]
    import threading

    got: list = []
    t = threading.Thread(target=lambda: got.extend(_read_sse(f"{svc.url}/v1/stream", {}, 3)))
    t.start()
    time.sleep(1.0)  # the stream starts at "now"
    produce_json(svc.bootstrap, svc.topic, first, key=lambda m: m["device_id"])
    t.join(40)
    assert [e["data"]["alert_id"] for e in got] == [a["alert_id"] for a in first]
    assert all(e["event"] == "alert.new" for e in got)
    # disconnected: 4 more alerts + a close arrive; resume from the last id seen
    close = make_alert("pump-sse", T0 + 10**8, status="closed", closed_end_ms=T0 + 10**8 + 5000)
    produce_json(svc.bootstrap, svc.topic, later + [close], key=lambda m: m["device_id"])
    wait_for(lambda: len(_alerts(svc, device="pump-sse")) == 7, 30, what="later alerts stored")
    resumed = _read_sse(f"{svc.url}/v1/stream", {"Last-Event-ID": got[-1]["id"]}, 5)
    assert [e["data"]["alert_id"] for e in resumed] == [a["alert_id"] for a in later] + [close["alert_id"]]
    assert [e["event"] for e in resumed][-1] == "alert.closed"
    assert svc.http.get("/v1/stream", params={"types": "bogus"}).status_code == 422


def test_score_endpoint_with_live_bundle(svc):
    from bundle_factory import normal_windows

    w = normal_windows(1, 16, 2, seed=7)[0]
    values = {"temperature": w[:, 0].tolist(), "vibration_rms": w[:, 1].tolist()}
    r = svc.http.post("/v1/score", json={"device_id": "pump-1", "values": values}, headers=auth())
    assert r.status_code == 200, r.text
    normal = r.json()
    spiked = {**values, "vibration_rms": values["vibration_rms"][:-1] + [80.0]}
    hi = svc.http.post("/v1/score", json={"values": spiked}, headers=auth()).json()
    assert hi["score"] > normal["score"] and hi["model"]["name"] == "zscore"
    assert hi["top_features"][0]["feature"].startswith("vibration_rms.")
    gaps = {**values, "temperature": [None] + values["temperature"][1:]}
    assert svc.http.post("/v1/score", json={"values": gaps}, headers=auth()).json()["imputed_fraction"] == pytest.approx(1 / 32)
    short = svc.http.post("/v1/score", json={"values": {"temperature": [1.0], "vibration_rms": [1.0]}}, headers=auth())
    assert short.status_code == 422 and "window is 16" in short.json()["detail"]
    assert svc.http.post("/v1/score", json={"values": values}).status_code == 401


def test_ops_endpoints_cors_and_errors(svc, seeded):
    assert svc.http.get("/healthz").json() == {"status": "ok"}
    ready = svc.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"redis": True, "kafka": True}
    m = svc.http.get("/metrics").text
    assert 'vigil_sidecar_alerts_consumed_total{result="stored"}' in m
    assert 'vigil_sidecar_http_requests_total{method="GET",route="/v1/anomalies"' in m
    pre = svc.http.options("/v1/anomalies", headers={"Origin": "http://example.test",
                                                     "Access-Control-Request-Method": "GET"})
    assert pre.headers.get("access-control-allow-origin") == "http://example.test"
    other = svc.http.options("/v1/anomalies", headers={"Origin": "http://evil.test",
                                                       "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in other.headers
    r = svc.http.post("/v1/readings", content=b"[" + b" " * 300_000 + b"]",
                      headers={**auth(), "Content-Type": "application/json"})
    assert r.status_code == 413
    r = svc.http.post("/v1/readings", content=b"[{", headers={**auth(), "Content-Type": "application/json"})
    assert r.status_code == 422 and set(r.json()) == {"error", "detail"} and "Traceback" not in r.text
    assert svc.http.get("/docs").status_code == 200
    assert "/v1/anomalies" in svc.http.get("/openapi.json").json()["paths"]
