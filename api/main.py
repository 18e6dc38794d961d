"""The FastAPI application: `create_app()`; migrations are applied at start."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import admission, errors, metrics
from api.lifecycle import Drain
from api.limits import BodyLimits
from api.recent import Recent
from api.routes import catalogue, compare, datasets, health, jobs, models, queue, reports, users, workers
from api.uploads import UploadLimits
from broker.sender import JobQueue
from store.db import migrate, session_factory
from store.models import User
from store.settings import Settings, get_settings

log = logging.getLogger(__name__)
STREAM_POLL_THREADS = 4
DASHBOARD = Path(__file__).parent / "dashboard"  # static files: the dashboard is a client of /v1 like any other

DESCRIPTION = """Train CNNs with the pixel-similarity regularizer S^Th and attack them.

Authorize with an API key (`sth admin create-key`), then: POST /v1/train-jobs with the `quick` preset, watch
GET /v1/jobs/{id}, evaluate the model with POST /v1/eval-jobs, compare with GET /v1/compare. The web dashboard is
at [/dashboard/](/dashboard/)."""


def create_app(settings: Settings | None = None, migrate_on_start: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate_on_start:
            migrate(settings.database_url)
        admission.size_thread_pool(app)
        # event streams poll the database on threads of their own: open streams never take the admitted requests'
        app.state.stream_polls = anyio.CapacityLimiter(STREAM_POLL_THREADS)
        app.state.drain.hook_signals()
        yield

    # Swagger UI and ReDoc assets are served by this app itself: no CDN, so /docs works on an air-gapped server
    app = FastAPIOffline(title="STh Lab", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.sessions = session_factory(settings.database_url, settings.api_concurrency)
    app.state.queue = JobQueue(settings.broker_url)
    app.state.drain = Drain()
    app.state.recent_pages = Recent[bytes](settings.api_cache_s)
    app.state.recent_keys = Recent[User | None](settings.api_cache_s, maxsize=4096)
    errors.install(app)
    admission.install(app, settings.api_concurrency, settings.api_queue_wait_s, settings.api_queue_max)
    app.state.metrics = metrics.install(app, app.state.sessions)
    upload_limits = {("POST", "/v1/models"): (settings.max_upload_bytes, "STH_MAX_UPLOAD_BYTES"),
                     ("POST", "/v1/datasets"): (settings.max_dataset_bytes, "STH_MAX_DATASET_BYTES")}  # fmt: skip
    app.add_middleware(UploadLimits, limits=upload_limits)
    app.add_middleware(BodyLimits, max_json_bytes=settings.max_json_bytes, timeout_s=settings.body_timeout_s,
                       uploads=upload_limits.keys())  # fmt: skip
    for module in (health, catalogue, datasets, jobs, queue, models, compare, reports, users, workers):
        app.include_router(module.router)
    app.mount("/dashboard", StaticFiles(directory=DASHBOARD, html=True), name="dashboard")

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    return app
