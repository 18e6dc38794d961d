"""Regularization losses between predicted and target similarities (PAPER.md section 3)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

DEFAULT_EPS = 1e-5


def stretch(z: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    """g(z) = log(1 + z + eps) - log(1 - z + eps): 2*artanh(z), finite at z = +-1 thanks to eps."""
    return torch.log1p(z + eps) - torch.log1p(-z + eps)


def arctanh_square(pred: Tensor, target: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    """mean over pairs of (g(pred) - g(target))^2, the reference's regularization loss."""
    _check(pred, target)
    return (stretch(pred, eps) - stretch(target, eps)).square().mean()


def mse(pred: Tensor, target: Tensor, eps: float = DEFAULT_EPS) -> Tensor:
    """mean over pairs of (pred - target)^2 (eps is accepted for a uniform signature and ignored)."""
    _check(pred, target)
    return (pred - target).square().mean()


def _check(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")


LOSSES: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {"arctanh_square": arctanh_square, "mse": mse}
