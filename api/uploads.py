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
from api.inputs import check_json
from sthlib.specs import TrainSpec
from sthlib.validation import SpecError

_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100 << 20
MAX_DIMS = 32  # tensors this lab writes have at most 4; bounds the work of multiplying a crafted shape out
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
    file's size, with the types the format prescribes (a crafted header must not reach arithmetic or the database).
    """
    f.seek(0)
    if size < 8:
        raise invalid("not a safetensors file: too short", "file")
    (header_size,) = struct.unpack("<Q", f.read(8))
    if header_size > min(MAX_HEADER_BYTES, size - 8):
        raise invalid("not a safetensors file (a pickle or .pt checkpoint is refused; save with safetensors)", "file")
    header = _header(f.read(header_size))
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise invalid("not a safetensors file: __metadata__ must map strings to strings", "file")
    for name, entry in header.items():
        _check_tensor(name, entry, size - 8 - header_size)
    return header, metadata


def _header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, an integer past 4300 digits, nested too deep
        raise invalid("not a safetensors file: its header is not JSON", "file") from None
    if not isinstance(header, dict):
        raise invalid("not a safetensors file: its header is not a JSON object", "file")
    return header


def _is_size(value: Any) -> bool:
    """A dimension or byte offset: a non-negative JSON integer (not a bool, not a float) that fits in 64 bits."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _check_tensor(name: str, entry: Any, body: int) -> None:
    """One tensor's dtype, shape and byte range. A scalar (shape []) holds one element, as the format says."""
    if not isinstance(entry, dict):
        raise invalid(f"tensor {name!r}: its header entry is not an object", "file")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not (isinstance(dtype, str) and dtype in _ITEMSIZE):
        raise invalid(f"tensor {name!r}: dtype must be one of {', '.join(_ITEMSIZE)}", "file")
    if not (isinstance(shape, list) and len(shape) <= MAX_DIMS and all(_is_size(d) for d in shape)):
        raise invalid(f"tensor {name!r}: shape must be a list of at most {MAX_DIMS} non-negative integers", "file")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_size(o) for o in offsets)):
        raise invalid(f"tensor {name!r}: data_offsets must be [begin, end], two non-negative integers", "file")
    begin, end = offsets
    if not begin <= end <= body or end - begin != math.prod(shape) * _ITEMSIZE[dtype]:
        raise invalid(f"tensor {name!r}: its byte range does not match its shape and dtype", "file")


def sthlib_metadata(metadata: dict[str, str]) -> dict[str, Any]:
    """The JSON an sthlib checkpoint keeps under metadata key "sth" ({} for a plain safetensors file), with the
    types the upload reads (arch and input_scale strings, a metrics object, spec read as a TrainSpec); 422 "file"
    for any other, and for strings or numbers the database cannot store (NUL, NaN)."""
    try:
        meta = check_json(json.loads(metadata.get("sth") or "{}"))
    except (ValueError, RecursionError) as e:  # JSONDecodeError and InputError are ValueErrors
        raise invalid(f"the checkpoint's sth metadata is not JSON this server stores: {e}", "file") from None
    if not isinstance(meta, dict):
        raise invalid("the checkpoint's sth metadata must be a JSON object", "file")
    for key, kind in (("arch", str), ("input_scale", str), ("spec", dict), ("metrics", dict)):
        if meta.get(key) is not None and not isinstance(meta[key], kind):
            raise invalid(f"the checkpoint's sth metadata: {key} must be a JSON {kind.__name__}", "file")
    if meta.get("spec"):
        try:
            meta["spec"] = TrainSpec.from_dict(meta["spec"])
        except SpecError as e:
            raise invalid(f"the checkpoint's sth metadata: {e.at('spec').text}", "file") from None
    return meta
