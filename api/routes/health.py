"""Liveness, readiness (database and broker reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from api.errors import ApiError

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


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format: sth_jobs{status,kind}, sth_running_jobs{worker,device,owner},
    sth_http_requests_total{method,route,status}, sth_http_request_seconds, process and Python metrics."""
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
