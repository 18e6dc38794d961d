"""Errors as {"error": {"code", "message", "details"}} for every failure, validation included."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


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


def install(app: FastAPI) -> None:
    typed_validation_errors(app)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": ".".join(str(p) for p in e["loc"] if p != "body"), "message": e["msg"]}
                  for e in exc.errors()]  # fmt: skip
        fields = ", ".join(e["field"] for e in errors)
        return JSONResponse(error_body("invalid", f"invalid request: {fields}", errors), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        message = str(exc.detail)
        if exc.status_code == 413 and UPLOAD_LIMIT_KEY in request.scope:  # set by api.uploads.UploadLimits
            message = too_large(*request.scope[UPLOAD_LIMIT_KEY]).message
        return JSONResponse(error_body(code.get(exc.status_code, "error"), message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))  # fmt: skip
