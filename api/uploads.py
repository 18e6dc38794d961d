"""Uploads: a body-size limit enforced while the request streams in, files checked without torch, never unpickled.

Starlette spools a multipart file to disk before the route runs; `UploadLimits` stops a request as soon as it
passes its route's limit (at once when Content-Length says so), so an oversized upload never fills the disk.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterator
from typing import IO, Any

from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import UPLOAD_LIMIT_KEY, error_body, invalid, too_large

_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100 << 20
MULTIPART_OVERHEAD = 64 << 10  # boundaries, part headers and small form fields around the file


class UploadLimits:
    """ASGI middleware: the upload routes get Starlette's RequestBodyLimitMiddleware with their own limit (settings
    differ per app, so it cannot be fixed where the routes are declared). It answers 413 at once for a too large
    Content-Length and otherwise counts the bytes as they arrive."""

    def __init__(self, app: ASGIApp, limits: dict[tuple[str, str], tuple[int, str]]) -> None:
        self.app, self.limits = app, limits
        self.limited = {key: RequestBodyLimitMiddleware(app, size + MULTIPART_OVERHEAD)
                        for key, (size, _) in limits.items()}  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (scope.get("method", ""), scope.get("path", "").rstrip("/"))
        if scope["type"] != "http" or key not in self.limited:
            await self.app(scope, receive, send)
            return
        scope[UPLOAD_LIMIT_KEY] = limit, setting = self.limits[key]
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit + MULTIPART_OVERHEAD:  # Starlette would answer in plain text
            error = too_large(limit, setting)
            response = JSONResponse(error_body(error.code, error.message), 413, headers={"Connection": "close"})
            await response(scope, receive, send)
            return
        await self.limited[key](scope, receive, send)


def file_size(f: IO[bytes]) -> int:
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    return size


def copy_limited(source: IO[bytes], target: IO[bytes], limit: int, setting: str) -> None:
    """Copy an upload to `target`, or 413 as soon as it passes `limit` bytes."""
    size = 0
    for piece in pieces(source):
        size += len(piece)
        if size > limit:
            raise too_large(limit, setting)
        target.write(piece)


def pieces(f: IO[bytes]) -> Iterator[bytes]:
    f.seek(0)
    while piece := f.read(1 << 20):
        yield piece


def inspect_safetensors(f: IO[bytes], size: int) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensor table, metadata) of a safetensors file; 422 for anything else (a pickle, a torch .pt, garbage).

    Only the JSON header is read and parsed; every tensor's dtype, shape and byte range is checked against the
    file's size.
    """
    f.seek(0)
    if size < 8:
        raise invalid("not a safetensors file: too short", "file")
    (header_size,) = struct.unpack("<Q", f.read(8))
    if header_size > min(MAX_HEADER_BYTES, size - 8):
        raise invalid("not a safetensors file (a pickle or .pt checkpoint is refused; save with safetensors)", "file")
    try:
        header = json.loads(f.read(header_size))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid("not a safetensors file: its header is not JSON", "file") from None
    if not isinstance(header, dict):
        raise invalid("not a safetensors file: its header is not a JSON object", "file")
    metadata = header.pop("__metadata__", None) or {}
    body = size - 8 - header_size
    for name, entry in header.items():
        try:
            itemsize = _ITEMSIZE[entry["dtype"]]
            begin, end = entry["data_offsets"]
            count = math.prod(int(d) for d in entry["shape"])
        except (KeyError, TypeError, ValueError):
            raise invalid(f"tensor {name!r}: malformed or unsupported entry in the header", "file") from None
        if not 0 <= begin <= end <= body or end - begin != count * itemsize:
            raise invalid(f"tensor {name!r}: its byte range does not match its shape and dtype", "file")
    return header, {str(k): str(v) for k, v in metadata.items()}
