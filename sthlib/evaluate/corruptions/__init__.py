"""Common corruptions in torch, CIFAR-10-C style (Hendrycks and Dietterich, ICLR 2019; PAPER.md section 4).

    from sthlib.evaluate.corruptions import corrupt, corruption_names
    x_c = corrupt(x, "fog", severity=3, seed=0)  # x: float (N, C, H, W) in [0, 1], C = 1 or 3, on any device

The 15 corruptions use the severity constants of the CIFAR-10 version (hendrycks/robustness,
ImageNet-C/create_c/make_cifar_c.py), not the ImageNet ones. Every random draw comes from a torch.Generator on the
images' device seeded from (seed, name, severity), so a call is reproducible bit for bit on one device and does
not touch the global RNG. Where the original needed tools that are not available here, the module says so:
motion blur re-implements ImageMagick's kernel, and frost uses a procedural texture instead of photographs.

Frequency groups (FREQUENCY_GROUP), by where each corruption puts its energy in the image spectrum:
    high  gaussian, shot and impulse noise are independent per pixel, so their power is flat up to Nyquist and
          dominates the high frequencies of natural images; pixelate and JPEG destroy fine detail and add
          block edges at the 2..8-pixel scale.
    mid   defocus, glass, motion and zoom blur low-pass the image with kernels a few pixels wide, and the
          elastic transform moves pixels by a few pixels: they change the mid band most.
    low   snow, frost and fog add structures larger than a few pixels; brightness and contrast change each
          image globally (its mean and its overall scale), i.e. mostly the lowest frequencies.
The grouping is the usual one in frequency analyses of robustness (e.g. Yin et al., NeurIPS 2019).
"""

from __future__ import annotations

import torch

# Importing a module registers its corruptions; this order (not the alphabet) is the order of the CIFAR-10-C release.
# isort: off
from sthlib.evaluate.corruptions import noise, blur, weather, digital  # noqa: F401

# isort: on
from sthlib.evaluate.corruptions.base import CORRUPTIONS, SEVERITIES, Corruption, Frequency, get_corruption

__all__ = ["CORRUPTIONS", "FREQUENCY_GROUP", "SEVERITIES", "Corruption", "Frequency", "corrupt", "corruption_names"]

FREQUENCY_GROUP: dict[str, str] = {name: corruption.frequency for name, corruption in CORRUPTIONS.items()}


def corruption_names() -> list[str]:
    """The 15 corruption names, in the order of the CIFAR-10-C release."""
    return list(CORRUPTIONS)


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupt float images (N, C, H, W) in [0, 1] (C = 1 or 3) with the named corruption at severity 1..5.

    Returns the same shape, dtype and device, values in [0, 1]. The same arguments give the same output.
    Raises ValueError for an unknown name, a severity outside 1..5 or images that are not (N, 1 or 3, H, W)."""
    return get_corruption(name)(images, severity, seed)
