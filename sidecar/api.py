"""The /v1 routes. Redis/Kafka failures surface as exceptions that `sidecar.app` maps to 503."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from sidecar import sse
from sidecar.auth import require_read, require_write
from sidecar.ingest import ingest
from sidecar.queries import BadCursor
from sidecar.scoring import score_window
from sidecar.store import to_ms

class ErrorOut(BaseModel):
    """Every error response: a short code and a human detail (never a stack trace)."""

    error: str
    detail: Any = Field(description="message, or a list of {loc, msg} for invalid requests")


# Documented on every /v1 operation; 401 only matters for writes (and reads with read_auth).
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in (
        (400, "malformed request (bad cursor, unparseable body)"), (401, "missing or invalid bearer token"),
        (404, "no such alert or device"), (413, "body or batch too large"),
        (422, "invalid parameters or body"), (503, "Redis, Kafka or the model is unavailable"))
}
router = APIRouter(prefix="/v1", responses=ERRORS)
Severity = Literal["info", "warning", "critical"]
Kind = Literal["anomaly", "stream_silent", "sensor_stuck", "out_of_range"]
Status = Literal["open", "closed"]


class AlertPage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(None, description="pass as `cursor` to get the next page")


class AckIn(BaseModel):
    by: str = Field("", max_length=200)
    note: str = Field("", max_length=2000)


class LabelIn(BaseModel):
    label: Literal["normal", "anomaly"]
    by: str = Field("", max_length=200)
    note: str = Field("", max_length=2000)


class IngestOut(BaseModel):
    accepted: int
    rejected: int
    errors: list[dict[str, Any]] = Field(description="one entry per rejected reading: index, reason, detail")


class ScoreIn(BaseModel):
    device_id: str | None = Field(None, max_length=256, description="selects a per-device threshold")
    values: dict[str, list[float | None]] = Field(
        ..., description="sensor → the window's values, oldest first; null = missing (imputed)")


def _time(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    ms = to_ms(value)
    if ms is None:
        raise HTTPException(422, f"{name}: expected ISO-8601 time or epoch milliseconds, got {value[:40]!r}")
    return ms


@router.get("/anomalies", response_class=Response, dependencies=[Depends(require_read)],
            responses={200: {"model": AlertPage, "description": "a page of alerts"}})
async def list_anomalies(
    request: Request,
    device: str | None = Query(None, max_length=256),
    since: str | None = Query(None, max_length=64, description="ISO-8601 or epoch ms (window end)"),
    until: str | None = Query(None, max_length=64, description="ISO-8601 or epoch ms (window end)"),
    severity: Severity | None = None,
    kind: Kind | None = None,
    status: Status | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=512),
) -> Response:
    """Alerts newest first, filtered; follow `next_cursor` for more."""
    try:
        items, nxt = await request.app.state.queries.list_alerts(
            device=device, since_ms=_time("since", since), until_ms=_time("until", until),
            severity=severity, kind=kind, status=status, limit=limit, cursor=cursor)
    except BadCursor as e:
        raise HTTPException(400, str(e)) from None
    # the items are JSON documents assembled in Redis: join them, no parse/re-serialise
    body = b'{"items":[' + b",".join(items) + b'],"next_cursor":' + json.dumps(nxt).encode() + b"}"
    return Response(body, media_type="application/json")


@router.get("/anomalies/{alert_id}", dependencies=[Depends(require_read)])
async def get_anomaly(request: Request, alert_id: str = Path(..., min_length=1, max_length=256)) -> dict[str, Any]:
    """One alert (opening message, status, close time, ack, label)."""
    a = await request.app.state.queries.get_alert(alert_id)
    if a is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return a


@router.post("/anomalies/{alert_id}/ack", dependencies=[Depends(require_write)])
async def ack_anomaly(request: Request, alert_id: str = Path(..., min_length=1, max_length=256), body: AckIn = Body(default_factory=AckIn)) -> dict[str, Any]:
    """Acknowledge an alert (who and a note)."""
    a = await request.app.state.queries.set_ack(alert_id, body.by, body.note)
    if a is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return a


@router.post("/anomalies/{alert_id}/label", dependencies=[Depends(require_write)])
async def label_anomaly(request: Request, body: LabelIn, alert_id: str = Path(..., min_length=1, max_length=256)) -> dict[str, Any]:
    """Feedback for retraining: was this really an anomaly? (`vigil labels export` reads these.)"""
    a = await request.app.state.queries.set_label(alert_id, body.label, body.by, body.note)
    if a is None:
        raise HTTPException(404, f"no alert {alert_id!r}")
    return a


@router.get("/devices", dependencies=[Depends(require_read)])
async def list_devices(request: Request, limit: int = Query(100, ge=1, le=1000),
                       offset: int = Query(0, ge=0, le=1_000_000)) -> list[dict[str, Any]]:
    """Devices by last seen: last score, open alert count."""
    return await request.app.state.queries.list_devices(limit, offset)


@router.get("/devices/{device_id}", dependencies=[Depends(require_read)])
async def get_device(request: Request, device_id: str = Path(..., min_length=1, max_length=256),
                     scores: int = Query(200, ge=0, le=5000, description="recent scores to include")) -> dict[str, Any]:
    """One device: status, open alert ids, recent window scores."""
    d = await request.app.state.queries.get_device(device_id, scores)
    if d is None:
        raise HTTPException(404, f"no device {device_id!r}")
    return d


@router.get("/stream", dependencies=[Depends(require_read)], response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}}})
async def stream(
    request: Request,
    types: str = Query("alert.new,alert.closed", max_length=100,
                       description="comma list of alert.new, alert.closed, score"),
    last_event_id: str | None = Header(None, max_length=64),
    since_id: str | None = Query(None, max_length=64, description="like Last-Event-ID"),
) -> StreamingResponse:
    """Server-sent events of new and closed alerts (and scores if asked); resumable."""
    wanted = {t.strip() for t in types.split(",") if t.strip()}
    bad = wanted - set(sse.EVENT_TYPES)
    if bad or not wanted:
        raise HTTPException(422, f"unknown event types {sorted(bad)}; choose from {list(sse.EVENT_TYPES)}")
    r = request.app.state.stream_redis
    key = request.app.state.queries.k.events
    after = await sse.start_id(r, key, last_event_id or since_id)
    return StreamingResponse(sse.events(r, key, after, wanted), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.post("/readings", status_code=202, response_model=IngestOut, dependencies=[Depends(require_write)])
async def post_readings(request: Request, items: list[Any] = Body(..., max_length=100_000)) -> IngestOut:
    """Batch ingestion into Kafka `sensor-readings` (validated like the job; rejects → DLQ)."""
    s = request.app.state.settings
    if len(items) > s.max_batch:
        raise HTTPException(413, f"batch of {len(items)} readings > limit {s.max_batch}")
    out = await run_in_threadpool(ingest, request.app.state.kafka, s, items)
    return IngestOut(**out)


@router.post("/score", dependencies=[Depends(require_write)])
async def post_score(request: Request, body: ScoreIn) -> dict[str, Any]:
    """Score one window synchronously with the live bundle (503 when none is loaded)."""
    return await run_in_threadpool(score_window, request.app.state.scorer, body.device_id, body.values)
