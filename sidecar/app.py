"""FastAPI factory: wiring, lifespan (consumer, notifier), limits, CORS, JSON errors, health."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sidecar.api import router
from sidecar.auth import token_hash
from sidecar.ingest import KafkaGateway, KafkaUnavailable, kafka_reachable
from sidecar.metrics import MetricsMiddleware
from sidecar.queries import Queries
from sidecar.scoring import BadWindow, LiveScorer, NoBundle
from sidecar.settings import SidecarSettings

log = logging.getLogger("vigil.sidecar")
STATIC = Path(__file__).parent / "static"


def _err(status: int, error: str, detail) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


class BodyLimit:
    """Pure ASGI middleware: 413 for bodies over `limit` bytes (declared or streamed)."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        too_big = _err(413, "payload_too_large", f"request body exceeds {self.limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await too_big(scope, receive, send)
        seen = 0

        async def _receive():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooBig()
            return msg

        try:
            await self.app(scope, _receive, send)
        except _TooBig:
            await too_big(scope, receive, send)


class _TooBig(Exception):
    pass


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(_: Request, e: HTTPException):
        names = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                 413: "payload_too_large", 422: "invalid_request", 503: "unavailable"}
        resp = _err(e.status_code, names.get(e.status_code, "error"), e.detail)
        for k, v in (e.headers or {}).items():
            resp.headers[k] = v
        return resp

    from starlette.exceptions import HTTPException as StarletteHTTPException

    app.add_exception_handler(StarletteHTTPException, _http)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, e: RequestValidationError):
        errs = [{"loc": list(x.get("loc", ())), "msg": x.get("msg", "")} for x in e.errors()[:20]]
        return _err(422, "invalid_request", jsonable_encoder(errs))

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis(_: Request, e: Exception):
        return _err(503, "redis_unavailable", "Redis is unreachable; alert queries are unavailable "
                    "until it is back (ingestion still works)")

    @app.exception_handler(KafkaUnavailable)
    async def _kafka(_: Request, e: KafkaUnavailable):
        return _err(503, "kafka_unavailable", "Kafka is unreachable; nothing from this request was "
                    "accepted, retry later")

    @app.exception_handler(NoBundle)
    async def _nobundle(_: Request, e: NoBundle):
        return _err(503, "no_model", str(e))

    @app.exception_handler(BadWindow)
    async def _badwindow(_: Request, e: BadWindow):
        return _err(422, "invalid_window", str(e))

    @app.exception_handler(Exception)
    async def _any(request: Request, e: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _err(500, "internal_error", "internal error; details are in the server log")


def create_app(settings: SidecarSettings | None = None) -> FastAPI:
    """Build the app. Background consumer and notifier start in the lifespan (if enabled)."""
    s = settings or SidecarSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from sidecar.consumer import AlertConsumer
        from sidecar.notify import Notifier

        notifier = Notifier(s)
        notifier.start()
        consumer = AlertConsumer(s, on_new=notifier.submit) if s.consume else None
        if consumer:
            consumer.start()
        app.state.consumer, app.state.notifier = consumer, notifier
        try:
            yield
        finally:
            if consumer:
                await asyncio.to_thread(consumer.stop)
            await asyncio.to_thread(notifier.stop)
            app.state.kafka.close()
            await app.state.redis.aclose()
            await app.state.stream_redis.aclose()

    app = FastAPI(title="Vigil sidecar", version="1.0", lifespan=lifespan,
                  description="Alerts, device status, live stream, ingestion and scoring for Vigil.")
    app.state.settings = s
    app.state.write_hashes = [h.lower() for h in s.write_token_hashes] + (
        [token_hash(s.write_token.get_secret_value())] if s.write_token else [])
    app.state.read_hashes = [h.lower() for h in s.read_token_hashes]
    app.state.redis = aioredis.Redis.from_url(s.redis_url, socket_timeout=s.redis_timeout_s,
                                              socket_connect_timeout=s.redis_timeout_s)
    app.state.stream_redis = aioredis.Redis.from_url(s.redis_url, socket_timeout=15,
                                                     socket_connect_timeout=s.redis_timeout_s)
    app.state.queries = Queries(app.state.redis, s.key_prefix)
    app.state.kafka = KafkaGateway(s)
    app.state.scorer = LiveScorer(s)
    _install_handlers(app)
    app.include_router(router)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], responses={503: {"description": "a dependency is unreachable"}})
    async def readyz() -> JSONResponse:
        """Readiness: Redis answers PING and a Kafka bootstrap address accepts connections."""
        checks = {}
        try:
            checks["redis"] = bool(await app.state.redis.ping())
        except Exception:  # noqa: BLE001
            checks["redis"] = False
        checks["kafka"] = await asyncio.to_thread(kafka_reachable, s.kafka_bootstrap)
        c = getattr(app.state, "consumer", None)
        body = {"ready": all(checks.values()), "checks": checks,
                "consumer_error": c.last_error if c else None}
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=s.max_body_bytes)
    if s.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=s.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])
    app.add_middleware(MetricsMiddleware)
    return app
