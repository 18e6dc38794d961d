"""Errors as {"error": {"code", "message", "details"}} for every failure, validation included."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.inputs import InputError
from sthlib.validation import SpecError, show

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error: {"error": {"code", "message", "details"}}; for 422, details name the field."""

    error: ErrorDetail


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer (Swagger shows them with the error schema)."""
    meaning = {401: "no API key, or an unknown or revoked one", 403: "another member's: only its owner or an admin",
               404: "no such resource", 409: "the name is taken", 413: "the upload is too large",
               422: "invalid request: the message says what to change, details name the field"}  # fmt: skip
    return {s: {"model": ErrorBody, "description": meaning[s]} for s in statuses}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "not_found", f"no {what} {ident!r}")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


UPLOAD_LIMIT_KEY = "sth.upload_limit"  # scope key: (bytes, setting) of the upload route a request is for


def too_large(limit: int, setting: str) -> ApiError:
    return ApiError(413, "too_large", f"upload exceeds {limit} bytes ({setting})")


def invalid(message: str, field: str | None = None) -> ApiError:
    return ApiError(422, "invalid", message, {"field": field} if field else None)


def typed_validation_errors(app: FastAPI) -> None:
    """FastAPI documents its own 422 body (HTTPValidationError); this app answers 422 with ErrorBody like every
    other error, so the generated document says so."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = generate()
            for ops in spec["paths"].values():
                for op in ops.values():
                    if "422" in op.get("responses", {}):
                        op["responses"]["422"] = {
                            "description": responses(422)[422]["description"],
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                        }
            for unused in ("HTTPValidationError", "ValidationError"):
                spec.get("components", {}).get("schemas", {}).pop(unused, None)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _field(error: Any) -> str:
    """The dotted field of one pydantic error, down to the key an InputError names inside a dict field."""
    cause = (error.get("ctx") or {}).get("error")
    where = [*error["loc"], *(cause.path if isinstance(cause, InputError) else ())]
    return ".".join(str(p) for p in where if p != "body")


def _message(error: Any) -> str:
    """pydantic's message, with the value sent when it is short (what was wrong, in the user's notation)."""
    if error["type"] in ("missing", "extra_forbidden") or "input" not in error:
        return "unknown field" if error["type"] == "extra_forbidden" else str(error["msg"])
    return f"{error['msg']}, got {show(error['input'])}"


class InternalErrors:
    """ASGI middleware: an exception no handler turned into an answer becomes a JSON 500 (code "internal") instead
    of Starlette's text/plain, logged here with its traceback; its text stays in the log, never in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception:
            log.exception("unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:  # the status line is out: nothing can be answered any more
                raise
            await internal_error()(scope, receive, send)


def internal_error() -> JSONResponse:
    return JSONResponse(error_body("internal", "internal error: the server failed to answer; it is logged, please "
                                   "report the time and request"), status_code=500)  # fmt: skip


def install(app: FastAPI) -> None:
    typed_validation_errors(app)
    app.add_middleware(InternalErrors)

    @app.exception_handler(Exception)
    async def middleware_error(_: Request, exc: Exception) -> JSONResponse:
        """A failure in a middleware outside InternalErrors: Starlette's ServerErrorMiddleware answers with this
        body instead of text/plain, then re-raises, so that the server logs it with its traceback."""
        return internal_error()

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(SpecError)
    async def spec_error(_: Request, exc: SpecError) -> JSONResponse:
        """A spec field refused by sthlib.validation or a spec's own checks: its path, message and hint."""
        return JSONResponse(error_body("invalid", exc.text, exc.to_dict()), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e), "message": _message(e)} for e in exc.errors()]
        message = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        details = {"field": errors[0]["field"], **({"also": errors[1:]} if len(errors) > 1 else {})}
        return JSONResponse(error_body("invalid", message, details), status_code=422)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        """The database refused a value (out of its column's range, too long, a character it cannot store): the
        client's value, since the server's own are checked; every field the edge knows of is refused before."""
        log.warning("database refused a value of %s %s: %s", request.method, request.url.path, exc.orig)
        message = "a value is out of range or not storable; check lengths, numbers and characters"
        return JSONResponse(error_body("invalid", message), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                413: "too_large"}  # fmt: skip
        message = str(exc.detail)
        if exc.status_code == 413 and UPLOAD_LIMIT_KEY in request.scope:  # set by api.uploads.UploadLimits
            message = too_large(*request.scope[UPLOAD_LIMIT_KEY]).message
        return JSONResponse(error_body(code.get(exc.status_code, "error"), message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip
