"""Request bodies bounded in size and in time, so no request can hold the API's memory, a worker thread or a
connection for long: a pure ASGI middleware in front of the app.

A body other than an upload's (a JSON request) may take at most `max_json_bytes`: a larger Content-Length is
answered 413 before anything is read, and a body without one (chunked) is cut off as soon as it passes the limit.
Uploads keep their own size limits (api.uploads.UploadLimits). A body other than an upload's must arrive whole
within `timeout_s` of the request's start, and no body, uploads included, may pause longer than `timeout_s`
between two pieces: 408. Both answers are the JSON error body and close the connection, so a client that declares
a huge Content-Length and sends a trickle is let go.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import NoReturn

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

Route = tuple[str, str]  # (method, path) as in api.uploads.UploadLimits


class BodyRefused(HTTPException):
    """Raised into the app from `receive` once the answer is sent. An HTTPException, so FastAPI's body reader passes
    it on instead of turning it into a 400; whatever the app answers to it is dropped."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status, message, headers={"Connection": "close"})
        self.code = code


class BodyLimits:
    """The size limit for bodies other than the `uploads` routes', the time limits for every body (see above)."""

    def __init__(self, app: ASGIApp, max_json_bytes: int, timeout_s: float, uploads: Collection[Route]) -> None:
        self.app, self.max_json_bytes, self.timeout_s, self.uploads = app, max_json_bytes, timeout_s, set(uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload = (scope["method"], scope["path"].rstrip("/")) in self.uploads
        limit = math.inf if upload else self.max_json_bytes
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            await _answer(too_large(self.max_json_bytes), scope, receive, send)
            return
        body = _Body(scope, receive, send, limit, self.timeout_s, whole=not upload)
        try:
            await self.app(scope, body.receive, body.send)
        except BodyRefused:
            if not body.answered:
                raise


def too_large(limit: float) -> BodyRefused:
    return BodyRefused(413, "too_large", f"the request body exceeds {limit:.0f} bytes (STH_MAX_JSON_BYTES); files "
                       "are uploaded with POST /v1/datasets or /v1/models")  # fmt: skip


class _Body:
    """One request's receive and send: counts and times the body, answers on the app's behalf when it is refused,
    and drops what the app sends after that."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: float, timeout_s: float,
                 whole: bool) -> None:  # fmt: skip
        self.scope, self._receive, self._send, self.limit, self.timeout_s = scope, receive, send, limit, timeout_s
        self.deadline = anyio.current_time() + timeout_s if whole else math.inf
        self.size, self.done, self.started, self.answered = 0, False, False, False

    async def receive(self) -> Message:
        if self.done:  # after the body: waiting for a disconnect (server-sent events) is not limited
            return await self._receive()
        wait = min(self.timeout_s, self.deadline - anyio.current_time())
        try:
            with anyio.fail_after(max(wait, 0)):
                message = await self._receive()
        except TimeoutError:
            await self.refuse(BodyRefused(408, "timeout", self._late_message()))
        if message["type"] != "http.request":
            self.done = True
            return message
        self.size += len(message.get("body", b""))
        if self.size > self.limit:
            await self.refuse(too_large(self.limit))
        self.done = not message.get("more_body", False)
        return message

    def _late_message(self) -> str:
        if math.isinf(self.deadline):
            return f"the request body paused for more than {self.timeout_s:g} s (STH_BODY_TIMEOUT_S)"
        return f"the request body did not arrive within {self.timeout_s:g} s (STH_BODY_TIMEOUT_S)"

    async def refuse(self, error: BodyRefused) -> NoReturn:
        """Answer with `error` (unless the app has begun its own answer) and raise it into the app."""
        if not self.started:
            self.started = self.answered = True  # once: an app that swallows the error and reads on gets no second
            await _answer(error, self.scope, self._receive, self._send)
        raise error

    async def send(self, message: Message) -> None:
        if self.answered:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _answer(error: BodyRefused, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(error_body(error.code, str(error.detail)), error.status_code, headers=error.headers)
    await response(scope, receive, send)
