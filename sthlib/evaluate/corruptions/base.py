"""The Corruption base class and the registry that every corruption module adds itself to.

The checks, the seeding and the final clamp live once in ``Corruption.__call__``; a corruption only writes
``apply`` (foolbox style). Adding a corruption is one subclass decorated with ``@register``.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from typing import ClassVar, Literal, TypeVar, final

import torch
from torch import Tensor

logger = logging.getLogger(__name__)

Frequency = Literal["low", "mid", "high"]  # where most of a corruption's energy lies in the image spectrum
SEVERITIES = (1, 2, 3, 4, 5)  # CIFAR-10-C severity levels; index i - 1 of every constant table
CHANNELS = (1, 3)  # grayscale or RGB


class Corruption(ABC):
    """One CIFAR-10-C corruption. Subclasses set ``name`` and ``frequency`` and implement ``apply``."""

    name: ClassVar[str]
    frequency: ClassVar[Frequency]
    stochastic: ClassVar[bool] = True  # False when the output does not depend on the seed

    @final
    def __call__(self, images: Tensor, severity: int, seed: int = 0) -> Tensor:
        """Corrupt float images (N, C, H, W) in [0, 1]; the result has the same shape, dtype and device."""
        check_images(images)
        check_severity(severity)
        logger.debug("%s severity %d, seed %d, images %s", self.name, severity, seed, tuple(images.shape))
        work = images if images.dtype == torch.float64 else images.float()
        generator = torch.Generator(device=images.device).manual_seed(generator_seed(seed, self.name, severity))
        out = self.apply(work, severity, generator)
        return out.clamp(0.0, 1.0).to(images.dtype)

    @abstractmethod
    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        """The corrupted images (before the final clamp to [0, 1]). `images` is float32 or float64 on any
        device; all randomness comes from `generator`, which lives on the images' device."""


CORRUPTIONS: dict[str, Corruption] = {}  # name -> instance, in the order of the CIFAR-10-C release

C = TypeVar("C", bound=Corruption)


def register(cls: type[C]) -> type[C]:
    """Class decorator: add one instance of `cls` to CORRUPTIONS under its name."""
    if cls.name in CORRUPTIONS:
        raise ValueError(f"corruption {cls.name!r} is registered twice")
    CORRUPTIONS[cls.name] = cls()
    return cls


def get_corruption(name: str) -> Corruption:
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}")
    return CORRUPTIONS[name]


def generator_seed(seed: int, name: str, severity: int) -> int:
    """A 63-bit seed for one (seed, corruption, severity) cell, stable across processes and Python versions
    (unlike hash())."""
    digest = hashlib.blake2b(f"{seed}/{name}/{severity}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def check_severity(severity: int) -> None:
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {list(SEVERITIES)}, got {severity!r}")


def check_images(images: Tensor) -> None:
    if not isinstance(images, Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a 4-D tensor (N, C, H, W), got {shape}")
    if images.shape[1] not in CHANNELS:
        raise ValueError(f"images must have 1 (grayscale) or 3 (RGB) channels, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a float tensor with values in [0, 1], got dtype {images.dtype}")
    if images.shape[2] < 2 or images.shape[3] < 2:
        raise ValueError(f"images must be at least 2x2 pixels, got shape {tuple(images.shape)}")
