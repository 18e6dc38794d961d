"""Admission control: the API serves at most `api_concurrency` requests at once and answers 503 past saturation.

Why: a request runs in several hops through the thread pool (authentication, route, session teardown) and holds
its database connection between them. When more requests are in flight than there are threads and connections,
requests that hold a connection wait for a thread while threads wait for a connection or a lock, and the API stops
for good (measured: 45 concurrent clients of /v1/me stalled it until restarted). So the number admitted is kept
below both the thread pool (`THREAD_MARGIN` more threads) and the connection pool (store.db.POOL_MARGIN more
connections): an admitted request never waits for either. The others wait up to `api_queue_wait_s` for a slot,
at most `api_queue_max` of them; beyond, they get 503 with Retry-After at once, and the API recovers by itself as
soon as the load drops. Liveness, static files and event streams (which hold no connection between polls) are not
counted.
"""

from __future__ import annotations

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body

THREAD_MARGIN = 8  # threads beyond the admitted requests: streams' polls, file responses, the metrics collector
COUNTED_PREFIXES = ("/v1/", "/readyz", "/metrics")


def counted(path: str) -> bool:
    """Requests that use the database through the thread pool; event streams poll on a limiter of their own."""
    return path.startswith(COUNTED_PREFIXES) and not path.endswith("/events")


def busy(message: str) -> JSONResponse:
    return JSONResponse(error_body("busy", message), status_code=503, headers={"Retry-After": "1"})


class Admission:
    """Pure ASGI middleware (streams pass through untouched): a semaphore of `slots` with a bounded wait queue."""

    def __init__(self, app: ASGIApp, slots: int, wait_s: float, max_waiting: int) -> None:
        self.app, self.slots, self.wait_s, self.max_waiting = app, slots, wait_s, max_waiting
        self.in_flight = self.waiting = 0
        self._semaphore: anyio.Semaphore | None = None  # made in the event loop that serves the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not counted(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.slots)
        if not await self._admit(self._semaphore):
            message = (f"the server is saturated ({self.in_flight} requests in progress, {self.waiting} waiting); "
                       "retry in a moment")  # fmt: skip
            await busy(message)(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._semaphore.release()

    async def _admit(self, semaphore: anyio.Semaphore) -> bool:
        if semaphore.value > 0:
            await semaphore.acquire()
            return True
        if self.waiting >= self.max_waiting:
            return False
        self.waiting += 1
        try:
            with anyio.move_on_after(self.wait_s):
                await semaphore.acquire()
                return True
            return False
        finally:
            self.waiting -= 1


def install(app: FastAPI, slots: int, wait_s: float, max_waiting: int) -> None:
    """Admission control, a thread pool sized to it, and 503 (not 500) when the database is out of reach or a
    statement or lock wait passed its timeout (store.db sets them on PostgreSQL)."""
    app.add_middleware(Admission, slots=slots, wait_s=wait_s, max_waiting=max_waiting)
    app.state.threads = slots + THREAD_MARGIN

    @app.exception_handler(OperationalError)
    async def database_busy(_: Request, exc: OperationalError) -> JSONResponse:
        return busy(f"the database did not answer in time ({type(exc.orig).__name__}); retry in a moment")

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_: Request, exc: PoolTimeout) -> JSONResponse:
        return busy("no database connection became free in time; retry in a moment")


def size_thread_pool(app: FastAPI) -> None:
    """Called in the running event loop at start: the default thread limiter gets `app.state.threads` tokens."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = app.state.threads
