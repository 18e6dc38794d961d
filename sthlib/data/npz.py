"""User datasets as .npz files: arrays ``images`` and ``labels`` (train), optional ``test_images``/``test_labels``.

Images are uint8 (N,H,W), (N,C,H,W) or (N,H,W,C) with C in {1, 3}, or floats in [0, 1]. Files are read with
``allow_pickle=False``: an object array is rejected, never unpickled.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from sthlib.data.registry import UPLOAD_PREFIX, DatasetError, DatasetInfo, DatasetSource, Split, uploads_dir

_KEYS = {"train": ("images", "labels"), "test": ("test_images", "test_labels")}


def normalise_images(images: np.ndarray, where: str) -> np.ndarray:
    """Bring user images to uint8 (N,C,H,W); raise DatasetError saying what is wrong."""
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise DatasetError(f"{where}: images must have 3 or 4 dimensions, got shape {images.shape}")
    if images.shape[1] not in (1, 3) and images.shape[-1] in (1, 3):
        images = images.transpose(0, 3, 1, 2)
    if images.shape[1] not in (1, 3):
        raise DatasetError(f"{where}: images need 1 or 3 channels (NCHW or NHWC), got shape {images.shape}")
    if images.dtype == np.uint8:
        return np.ascontiguousarray(images)
    if np.issubdtype(images.dtype, np.floating):
        if not np.isfinite(images).all() or images.min() < 0 or images.max() > 1:
            raise DatasetError(f"{where}: float images must be finite and in [0, 1]")
        return np.ascontiguousarray(np.rint(images * 255).astype(np.uint8))
    raise DatasetError(f"{where}: images must be uint8 or float in [0, 1], got {images.dtype}")


def normalise_labels(labels: np.ndarray, n: int, where: str) -> np.ndarray:
    if labels.ndim != 1 or len(labels) != n:
        raise DatasetError(f"{where}: labels must have shape ({n},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer) or (n and labels.min() < 0):
        raise DatasetError(f"{where}: labels must be non-negative integers, got {labels.dtype}")
    return labels.astype(np.int64)


class NpzSource(DatasetSource):
    how_to_provide = "write a .npz with arrays 'images' and 'labels' (and optionally 'test_images', 'test_labels')"

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = path.expanduser()
        self.name = name or f"npz:{path}"
        self._arrays: dict[str, np.ndarray] | None = None
        self.info = (
            self._describe()
            if self.path.is_file()
            else DatasetInfo(
                name=self.name, num_classes=0, channels=1, size=0, family="other", description="missing file"
            )
        )

    def _load_arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            try:
                with np.load(self.path, allow_pickle=False) as f:
                    arrays = {k: f[k] for k in f.files}
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
                raise DatasetError(f"{self.path}: not a readable .npz without pickles ({e})") from None
            if not isinstance(arrays, dict) or not all(isinstance(a, np.ndarray) for a in arrays.values()):
                raise DatasetError(f"{self.path}: every member of the .npz must be a .npy array")
            self._arrays = arrays
        return self._arrays

    def _describe(self) -> DatasetInfo:
        arrays = self._load_arrays()
        if "images" not in arrays or "labels" not in arrays:
            raise DatasetError(f"{self.path}: needs arrays 'images' and 'labels', found {sorted(arrays)}")
        images, labels = self._split("train")
        all_labels = labels if "test_labels" not in arrays else np.concatenate([labels, self._split("test")[1]])
        if images.shape[2] != images.shape[3]:
            raise DatasetError(f"{self.path}: images must be square, got {images.shape[2]}x{images.shape[3]}")
        return DatasetInfo(
            name=self.name,
            num_classes=int(all_labels.max()) + 1 if len(all_labels) else 0,
            channels=images.shape[1],
            size=images.shape[2],
            family="other",
            description=f"user dataset {self.path.name}",
        )

    def _split(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        arrays = self._load_arrays()
        ikey, lkey = _KEYS[split]
        if ikey not in arrays or lkey not in arrays:
            raise DatasetError(f"{self.path} has no {split} split: add arrays {ikey!r} and {lkey!r}")
        where = f"{self.path}[{ikey}]"
        images = normalise_images(arrays[ikey], where)
        return images, normalise_labels(arrays[lkey], len(images), f"{self.path}[{lkey}]")

    def candidates(self) -> list[Path]:
        return [self.path]

    def is_complete(self, place: Path) -> bool:
        return place.is_file()

    def read(self, place: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
        return self._split(split)

    def split_sizes(self) -> dict[str, int]:
        """Images per split present in the file (reads only the labels)."""
        arrays = self._load_arrays()
        return {split: len(arrays[keys[1]]) for split, keys in _KEYS.items() if all(k in arrays for k in keys)}


class UploadSource(NpzSource):
    """``upload:NAME``: a dataset uploaded to the service, kept as STH_DATA_DIR/uploads/NAME.npz."""

    how_to_provide: ClassVar[str] = (
        "upload a .npz with POST /v1/datasets (`sth remote upload-dataset FILE NAME`); workers fetch uploaded "
        "datasets from the database into STH_DATA_DIR/uploads"
    )

    def __init__(self, name: str) -> None:
        super().__init__(uploads_dir() / f"{name}.npz", name=f"{UPLOAD_PREFIX}{name}")


def inspect_npz(path: Path, name: str, max_bytes: int) -> tuple[DatasetInfo, dict[str, int]]:
    """Check an untrusted .npz before it is used: (its DatasetInfo, images per split), else DatasetError.

    A zip of .npy members only, at most `max_bytes` once uncompressed (zip bombs are refused before anything is
    inflated), arrays without pickles, images and labels that fit together; a test split is checked too.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise DatasetError("not a .npz file (write one with numpy.savez or numpy.savez_compressed)") from None
    others = [m.filename for m in members if not m.filename.endswith(".npy")]
    if others:
        raise DatasetError(f"a .npz holds only .npy arrays; found {', '.join(others[:5])}")
    inflated = sum(m.file_size for m in members)
    if inflated > max_bytes:
        raise DatasetError(f"the arrays take {inflated} bytes uncompressed; the limit is {max_bytes}")
    source = NpzSource(path, name=name)
    sizes = source.split_sizes()
    if "test" in sizes:
        source.read(path, "test")
    if sizes.get("train", 0) < 2:
        raise DatasetError("the train split needs at least 2 images")
    return source.info, sizes
