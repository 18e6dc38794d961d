"""Batch-wise input preparation and augmentation on the device (no per-image DataLoader), as airbench does."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

CROP_PADDING = 4  # pixels of reflect padding before the random crop (PAPER.md section 3)


def to_inputs(images: Tensor, input_scale: str) -> Tensor:
    """uint8 (B,C,H,W) -> what the network is fed: [0, 1] ("unit") or 5 * (x - 0.5) ("centered5", CIFAR)."""
    return scale_inputs(images.float().div_(255), input_scale, inplace=True)


def scale_inputs(x: Tensor, input_scale: str, inplace: bool = False) -> Tensor:
    """float images in [0, 1] -> network inputs (differentiable unless inplace)."""
    if input_scale == "unit":
        return x
    if input_scale == "centered5":
        return x.sub_(0.5).mul_(5) if inplace else (x - 0.5) * 5
    raise ValueError(f"unknown input_scale {input_scale!r}; choose unit or centered5")


def crop_flip(x: Tensor, generator: torch.Generator, padding: int = CROP_PADDING) -> Tensor:
    """Random crop of the original size from the reflect-padded batch, then a random horizontal flip, per image."""
    b, _, h, w = x.shape
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator, device=x.device)
    flip = torch.rand(b, generator=generator, device=x.device) < 0.5
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (B,1,H,1)
    cols = dx[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]  # (B,1,1,W)
    batch = torch.arange(b, device=x.device)[:, None, None, None]
    channels = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


FREEZE_CHUNK = 4096  # images cropped at a time by frozen_crop_flip (bounds the padded float copy)


def frozen_crop_flip(images: Tensor, seed: int, padding: int = CROP_PADDING) -> Tensor:
    """uint8 (N,C,H,W) -> the same images, each cropped and maybe flipped once by ``crop_flip`` (reg.augment
    "frozen"). The draws come from a CPU generator seeded with `seed`, so they are the same on every device; pixel
    values only move, so the result is uint8 again without rounding."""
    generator = torch.Generator().manual_seed(seed)
    out = torch.empty_like(images, device="cpu")
    for start in range(0, len(images), FREEZE_CHUNK):
        chunk = images[start : start + FREEZE_CHUNK].cpu().float()
        out[start : start + FREEZE_CHUNK] = crop_flip(chunk, generator, padding).to(torch.uint8)
    return out
