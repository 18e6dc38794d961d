"""User datasets as .npz files: arrays ``images`` and ``labels`` (train), optional ``test_images``/``test_labels``.

Images are uint8 (N,H,W), (N,C,H,W) or (N,H,W,C) with C in {1, 3}, or floats in [0, 1]. Arrays are read from
their .npy headers and then streamed chunk by chunk (``sthlib.data.npy``): an object array is rejected, never
unpickled, and reading float images costs the uint8 result plus a chunk, not several float copies.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, ClassVar

import numpy as np

from sthlib.data.npy import DAMAGED, NpyHeader, iter_chunks, read_header, shaped, write_header
from sthlib.data.registry import UPLOAD_PREFIX, DatasetError, DatasetInfo, DatasetSource, Split, uploads_dir

_KEYS: dict[Split, tuple[str, str]] = {"train": ("images", "labels"), "test": ("test_images", "test_labels")}
Check = Callable[[np.ndarray, str], np.ndarray]  # one chunk of a member -> its checked, converted elements


def nchw(images: np.ndarray, where: str) -> np.ndarray:
    """A view of user images as (N,C,H,W); DatasetError saying what is wrong with their shape."""
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise DatasetError(f"{where}: images must have 3 or 4 dimensions, got shape {images.shape}")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    if images.shape[1] not in (1, 3):
        raise DatasetError(f"{where}: images need 1 or 3 channels (NCHW or NHWC), got shape {images.shape}")
    return images


def image_shape(header: NpyHeader, where: str) -> tuple[int, ...]:
    """(N,C,H,W) of the images a header describes, checked before any of their data is read."""
    if header.dtype != np.uint8 and not np.issubdtype(header.dtype, np.floating):
        raise DatasetError(f"{where}: images must be uint8 or float in [0, 1], got {header.dtype}")
    return nchw(np.broadcast_to(np.uint8(0), header.shape), where).shape  # a stand-in that takes no memory


def check_label_header(header: NpyHeader, n: int, where: str) -> None:
    if header.shape != (n,):
        raise DatasetError(f"{where}: labels must have shape ({n},), got {header.shape}")
    if not np.issubdtype(header.dtype, np.integer):
        raise DatasetError(f"{where}: labels must be non-negative integers, got {header.dtype}")


def to_uint8(chunk: np.ndarray, where: str) -> np.ndarray:
    """Image values as uint8 (floats in [0, 1] scaled by 255 and rounded, as training reads them)."""
    if chunk.dtype == np.uint8:
        return chunk
    if chunk.size and (not np.isfinite(chunk).all() or chunk.min() < 0 or chunk.max() > 1):
        raise DatasetError(f"{where}: float images must be finite and in [0, 1]")
    return np.rint(chunk * 255).astype(np.uint8)


def to_labels(chunk: np.ndarray, where: str) -> np.ndarray:
    labels = chunk.astype(np.int64)  # checked after: a uint64 beyond int64 turns negative
    if labels.size and labels.min() < 0:
        raise DatasetError(f"{where}: labels must be non-negative integers")
    return labels


def npz_headers(path: Path) -> dict[str, NpyHeader]:
    """Every member's .npy header by array name, read without inflating any data; DatasetError otherwise."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            others = [m.filename for m in members if not m.filename.endswith(".npy")]
            if others:
                raise DatasetError(f"a .npz holds only .npy arrays; found {', '.join(others[:5])}")
            headers = {}
            for member in members:
                key = member.filename.removesuffix(".npy")
                with archive.open(member) as stream:
                    headers[key] = read_header(stream, f"{path}[{key}]")
            return headers
    except DAMAGED:
        raise DatasetError(f"{path}: not a .npz file (write one with numpy.savez or numpy.savez_compressed)") from None


@dataclass(frozen=True)
class Kind:
    """How the arrays of one kind are checked, chunk by chunk, and the dtype they are converted to."""

    check: Callable[[np.ndarray, str], np.ndarray]
    dtype: type[np.generic]


IMAGES, LABELS = Kind(to_uint8, np.uint8), Kind(to_labels, np.int64)


def stream_member(path: Path, key: str, kind: Kind, out: IO[bytes] | None = None) -> Iterator[np.ndarray]:
    """The checked, converted chunks of one member; with `out`, also written there as a .npy of `kind.dtype`."""
    where = f"{path}[{key}]"
    with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
        header = read_header(stream, where)
        if out is not None:
            write_header(out, replace(header, dtype=np.dtype(kind.dtype)))
        for chunk in iter_chunks(stream, header, where):
            checked = kind.check(chunk, where)
            if out is not None:
                out.write(checked)  # type: ignore[call-overload]
            yield checked


def read_member(path: Path, key: str, header: NpyHeader, kind: Kind) -> np.ndarray:
    """One member, checked chunk by chunk into its final dtype: the result and one chunk are all it holds."""
    flat = np.empty(header.count, kind.dtype)
    start = 0
    for chunk in stream_member(path, key, kind):
        flat[start : start + len(chunk)] = chunk
        start += len(chunk)
    return shaped(flat, header)


class NpzSource(DatasetSource):
    how_to_provide = "write a .npz with arrays 'images' and 'labels' (and optionally 'test_images', 'test_labels')"

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = path.expanduser()
        self.name = name or f"npz:{path}"
        self._headers: dict[str, NpyHeader] | None = None
        self.info = (
            self._describe()
            if self.path.is_file()
            else DatasetInfo(
                name=self.name, num_classes=0, channels=1, size=0, family="other", description="missing file"
            )
        )

    def headers(self) -> dict[str, NpyHeader]:
        if self._headers is None:
            self._headers = npz_headers(self.path)
        return self._headers

    def _describe(self) -> DatasetInfo:
        """From the headers and the labels: no image data is read."""
        headers = self.headers()
        if "images" not in headers or "labels" not in headers:
            raise DatasetError(f"{self.path}: needs arrays 'images' and 'labels', found {sorted(headers)}")
        _, channels, height, width = image_shape(headers["images"], f"{self.path}[images]")
        if height != width:
            raise DatasetError(f"{self.path}: images must be square, got {height}x{width}")
        most = max((int(self._labels(split).max(initial=-1)) for split in self.split_sizes()), default=-1)
        return DatasetInfo(name=self.name, num_classes=most + 1, channels=channels, size=height, family="other",
                           description=f"user dataset {self.path.name}")  # fmt: skip

    def _keys(self, split: Split) -> tuple[str, str]:
        ikey, lkey = _KEYS[split]
        if ikey not in self.headers() or lkey not in self.headers():
            raise DatasetError(f"{self.path} has no {split} split: add arrays {ikey!r} and {lkey!r}")
        return ikey, lkey

    def _labels(self, split: Split) -> np.ndarray:
        ikey, lkey = self._keys(split)
        n = image_shape(self.headers()[ikey], f"{self.path}[{ikey}]")[0]
        check_label_header(self.headers()[lkey], n, f"{self.path}[{lkey}]")
        return read_member(self.path, lkey, self.headers()[lkey], LABELS)

    def _split(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        ikey, _ = self._keys(split)
        labels = self._labels(split)  # first: its header checks are cheap
        images = read_member(self.path, ikey, self.headers()[ikey], IMAGES)
        return np.ascontiguousarray(nchw(images, f"{self.path}[{ikey}]")), labels

    def candidates(self) -> list[Path]:
        return [self.path]

    def is_complete(self, place: Path) -> bool:
        return place.is_file()

    def read(self, place: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
        return self._split(split)

    def split_sizes(self) -> dict[Split, int]:
        """Images per split present in the file (from the labels' headers)."""
        headers = self.headers()
        return {split: headers[keys[1]].count for split, keys in _KEYS.items() if all(k in headers for k in keys)}


class UploadSource(NpzSource):
    """``upload:NAME``: a dataset uploaded to the service, kept as STH_DATA_DIR/uploads/NAME.npz."""

    how_to_provide: ClassVar[str] = (
        "upload a .npz with POST /v1/datasets (`sth remote upload-dataset FILE NAME`); workers fetch uploaded "
        "datasets from the database into STH_DATA_DIR/uploads"
    )

    def __init__(self, name: str) -> None:
        super().__init__(uploads_dir() / f"{name}.npz", name=f"{UPLOAD_PREFIX}{name}")


@dataclass(frozen=True)
class CheckedNpz:
    info: DatasetInfo
    splits: dict[Split, int]  # images per split
    converted: bool  # the images were floats: `uint8_copy` holds the same arrays as uint8, the file to keep


def inspect_npz(path: Path, name: str, max_bytes: int, uint8_copy: Path | None = None) -> CheckedNpz:
    """Check an untrusted .npz before it is used, else DatasetError.

    A zip of .npy members only, at most `max_bytes` once uncompressed by the zip's declared sizes and by every
    array's own header (both are checked before anything is inflated), arrays without pickles, images and labels
    that fit together, every value checked (streamed chunk by chunk); a test split is checked too. With
    `uint8_copy`, float images are written there as uint8 (labels as int64, the same shapes), which is what
    training reads; other arrays are left out of that copy.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(m.file_size for m in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        raise DatasetError("not a .npz file (write one with numpy.savez or numpy.savez_compressed)") from None
    if declared > max_bytes:
        raise DatasetError(f"the arrays take {declared} bytes uncompressed; the limit is {max_bytes}")
    headers = npz_headers(path)
    claimed = sum(h.nbytes for h in headers.values())
    if claimed > max_bytes:
        raise DatasetError(f"the arrays take {claimed} bytes uncompressed by their headers; the limit is {max_bytes}")
    source = NpzSource(path, name=name)
    sizes = source.split_sizes()
    if sizes.get("train", 0) < 2:
        raise DatasetError("the train split needs at least 2 images")
    convert = uint8_copy is not None and any(headers[_KEYS[s][0]].dtype != np.uint8 for s in sizes)
    if convert and uint8_copy is not None:
        with zipfile.ZipFile(uint8_copy, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as copy:
            _check_values(path, list(sizes), copy)
    else:
        _check_values(path, list(sizes), None)
    return CheckedNpz(source.info, sizes, convert)


def _check_values(path: Path, splits: list[Split], copy: zipfile.ZipFile | None) -> None:
    """Every value of the splits' arrays, streamed; with `copy`, the converted arrays are written there."""
    for split in splits:
        for key, kind in zip(_KEYS[split], (IMAGES, LABELS), strict=True):
            with copy.open(f"{key}.npy", "w", force_zip64=True) if copy else nullcontext() as out:
                for _ in stream_member(path, key, kind, out):
                    pass
