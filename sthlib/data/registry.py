"""The dataset registry: one DatasetSource per built-in dataset, plus ``npz:PATH`` for user files and
``upload:NAME`` for datasets uploaded to the service (STH_DATA_DIR/uploads/NAME.npz, which workers fetch from the
database when missing).

Adding a dataset is adding one DatasetSource subclass and one ``register()`` call. Nothing here imports torch;
the API imports this module to list datasets and check availability.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

Split = Literal["train", "test"]
Color = Literal["gray", "rgb"]
InputScale = Literal["unit", "centered5"]


class DatasetError(ValueError):
    """A dataset is unknown or its files are missing; the message says what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the rest of the library needs to know about a dataset, without loading it."""

    name: str
    num_classes: int
    channels: int  # native channels: 1 (grayscale) or 3 (RGB)
    size: int  # images are size x size pixels
    family: Literal["mnist", "cifar", "other"]  # decides the paper's defaults (input scale, augmentation, grids)
    description: str

    @property
    def input_scale(self) -> InputScale:
        """PAPER.md section 3: CIFAR inputs are fed as 5 * (x - 0.5), MNIST-like inputs stay in [0, 1]."""
        return "centered5" if self.family == "cifar" else "unit"

    @property
    def augment(self) -> bool:
        """PAPER.md section 3: random crop (reflect pad 4) and horizontal flip for CIFAR, none otherwise."""
        return self.family == "cifar"


def data_dir() -> Path:
    """STH_DATA_DIR, where torchvision-layout datasets live (default ~/.sth/data)."""
    return Path(os.environ.get("STH_DATA_DIR", str(Path.home() / ".sth" / "data"))).expanduser()


def uploads_dir() -> Path:
    """Where uploaded datasets are kept as NAME.npz (STH_DATA_DIR/uploads)."""
    return data_dir() / "uploads"


def downloads_allowed() -> bool:
    return os.environ.get("STH_ALLOW_DOWNLOAD", "") == "1"


class DatasetSource:
    """Finds and reads one dataset. Subclasses set ``info`` and implement ``candidates`` and ``read``."""

    info: DatasetInfo
    how_to_provide: ClassVar[str] = ""

    def candidates(self) -> list[Path]:
        """Every place searched, in order; the first one that holds the files wins."""
        raise NotImplementedError

    def is_complete(self, place: Path) -> bool:
        raise NotImplementedError

    def read(self, place: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
        """Native images (N,C,H,W) uint8 and labels (N,) int64 of one split."""
        raise NotImplementedError

    def download(self) -> Path:
        raise DatasetError(f"dataset {self.info.name!r} cannot be downloaded; {self.how_to_provide}")

    def locate(self) -> Path | None:
        return next((p for p in self.candidates() if self.is_complete(p)), None)

    def load(self, split: Split) -> tuple[np.ndarray, np.ndarray]:
        place = self.locate()
        if place is None and downloads_allowed():
            place = self.download()
        if place is None:
            searched = "\n".join(f"  - {p}" for p in self.candidates())
            raise DatasetError(
                f"dataset {self.info.name!r} was not found. Searched:\n{searched}\nTo provide it: {self.how_to_provide}"
            )
        return self.read(place, split)


_REGISTRY: dict[str, type[DatasetSource]] = {}
NPZ_PREFIX = "npz:"
UPLOAD_PREFIX = "upload:"
UPLOAD_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")  # the NAME of upload:NAME


def check_upload_name(name: str) -> str:
    if not UPLOAD_NAME.fullmatch(name):
        raise DatasetError(
            f"dataset name {name!r} is not allowed: use 1 to 48 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def register(source: type[DatasetSource]) -> type[DatasetSource]:
    _REGISTRY[source.info.name] = source
    return source


def uploaded_names(names: Iterable[str | None]) -> list[str]:
    """The NAMEs of the ``upload:NAME`` datasets among dataset names (the service fetches these to disk first)."""
    return sorted({n.removeprefix(UPLOAD_PREFIX) for n in names if n and n.startswith(UPLOAD_PREFIX)})


def dataset_names() -> list[str]:
    """The built-in dataset names (``npz:PATH`` and ``upload:NAME`` are accepted on top of these)."""
    return sorted(_REGISTRY)


def get_source(name: str) -> DatasetSource:
    if name.startswith(NPZ_PREFIX):
        from sthlib.data.npz import NpzSource

        return NpzSource(Path(name[len(NPZ_PREFIX) :]))
    if name.startswith(UPLOAD_PREFIX):
        from sthlib.data.npz import UploadSource

        return UploadSource(check_upload_name(name[len(UPLOAD_PREFIX) :]))
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}, upload:NAME or npz:PATH"
        ) from None


def dataset_info(name: str) -> DatasetInfo:
    return get_source(name).info
