"""Prometheus metrics: requests by route, and the job table as a team lead sees it (who runs what, where)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from fastapi import FastAPI
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.models import PARENT_KINDS, Job, JobStatus, User


class JobCollector(Collector):
    """Read at scrape time from the database, the record: nothing to keep in step across API processes."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("sth_jobs", "Jobs by status and kind", labels=["status", "kind"])
        running = GaugeMetricFamily("sth_running_jobs", "Running jobs by worker, device and owner",
                                    labels=["worker", "device", "owner"])  # fmt: skip
        with self.sessions() as session:
            for status, kind, count in session.execute(
                select(Job.status, Job.kind, func.count()).group_by(Job.status, Job.kind)
            ):
                jobs.add_metric([status.value, kind.value], count)
            for worker, device, owner, count in session.execute(
                select(Job.worker, Job.device, User.name, func.count())
                .join(User, Job.owner_id == User.id)
                .where(Job.status == JobStatus.running, Job.kind.not_in(PARENT_KINDS))  # a parent holds no worker
                .group_by(Job.worker, Job.device, User.name)
            ):
                running.add_metric([worker or "", device or "", owner], count)
        yield jobs
        yield running


class RequestMetrics:
    """Pure ASGI middleware (streams such as server-sent events pass through untouched): counts each request by
    its route template, so label values stay bounded, and times it to its response headers."""

    def __init__(self, app: ASGIApp, requests: Counter, seconds: Histogram) -> None:
        self.app, self.requests, self.seconds = app, requests, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500  # an exception that escapes becomes a 500 further out

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                self.seconds.labels(scope["method"], self._route(scope)).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            self.requests.labels(scope["method"], self._route(scope), str(status)).inc()

    @staticmethod
    def _route(scope: Scope) -> str:
        return str(getattr(scope.get("route"), "path", "unmatched"))


def install(app: FastAPI, sessions: sessionmaker[Session]) -> CollectorRegistry:
    """A registry per app (tests build several apps in one process) with request metrics and the job table."""
    registry = CollectorRegistry()
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    registry.register(JobCollector(sessions))
    requests = Counter("sth_http_requests", "HTTP requests by method, route and status",
                       ["method", "route", "status"], registry=registry)  # fmt: skip
    seconds = Histogram("sth_http_request_seconds", "Time to the response headers, by method and route",
                        ["method", "route"], registry=registry)  # fmt: skip

    app.add_middleware(RequestMetrics, requests=requests, seconds=seconds)
    return registry
