"""Pixel-similarity answers for the API (numpy only, cached): the /similarity route and the check that a training
spec's regularizer has pairs to train on before the job is queued.

Each value is computed once per dataset version and parameters and kept in a bounded LRU; concurrent identical
requests wait for the one computation (api.cache). The train images are loaded once as uint8 (an upload is stored
as uint8), and r_i computed from them in chunks (sthlib.simstats.unit_vectors).
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np

from api.cache import SingleFlightCache
from sthlib import preflight
from sthlib.data import availability, load_dataset
from sthlib.simstats import similarity_summary, unit_vectors
from sthlib.specs import TrainSpec
from sthlib.variants import variant_rule

EXACT_IMAGES = 20_000  # up to here (2e8 pairs) a summary is exact; the API never answers beyond


class DatasetVersion(NamedTuple):
    """A dataset's files as they are now: another file under the same name (an upload fetched again from another
    database, a dataset installed later) is another version. An upload's file on disk is checked against its
    sha256 before each use (store.datasets.materialize) and replaced by rename, so its inode and mtime change
    whenever its content does."""

    name: str
    location: str | None
    stat: tuple[int, int, int] | None  # (inode, size, mtime in ns) of the file or folder at `location`


_images: SingleFlightCache[np.ndarray] = SingleFlightCache(maxsize=1)  # a whole train split: the largest values
_vectors: SingleFlightCache[np.ndarray] = SingleFlightCache(maxsize=4)  # at most 20000 x H*W float32 each
_summaries: SingleFlightCache[dict[str, Any]] = SingleFlightCache(maxsize=256)  # a few KB each


def dataset_version(name: str) -> DatasetVersion:
    """DatasetError for an unknown name."""
    location = availability(name).location
    if location is None:
        return DatasetVersion(name, None, None)
    try:
        found = os.stat(location)
    except OSError:  # gone since: loading it says what is missing
        return DatasetVersion(name, location, None)
    return DatasetVersion(name, location, (found.st_ino, found.st_size, found.st_mtime_ns))


def clear_caches() -> None:
    for cache in (_images, _vectors, _summaries):
        cache.clear()


def _train_images(version: DatasetVersion, color: str) -> np.ndarray:
    return _images.get((version, color), lambda: load_dataset(version.name, "train", color)[0])


def _unit_vectors(version: DatasetVersion, color: str, images: int) -> np.ndarray:
    return _vectors.get((version, color, images), lambda: unit_vectors(_train_images(version, color)[:images]))


def _summary(version: DatasetVersion, color: str, images: int, threshold: float, threshold_low: float | None,
             bins: int) -> dict[str, Any]:  # fmt: skip
    def compute() -> dict[str, Any]:
        r = _unit_vectors(version, color, images)
        return similarity_summary(r, threshold, threshold_low, bins).to_dict()

    return _summaries.get((version, color, images, threshold, threshold_low, bins), compute)


def summary(name: str, color: str, images: int, threshold: float, threshold_low: float | None,
            bins: int = 40) -> dict[str, Any]:  # fmt: skip
    """sthlib.simstats.similarity_summary of the first `images` training images (DatasetError if missing)."""
    return _summary(dataset_version(name), color, images, threshold, threshold_low, bins)


def check_pairs(spec: TrainSpec) -> None:
    """SpecError (422) for a regularizer that cannot run: more images asked than the split holds, a threshold that
    selects no pair, or more pairs per step than are selected. The worker's own check (sthlib.preflight.check_pairs,
    which its RegData.load calls with a torch count), answered before queueing with the same message."""
    reg = spec.reg
    if not reg.enabled:
        return
    name = reg.dataset or spec.dataset
    version = dataset_version(name)
    available = len(_train_images(version, spec.color))
    selected = None  # beyond EXACT_IMAGES a sampled count could miss rare pairs: the worker counts them exactly
    if variant_rule(reg.variant).filters and reg.n_images <= min(available, EXACT_IMAGES):
        found = _summary(version, spec.color, reg.n_images, reg.threshold, reg.threshold_low, 40)
        selected = round(found["selected_fraction"][reg.variant] * found["pairs"])
    preflight.check_pairs(dataset=name, n_images=reg.n_images, threshold=reg.threshold, variant=reg.variant,
                          threshold_low=reg.threshold_low, pairs_per_step=reg.pairs_per_step,
                          available=available, selected=selected)  # fmt: skip
