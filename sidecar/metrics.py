"""Prometheus metrics of the sidecar (default registry, served at /metrics)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

REQUESTS = Counter("vigil_sidecar_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "vigil_sidecar_http_request_seconds", "HTTP request latency", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ALERTS_CONSUMED = Counter("vigil_sidecar_alerts_consumed_total", "Alert messages consumed", ["result"])
SCORES_CONSUMED = Counter("vigil_sidecar_scores_consumed_total", "window-scores messages consumed")
BAD_MESSAGES = Counter("vigil_sidecar_bad_messages_total", "Unparseable messages kept aside", ["topic"])
ALERTS_EXPIRED = Counter("vigil_sidecar_alerts_expired_total", "Alerts removed by retention")
CONSUMER_ERRORS = Counter("vigil_sidecar_consumer_errors_total", "Consumer loop errors", ["source"])
READINGS = Counter("vigil_sidecar_readings_total", "Readings posted to /v1/readings", ["result"])
REJECTED = Counter("vigil_sidecar_readings_rejected_total", "Rejected readings by reason", ["reason"])
NOTIFICATIONS = Counter("vigil_sidecar_notifications_total", "Notifications", ["channel", "result"])
SCORE_REQUESTS = Counter("vigil_sidecar_score_requests_total", "POST /v1/score calls", ["result"])


class MetricsMiddleware:
    """Pure ASGI middleware: request count and latency by route template (not raw path)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = {"code": 500}

        async def _send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(scope["method"], path, str(status["code"])).inc()
            if path != "/v1/stream":
                LATENCY.labels(scope["method"], path).observe(time.perf_counter() - start)
