"""Pixel-similarity answers for the API (numpy only, cached): the /similarity route and the check that a training
spec's regularizer has pairs to train on before the job is queued."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from api.errors import invalid
from sthlib.data import availability, load_dataset
from sthlib.simstats import similarity_summary, unit_vectors
from sthlib.specs import TrainSpec

EXACT_IMAGES = 20_000  # up to here (2e8 pairs) a summary is exact; the API never answers beyond


@lru_cache(maxsize=2)
def _train_images(name: str, location: str | None, color: str) -> np.ndarray:
    """Keyed by the files' location too: a dataset installed later, or an upload, is read afresh."""
    return load_dataset(name, "train", color)[0]


@lru_cache(maxsize=4)
def _unit_vectors(name: str, location: str | None, color: str, images: int) -> np.ndarray:
    return unit_vectors(_train_images(name, location, color)[:images])


@lru_cache(maxsize=64)
def _summary(name: str, location: str | None, color: str, images: int, threshold: float,
             threshold_low: float | None, bins: int) -> dict[str, Any]:  # fmt: skip
    return similarity_summary(_unit_vectors(name, location, color, images), threshold, threshold_low, bins).to_dict()


def summary(name: str, color: str, images: int, threshold: float, threshold_low: float | None,
            bins: int = 40) -> dict[str, Any]:  # fmt: skip
    """sthlib.simstats.similarity_summary of the first `images` training images (DatasetError if missing)."""
    return _summary(name, availability(name).location, color, images, threshold, threshold_low, bins)


def check_pairs(spec: TrainSpec) -> None:
    """422 for a regularizer that cannot run: more images asked than the split holds, a threshold that selects no
    pair, or more pairs per step than are selected (the worker's own checks, answered before queueing)."""
    reg = spec.reg
    if not reg.enabled:
        return
    name = reg.dataset or spec.dataset
    location = availability(name).location
    available = len(_train_images(name, location, spec.color))
    if reg.n_images > available:
        raise invalid(f"reg.n_images={reg.n_images} exceeds the {available} training images of {name!r}; "
                      "lower it", "reg.n_images")  # fmt: skip
    if reg.n_images > EXACT_IMAGES:
        return  # a sampled count could miss rare pairs: the worker counts them exactly
    found = _summary(name, location, spec.color, reg.n_images, reg.threshold, reg.threshold_low, 40)
    selected = round(found["selected_fraction"][reg.variant] * found["pairs"])
    if selected == 0:
        hint = f"GET /v1/datasets/{name}/similarity shows what each threshold selects"
        raise invalid(f"variant {reg.variant!r} at threshold {reg.threshold} selects none of the "
                      f"{found['pairs']} pairs of the first {reg.n_images} images of {name!r}; change "
                      f"reg.threshold ({hint})", "reg.threshold")  # fmt: skip
    if reg.pairs_per_step > selected:
        raise invalid(f"{reg.pairs_per_step} pairs per step exceeds the {selected} pairs that variant "
                      f"{reg.variant!r} selects at threshold {reg.threshold}; lower reg.pairs_per_step or select "
                      "more pairs", "reg.pairs_per_step")  # fmt: skip
