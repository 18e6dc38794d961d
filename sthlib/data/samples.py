"""The 20 real test images per dataset that foolbox ships (good for attack tests, not for training)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from sthlib.data.registry import DatasetError

_PREFIX = {"mnist": "mnist", "fashion-mnist": "fashionMNIST", "cifar10": "cifar10", "cifar100": "cifar100"}


def foolbox_samples(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (20,C,H,W), labels int64 (20,)) in the dataset's native colour, read from foolbox's PNGs."""
    if dataset not in _PREFIX:
        raise DatasetError(f"foolbox ships samples of {', '.join(_PREFIX)}, not {dataset!r}")
    spec = importlib.util.find_spec("foolbox")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("foolbox is not installed (pip install foolbox)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    files = sorted(folder.glob(f"{_PREFIX[dataset]}_*_*.png"), key=lambda p: int(p.stem.split("_")[1]))
    from PIL import Image

    images, labels = [], []
    for path in files:
        array = np.asarray(Image.open(path))
        images.append(array[None] if array.ndim == 2 else array.transpose(2, 0, 1))
        labels.append(int(path.stem.split("_")[2]))
    return np.stack(images), np.asarray(labels, dtype=np.int64)
