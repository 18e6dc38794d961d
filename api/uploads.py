"""Uploads: read with a size limit, check safetensors files without torch and without ever unpickling."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from fastapi import UploadFile

from api.errors import ApiError, invalid

_ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
MAX_HEADER_BYTES = 100 << 20


async def read_limited(upload: UploadFile, limit: int) -> bytes:
    """The whole upload, or 413 as soon as it passes `limit` bytes."""
    pieces, size = [], 0
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"upload exceeds {limit} bytes (STH_MAX_UPLOAD_BYTES)")
        pieces.append(chunk)
    return b"".join(pieces)


def inspect_safetensors(data: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensor table, metadata) of a safetensors file; 422 for anything else (a pickle, a torch .pt, garbage).

    Only the JSON header is parsed; every tensor's dtype, shape and byte range is checked against the file.
    """
    if len(data) < 8:
        raise invalid("not a safetensors file: too short", "file")
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise invalid("not a safetensors file (a pickle or .pt checkpoint is refused; save with safetensors)", "file")
    try:
        header = json.loads(data[8 : 8 + header_size])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise invalid("not a safetensors file: its header is not JSON", "file") from None
    if not isinstance(header, dict):
        raise invalid("not a safetensors file: its header is not a JSON object", "file")
    metadata = header.pop("__metadata__", None) or {}
    body = len(data) - 8 - header_size
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
