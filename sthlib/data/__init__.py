"""Datasets: ``load_dataset(name, split, color)`` over a registry of sources found on disk.

Torch-free (numpy only), so the API can list datasets and check their availability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sthlib.data import sources
from sthlib.data.color import to_grayscale, to_rgb
from sthlib.data.registry import (
    UPLOAD_PREFIX,
    Color,
    DatasetError,
    DatasetInfo,
    Split,
    check_upload_name,
    data_dir,
    dataset_info,
    dataset_names,
    get_source,
    uploaded_names,
    uploads_dir,
)
from sthlib.data.samples import foolbox_samples
from sthlib.data.split import DEFAULT_VALID_FRACTION, train_valid_split

__all__ = [
    "DEFAULT_VALID_FRACTION",
    "UPLOAD_PREFIX",
    "Availability",
    "Color",
    "DatasetError",
    "DatasetInfo",
    "Split",
    "availability",
    "check_upload_name",
    "data_dir",
    "dataset_info",
    "dataset_names",
    "foolbox_samples",
    "load_dataset",
    "to_grayscale",
    "to_rgb",
    "train_valid_split",
    "uploaded_names",
    "uploads_dir",
]


def load_dataset(name: str, split: str = "train", color: str = "gray") -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N,C,H,W) and labels int64 (N,) of one split.

    color="gray" gives 1 channel (colour images converted with luma weights, as torchvision's Grayscale);
    color="rgb" gives 3 channels (grayscale images repeated).
    """
    if color not in ("gray", "rgb"):
        raise DatasetError(f"color must be 'gray' or 'rgb', got {color!r}")
    images, labels = get_source(name).load(sources.check_split(split))
    images = to_grayscale(images) if color == "gray" else to_rgb(images)
    return images, labels


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    location: str | None
    searched: list[str]
    how_to_provide: str


def availability(name: str) -> Availability:
    """Whether a dataset's files are on disk, where, and how to provide them if not. Reads no images."""
    source = get_source(name)
    place = source.locate()
    return Availability(
        name=source.info.name,
        available=place is not None,
        location=None if place is None else str(place),
        searched=[str(p) for p in source.candidates()],
        how_to_provide=source.how_to_provide,
    )
