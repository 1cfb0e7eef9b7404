"""Notifications end to end: alerts on Kafka → sidecar → a real local HTTP receiver (webhook)
and a real local SMTP server (aiosmtpd). Routing, HMAC signature, retries, dedup, rate limit."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import redis
from conftest import produce_json
from sidecar_fixtures import SidecarServer, free_port, make_alert, sidecar_env, tmp_base, wait_for

pytestmark = pytest.mark.e2e
T0 = 1_795_442_400_000
SECRET = "hook-secret"


class Receiver:
    """HTTP receiver recording every POST; answers 500 to the first `fail_first` requests."""

    def __init__(self, fail_first: int = 1) -> None:
        self.requests: list[dict] = []
        self.fail_left = fail_first
        rec = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                rec.requests.append({"headers": dict(self.headers), "body": body})
                status = 200
                if rec.fail_left > 0:
                    rec.fail_left -= 1
                    status = 500
                self.send_response(status)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[dict]:
        """Bodies of requests that were answered 200 (the first one failed on purpose)."""
        return [json.loads(r["body"]) for r in self.requests[1:]]


@pytest.fixture(scope="module")
def smtp():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    class Keep(Message):
        def __init__(self):
            super().__init__()
            self.messages = []

        def handle_message(self, message):
            self.messages.append(message)

        def prepare_message(self, session, envelope):
            return message_from_bytes(envelope.content)

    handler = Keep()
    ctl = Controller(handler, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, handler
    ctl.stop()


def test_webhook_and_email_notifications(stack, smtp):
    ctl, mail = smtp
    hook = Receiver(fail_first=1)
    tag = uuid.uuid4().hex[:8]
    env = sidecar_env(
        stack.kafka_bootstrap, stack.redis_url, tag,
        VIGIL_SIDECAR_WEBHOOKS=json.dumps([{"url": hook.url, "secret": SECRET, "severities": ["warning", "critical"]}]),
        VIGIL_SIDECAR_EMAILS=json.dumps([{"to": ["ops@example.test"], "severities": ["critical"]}]),
        VIGIL_SIDECAR_SMTP_HOST="127.0.0.1", VIGIL_SIDECAR_SMTP_PORT=str(ctl.port),
        VIGIL_SIDECAR_NOTIFY_RATE_PER_DEVICE="2", VIGIL_SIDECAR_WEBHOOK_BACKOFF_S="0.2",
    )
    stack.create_topics({env["VIGIL_SIDECAR_ANOMALIES_TOPIC"]: 1})
    base = tmp_base(f"notify-{tag}")
    sc = SidecarServer(env, base / "sidecar.log")
    sc.start()
    try:
        a1 = make_alert("pump-a", T0, severity="critical")
        a2 = make_alert("pump-a", T0 + 1000, severity="warning")
        a3 = make_alert("pump-a", T0 + 2000, severity="info")  # routed nowhere
        flood = [make_alert("pump-c", T0 + i * 1000, severity="warning") for i in range(4)]
        close = make_alert("pump-a", T0, severity="critical", status="closed", closed_end_ms=T0 + 9000)
        produce_json(stack.kafka_bootstrap, env["VIGIL_SIDECAR_ANOMALIES_TOPIC"],
                     [a1, a1, a2, a3, close, a1] + flood, key=lambda m: m["device_id"])
        wait_for(lambda: len(hook.delivered()) >= 4, 60, what="webhooks")
        wait_for(lambda: len(mail.messages) >= 1, 30, what="e-mail")
        time.sleep(3)  # anything extra (duplicates, rate-limited) would arrive now
        got = hook.delivered()
        # a1 (retried once after a 500), a2, and only 2 of pump-c's 4 (rate limit 2 per device)
        assert [b["alert_id"] for b in got[:2]] == [a1["alert_id"], a2["alert_id"]]
        assert len(got) == 4 and {b["device_id"] for b in got[2:]} == {"pump-c"}
        assert hook.requests[0]["body"] == hook.requests[1]["body"]  # the retry resent the same body
        for r in hook.requests:
            sig = "sha256=" + hmac.new(SECRET.encode(), r["body"], hashlib.sha256).hexdigest()
            assert r["headers"]["X-Vigil-Signature"] == sig
            assert r["headers"]["X-Vigil-Event"] == "alert.new"
        assert got[0]["link"].endswith(f"/v1/anomalies/{a1['alert_id']}")
        assert len(mail.messages) == 1  # only the critical alert, once
        m = mail.messages[0]
        assert m["To"] == "ops@example.test" and m["X-Vigil-Alert-Id"] == a1["alert_id"]
        assert "critical anomaly on pump-a" in m["Subject"]
        assert "vibration_rms.std" in m.get_payload()
        metrics = httpx.get(f"{sc.url}/metrics").text
        assert 'vigil_sidecar_notifications_total{channel="any",result="rate_limited"} 2.0' in metrics
    finally:
        sc.stop()
        hook.server.shutdown()
        r = redis.Redis.from_url(stack.redis_url)
        for k in r.scan_iter(f"{env['VIGIL_SIDECAR_KEY_PREFIX']}:*"):
            r.delete(k)


def test_notifier_dedup_survives_a_second_instance(stack, smtp):
    """Two notifier instances (e.g. a restart) sharing Redis send one webhook per alert."""
    from sidecar.notify import Notifier
    from sidecar.settings import SidecarSettings, WebhookRoute

    hook = Receiver(fail_first=0)
    s = SidecarSettings(redis_url=stack.redis_url, key_prefix=f"t-{uuid.uuid4().hex[:8]}",
                        webhooks=[WebhookRoute(url=hook.url, severities=["critical"])])
    alert = make_alert("pump-d", T0, severity="critical")
    try:
        Notifier(s).handle(alert)
        Notifier(s).handle(alert)
        assert len(hook.requests) == 1 and "X-Vigil-Signature" not in hook.requests[0]["headers"]
    finally:
        hook.server.shutdown()
        r = redis.Redis.from_url(stack.redis_url)
        for k in r.scan_iter(f"{s.key_prefix}:*"):
            r.delete(k)
