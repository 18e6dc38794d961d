"""Random noise in [0, 1] pixel units (PAPER.md section 4): Gaussian, uniform, salt-and-pepper."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sthlib.evaluate.base import CurveEvaluator, register


def gaussian_noise(shape: torch.Size, sigma: float, generator: torch.Generator, device: torch.device) -> Tensor:
    return torch.randn(shape, generator=generator, device=device) * sigma


def uniform_noise(shape: torch.Size, eps: float, generator: torch.Generator, device: torch.device) -> Tensor:
    return (torch.rand(shape, generator=generator, device=device) * 2 - 1) * eps


def salt_pepper_noise(shape: torch.Size, p: float, generator: torch.Generator, device: torch.device) -> Tensor:
    """Each element, with probability p, gets +1 or -1 (equally likely); the clamp then saturates it."""
    hit = torch.rand(shape, generator=generator, device=device) < p
    sign = torch.where(torch.rand(shape, generator=generator, device=device) < 0.5, -1.0, 1.0)
    return hit * sign


@register
class Gaussian(CurveEvaluator):
    name = "gaussian"

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        return x + gaussian_noise(x.shape, strength, generator, x.device)


@register
class Uniform(CurveEvaluator):
    name = "uniform"

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        return x + uniform_noise(x.shape, strength, generator, x.device)


@register
class SaltPepper(CurveEvaluator):
    name = "salt_pepper"

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        if strength > 1:
            raise ValueError(f"salt_pepper strength is a probability, got {strength}")
        return x + salt_pepper_noise(x.shape, strength, generator, x.device)
