"""Seeded random textures, one per image, generated on the images' device: the plasma fractal of fog and a
procedural frost layer."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from sthlib.evaluate.corruptions.filters import gaussian_blur, motion_blur

PLASMA_START = 100.0  # initial random amplitude ("wibble") of the diamond-square algorithm, as CIFAR-10-C
PLASMA_MIN_SIZE = 32  # CIFAR-10-C always draws a 32 x 32 map and crops it; larger images get the next power of 2

FROST_TINT = (0.85, 0.93, 1.0)  # RGB factors of the frost layer: the bluish white of ice
FROST_BASE = 0.4  # value of the thinnest ice
FROST_HAZE = 0.45  # value added where the ice is thickest (plasma fractal = 1)
FROST_HAZE_DECAY = 2.0  # plasma "wibble decay" of the thickness map: lower than fog's, so grainier
FROST_VEIN_CONTRAST = 0.6  # fraction of the thickness that only shows on the crystal veins
FROST_SEED_DENSITY = 0.015  # fraction of pixels where an ice needle starts
FROST_NEEDLES = 3  # needle directions per image
FROST_NEEDLE_LENGTH = 0.15  # needle half-length as a fraction of the image side
FROST_VEIN_SIGMA = 1.0  # pixels: smoothing of the noise whose zero crossings form the crystal veins
FROST_VEIN_WIDTH = 0.35  # standard deviations of that noise that still count as a vein


def plasma_size(side: int) -> int:
    """The side of the square plasma map for images of this side: a power of two, at least 32."""
    size = PLASMA_MIN_SIZE
    while size < side:
        size *= 2
    return size


def _wibbled_mean(total: Tensor, wibble: float, generator: torch.Generator) -> Tensor:
    """Mean of four neighbours plus noise; like the original, the noise is wibble * U(-wibble, wibble)."""
    noise = torch.rand(total.shape, generator=generator, device=total.device, dtype=total.dtype)
    return total / 4 + wibble * (2 * noise - 1) * wibble


def plasma_fractal(count: int, size: int, decay: float, generator: torch.Generator, device: torch.device) -> Tensor:
    """(count, size, size) diamond-square height maps in [0, 1] (CIFAR-10-C's plasma_fractal, batched): each
    level halves the step and divides the random amplitude by `decay`, so a larger decay gives smoother fog."""
    if size < 2 or size & (size - 1):
        raise ValueError(f"the plasma map side must be a power of two, got {size}")
    grid = torch.zeros(count, size, size, device=device)
    step, wibble = size, PLASMA_START
    while step >= 2:
        half = step // 2
        corners = grid[:, ::step, ::step]
        square = corners + corners.roll(-1, dims=1)
        square = square + square.roll(-1, dims=2)
        grid[:, half::step, half::step] = _wibbled_mean(square, wibble, generator)
        centres = grid[:, half::step, half::step]
        left = centres + centres.roll(1, dims=1) + corners + corners.roll(-1, dims=2)
        grid[:, ::step, half::step] = _wibbled_mean(left, wibble, generator)
        top = centres + centres.roll(1, dims=2) + corners + corners.roll(-1, dims=1)
        grid[:, half::step, ::step] = _wibbled_mean(top, wibble, generator)
        step, wibble = half, wibble / decay
    grid = grid - grid.amin(dim=(1, 2), keepdim=True)
    return grid / grid.amax(dim=(1, 2), keepdim=True)


def _crystal_veins(count: int, side: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """(count, 1, side, side) thin bright lines along the zero crossings of smoothed noise: a cell-like network
    such as the edges of ice crystals."""
    noise = torch.randn(count, 1, side, side, generator=generator, device=device)
    smooth = gaussian_blur(noise, FROST_VEIN_SIGMA, "symmetric")
    smooth = (smooth - smooth.mean(dim=(2, 3), keepdim=True)) / smooth.std(dim=(2, 3), keepdim=True)
    return torch.exp(-0.5 * (smooth / FROST_VEIN_WIDTH) ** 2)


def _ice_needles(count: int, side: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """(count, 1, side, side) straight streaks through random seed points in a few random directions each. The
    seeds lie on a canvas one needle longer on every side, so needles also enter from outside the image."""
    length = max(1.0, FROST_NEEDLE_LENGTH * side)
    margin = math.ceil(length)
    shape = (count, 1, side + 2 * margin, side + 2 * margin)
    starts = torch.rand(shape, generator=generator, device=device) < FROST_SEED_DENSITY
    seeds = starts * torch.rand(shape, generator=generator, device=device)
    needles = torch.zeros(shape, device=device)
    for _ in range(FROST_NEEDLES):
        angles = 360 * torch.rand(count, generator=generator, device=device)
        both_ways = motion_blur(seeds, length, length, angles) + motion_blur(seeds, length, length, angles + 180)
        needles = torch.maximum(needles, both_ways * length)  # undo the kernel's normalisation: full-strength lines
    return needles[..., margin : margin + side, margin : margin + side].clamp(max=1.0)


def frost_texture(count: int, side: int, channels: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """(count, channels, side, side) procedural frost in [0, 1].

    CIFAR-10-C blends random crops of six frost photographs (frost1.png ... frost6.jpg) that this project does not
    ship; this generates a frost-like layer instead: a plasma-fractal haze (uneven ice thickness) carrying a
    network of crystal veins, with straight ice needles on top, tinted bluish white for RGB (mean about 0.55 on
    28..32 px images). The constants were chosen by eye, not fitted to the photographs: frost here is a stand-in,
    not numerically comparable with the released CIFAR-10-C frost images."""
    haze = plasma_fractal(count, plasma_size(side), FROST_HAZE_DECAY, generator, device)[:, None, :side, :side]
    veins = _crystal_veins(count, side, generator, device)
    needles = _ice_needles(count, side, generator, device)
    ice = FROST_BASE + FROST_HAZE * haze * (1 - FROST_VEIN_CONTRAST + FROST_VEIN_CONTRAST * veins)
    frost = torch.maximum(ice, needles).clamp(0.0, 1.0)
    if channels == 1:
        return frost
    tint = torch.tensor(FROST_TINT, device=device).view(1, 3, 1, 1)
    return frost * tint
