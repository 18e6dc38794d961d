"""Liveness, readiness (database and broker reachable) and Prometheus metrics."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.errors import ApiError, responses

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answered on the event loop, without a thread or the database, so it answers under any load."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> dict[str, str]:
    checks = {}
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:
        checks["database"] = f"unreachable: {e.__class__.__name__}"
    try:
        request.app.state.queue.ping()
        checks["broker"] = "ok"
    except Exception as e:
        checks["broker"] = f"unreachable: {e.__class__.__name__}"
    if any(v != "ok" for v in checks.values()):
        raise ApiError(503, "not_ready", "not ready", checks)
    return checks


@router.get("/metrics", responses=responses(401))
def metrics(request: Request) -> Response:
    """Prometheus text format: sth_jobs{status,kind}, sth_running_jobs{worker,device,owner},
    sth_http_requests_total{method,route,status}, sth_http_request_seconds, process and Python metrics. They name
    users and workers: with STH_METRICS_TOKEN set, a scraper sends 'Authorization: Bearer <token>'."""
    token = request.app.state.settings.metrics_token
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if token and not hmac.compare_digest(sent.encode(), token.encode()):
        raise ApiError(401, "unauthorized", "/metrics needs 'Authorization: Bearer <STH_METRICS_TOKEN>'")
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
