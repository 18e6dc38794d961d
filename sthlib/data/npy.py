"""Streaming reads of untrusted .npy arrays (members of a .npz): the header alone, then the data chunk by chunk.

A header says how many bytes an array takes before any of its data is inflated, so a size limit is checked against
what the array claims, not against what a zip says about itself (its declared sizes can lie). Pickled (object)
arrays are refused from the header, never loaded.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from numpy.lib import format as npy_format

from sthlib.data.registry import DatasetError

CHUNK_BYTES = 8 << 20  # data is inflated and checked this much at a time
MAX_HEADER_BYTES = 10_000  # numpy's own limit for a header it loads without allow_pickle
# what reading a damaged or unsupported member raises (zipfile checks each member's CRC when its data ends)
DAMAGED = (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError, NotImplementedError)
_READERS = {(1, 0): (2, npy_format.read_array_header_1_0), (2, 0): (4, npy_format.read_array_header_2_0)}


@dataclass(frozen=True)
class NpyHeader:
    """What a .npy header claims: shape, dtype, and whether the data is stored in Fortran (column-major) order."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype[Any]

    @property
    def count(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.dtype.itemsize * self.count


def read_header(stream: IO[bytes], where: str) -> NpyHeader:
    """The header at the start of `stream`, which is left at the first data byte; DatasetError for anything that is
    not a plain numeric array (pickled objects, structured dtypes, a malformed or oversized header)."""
    try:
        version = npy_format.read_magic(stream)
        if version not in _READERS:
            raise ValueError(f"format version {version} (numpy.save writes 1.0 or 2.0 for numeric arrays)")
        width, reader = _READERS[version]
        prefix = stream.read(width)
        length = int.from_bytes(prefix, "little")
        if len(prefix) < width or length > MAX_HEADER_BYTES:  # numpy would read it whole before checking
            raise ValueError(f"a header of {length} bytes")
        shape, fortran_order, dtype = reader(io.BytesIO(prefix + stream.read(length)))
    except (ValueError, *DAMAGED) as e:
        raise DatasetError(f"{where}: not a readable .npy array ({e})") from None
    if dtype.hasobject:
        raise DatasetError(f"{where}: an array of Python objects is refused: a .npz must be readable without pickles")
    if dtype.names is not None or dtype.subdtype is not None or dtype.itemsize == 0:
        raise DatasetError(f"{where}: a structured dtype {dtype} is not an array of numbers")
    if any(d < 0 for d in shape):
        raise DatasetError(f"{where}: negative dimension in shape {shape}")
    return NpyHeader(tuple(int(d) for d in shape), bool(fortran_order), dtype)


def iter_chunks(stream: IO[bytes], header: NpyHeader, where: str) -> Iterator[np.ndarray]:
    """The array's elements in storage order, as flat arrays of about CHUNK_BYTES; DatasetError when the data is
    damaged, or shorter or longer than the header says."""
    step = max(1, CHUNK_BYTES // max(1, header.dtype.itemsize))
    for start in range(0, header.count, step):
        n = min(step, header.count - start)
        data = _read(stream, n * header.dtype.itemsize, where)
        if len(data) < n * header.dtype.itemsize:
            raise DatasetError(f"{where}: the data ends before the {header.shape} array its header describes")
        yield np.frombuffer(data, dtype=header.dtype, count=n)
    if _read(stream, 1, where):  # reading to the end also lets zipfile check the member's CRC
        raise DatasetError(f"{where}: more data than the {header.shape} array its header describes")


def _read(stream: IO[bytes], size: int, where: str) -> bytes:
    try:
        return stream.read(size)
    except DAMAGED as e:
        raise DatasetError(f"{where}: the file is damaged ({e})") from None


def shaped(flat: np.ndarray, header: NpyHeader) -> np.ndarray:
    """A flat array in storage order, viewed with the header's shape (no copy)."""
    return flat.reshape(header.shape[::-1]).T if header.fortran_order else flat.reshape(header.shape)


def write_header(stream: IO[bytes], header: NpyHeader) -> None:
    """A version 1.0 header (what numpy.save writes for these small dicts)."""
    description = {"descr": npy_format.dtype_to_descr(header.dtype), "fortran_order": header.fortran_order,
                   "shape": header.shape}  # fmt: skip
    npy_format.write_array_header_1_0(stream, description)
