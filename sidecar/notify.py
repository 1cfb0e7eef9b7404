"""Webhook and SMTP notifications for newly opened alerts.

Routing: each webhook / e-mail route lists the severities it wants. Deduplication: a channel
sends a given alert_id at most once (a Redis `SET NX` claim per channel and alert, with an
in-process fallback when Redis is away). Rate limit: at most `notify_rate_per_device` alerts
per device per `notify_rate_window_s` are notified; the rest are counted as suppressed.
Sending happens in one worker thread so a slow receiver never stalls the consumer.

Webhook requests: JSON body (the alert plus `event` and `link`), header
`X-Vigil-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, `X-Vigil-Event`,
`X-Vigil-Delivery` (alert id); retried with exponential backoff on connection errors, 429 and 5xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import smtplib
import threading
import time
from email.message import EmailMessage
from typing import Any

import httpx
import redis

from sidecar import metrics
from sidecar.settings import SidecarSettings

log = logging.getLogger("vigil.sidecar.notify")


def sign(secret: str, body: bytes) -> str:
    """Signature header value for a webhook body.

    >>> sign("k", b"{}")
    'sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    """Queue + worker thread delivering notifications; see the module doc for the rules."""

    def __init__(self, settings: SidecarSettings, client: redis.Redis | None = None) -> None:
        self.s = settings
        self.r = client or redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=1)
        self.q: queue.Queue[dict | None] = queue.Queue(maxsize=10_000)
        self._seen: dict[str, float] = {}
        self._rate: dict[str, list[float]] = {}
        self._thread: threading.Thread | None = None
        self.http = httpx.Client(timeout=settings.webhook_timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self.s.webhooks or self.s.emails)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.q.put(None)
        if self._thread:
            self._thread.join(timeout)
        self.http.close()

    def submit(self, alert: dict[str, Any], event: str) -> None:
        """Queue an alert event; only openings are notified."""
        if event == "alert.new" and self.enabled:
            try:
                self.q.put_nowait(alert)
            except queue.Full:
                metrics.NOTIFICATIONS.labels("queue", "dropped").inc()

    def _run(self) -> None:
        while True:
            alert = self.q.get()
            if alert is None:
                return
            try:
                self.handle(alert)
            except Exception as e:  # noqa: BLE001 - one bad alert must not stop the worker
                log.warning("notification failed for %s: %r", alert.get("alert_id"), e)

    def handle(self, alert: dict[str, Any]) -> None:
        """Route, deduplicate, rate-limit and deliver one alert (blocking)."""
        sev = alert.get("severity")
        targets: list[tuple[str, Any]] = [("webhook", w) for w in self.s.webhooks if sev in w.severities]
        targets += [("email", e) for e in self.s.emails if sev in e.severities]
        if not targets:
            return
        if not self._allow(alert["device_id"], alert["alert_id"]):
            metrics.NOTIFICATIONS.labels("any", "rate_limited").inc()
            return
        for kind, route in targets:
            chan = hashlib.sha256(f"{kind}:{getattr(route, 'url', None) or ','.join(route.to)}".encode()).hexdigest()[:12]
            if not self._claim(chan, alert["alert_id"]):
                metrics.NOTIFICATIONS.labels(kind, "duplicate").inc()
                continue
            ok = self._webhook(route, alert) if kind == "webhook" else self._email(route, alert)
            metrics.NOTIFICATIONS.labels(kind, "sent" if ok else "failed").inc()
            if not ok:
                self._unclaim(chan, alert["alert_id"])

    def _claim(self, chan: str, alert_id: str) -> bool:
        key = f"{self.s.key_prefix}:notified:{chan}:{alert_id}"
        try:
            return bool(self.r.set(key, 1, nx=True, ex=30 * 86400))
        except redis.RedisError:
            if key in self._seen:
                return False
            self._seen[key] = time.time()
            return True

    def _unclaim(self, chan: str, alert_id: str) -> None:
        key = f"{self.s.key_prefix}:notified:{chan}:{alert_id}"
        self._seen.pop(key, None)
        try:
            self.r.delete(key)
        except redis.RedisError:
            pass

    def _allow(self, device: str, alert_id: str) -> bool:
        """Sliding-window-ish limit: a Redis counter per device and window bucket."""
        window = self.s.notify_rate_window_s
        bucket = int(time.time() // window)
        key = f"{self.s.key_prefix}:notify-rate:{device}:{bucket}"
        try:
            pipe = self.r.pipeline(transaction=True)
            pipe.incr(key)
            pipe.expire(key, window * 2)
            n = pipe.execute()[0]
        except redis.RedisError:
            hist = [t for t in self._rate.get(device, []) if t > time.time() - window]
            hist.append(time.time())
            self._rate[device] = hist
            n = len(hist)
        return n <= self.s.notify_rate_per_device

    def _payload(self, alert: dict[str, Any]) -> dict[str, Any]:
        return {**alert, "event": "alert.new",
                "link": f"{self.s.public_url.rstrip('/')}/v1/anomalies/{alert['alert_id']}"}

    def _webhook(self, route, alert: dict[str, Any]) -> bool:
        body = json.dumps(self._payload(alert), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Vigil-Event": "alert.new",
                   "X-Vigil-Delivery": alert["alert_id"], "User-Agent": "vigil-sidecar"}
        if route.secret:
            headers["X-Vigil-Signature"] = sign(route.secret, body)
        delay = self.s.webhook_backoff_s
        for attempt in range(self.s.webhook_retries + 1):
            try:
                r = self.http.post(route.url, content=body, headers=headers)
                if r.status_code < 300:
                    return True
                if r.status_code != 429 and r.status_code < 500:
                    log.warning("webhook %s refused alert %s: HTTP %s", route.url, alert["alert_id"], r.status_code)
                    return False
            except httpx.HTTPError as e:
                log.info("webhook %s attempt %d failed: %r", route.url, attempt + 1, e)
            if attempt < self.s.webhook_retries:
                metrics.NOTIFICATIONS.labels("webhook", "retry").inc()
                time.sleep(delay)
                delay *= 2
        return False

    def _email(self, route, alert: dict[str, Any]) -> bool:
        msg = EmailMessage()
        msg["Subject"] = f"[Vigil] {alert['severity']} {alert['kind']} on {alert['device_id']}"
        msg["From"] = self.s.smtp_from
        msg["To"] = ", ".join(route.to)
        msg["X-Vigil-Alert-Id"] = alert["alert_id"]
        p = self._payload(alert)
        lines = [f"{k}: {p.get(k)}" for k in ("device_id", "kind", "severity", "window_start", "window_end",
                                               "score", "threshold", "model", "detail", "link")]
        feats = ", ".join(f"{f['feature']} ({f['contribution']:.2f})" for f in alert.get("top_features") or [])
        msg.set_content("\n".join(lines + [f"top features: {feats or '-'}"]) + "\n")
        try:
            with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=10) as smtp:
                if self.s.smtp_starttls:
                    smtp.starttls()
                if self.s.smtp_user:
                    smtp.login(self.s.smtp_user, self.s.smtp_password)
                smtp.send_message(msg)
            return True
        except (OSError, smtplib.SMTPException) as e:
            log.warning("smtp %s:%s failed for alert %s: %r", self.s.smtp_host, self.s.smtp_port, alert["alert_id"], e)
            return False
