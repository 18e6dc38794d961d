"""Noise corruptions: independent per-pixel (and per-channel) noise, so high-frequency."""

from __future__ import annotations

import torch
from torch import Tensor

from sthlib.evaluate.corruptions.base import Corruption, register

# Severity tables of CIFAR-10-C (hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py), severities 1..5.
GAUSSIAN_STD = (0.04, 0.06, 0.08, 0.09, 0.10)  # std of the additive Gaussian noise, pixel values in [0, 1]
SHOT_PHOTONS = (500, 250, 100, 75, 50)  # photons per unit intensity: x -> Poisson(x * c) / c
IMPULSE_AMOUNT = (0.01, 0.02, 0.03, 0.05, 0.07)  # fraction of values set to 0 or 1 (skimage s&p, half each)


@register
class GaussianNoise(Corruption):
    name = "gaussian_noise"
    frequency = "high"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        noise = torch.randn(images.shape, generator=generator, device=images.device, dtype=images.dtype)
        return images + GAUSSIAN_STD[severity - 1] * noise


@register
class ShotNoise(Corruption):
    name = "shot_noise"
    frequency = "high"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        photons = SHOT_PHOTONS[severity - 1]
        return torch.poisson(images * photons, generator=generator) / photons


@register
class ImpulseNoise(Corruption):
    """Salt and pepper per value, each channel on its own (skimage.util.random_noise(mode="s&p"))."""

    name = "impulse_noise"
    frequency = "high"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        hit = torch.rand(images.shape, generator=generator, device=images.device) < IMPULSE_AMOUNT[severity - 1]
        salt = torch.rand(images.shape, generator=generator, device=images.device) < 0.5
        return torch.where(hit, salt.to(images.dtype), images)
