"""Blur corruptions: they remove high frequencies and smear edges over a few pixels, so mid-frequency."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from sthlib.evaluate.corruptions.base import Corruption, register
from sthlib.evaluate.corruptions.filters import filter2d, gaussian_blur, motion_blur
from sthlib.evaluate.corruptions.resample import clipped_zoom

# Severity tables of CIFAR-10-C (hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py), severities 1..5.


class DefocusParams(NamedTuple):
    radius: float  # pixels: radius of the disk (the lens aperture's image)
    alias_blur: float  # pixels: sigma of the 3 x 3 Gaussian that anti-aliases the disk


DEFOCUS = tuple(DefocusParams(*p) for p in ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)))


class GlassParams(NamedTuple):
    sigma: float  # pixels: Gaussian blur before and after the shuffle
    max_delta: int  # pixels: largest displacement of a swap
    passes: int  # sweeps of local swaps over the image


GLASS = tuple(GlassParams(*p) for p in ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)))


class MotionParams(NamedTuple):
    radius: float  # pixels: ImageMagick motion-blur radius (the kernel is 2 * radius + 1 taps long)
    sigma: float  # pixels: decay of the tap weights along the line


MOTION = tuple(MotionParams(*p) for p in ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)))
MOTION_ANGLES = (-45.0, 45.0)  # degrees: the uniform range of each image's blur direction
ZOOM_STOPS = (1.06, 1.11, 1.16, 1.21, 1.26)  # zoom factors np.arange(1, stop, 0.01), averaged with the image
GLASS_BLUR_TRUNCATE = 4.0  # skimage.filters.gaussian's default kernel radius, in sigmas


def disk_kernel(radius: float, alias_blur: float, device: torch.device) -> Tensor:
    """CIFAR-10-C's defocus kernel: a normalised disk on a 17 x 17 grid (larger for radii over 8) blurred by a
    3 x 3 (5 x 5) Gaussian as cv2.GaussianBlur, then cropped to its non-zero support."""
    half = 8 if radius <= 8 else math.ceil(radius)
    taps = 3 if radius <= 8 else 5
    coords = torch.arange(-half, half + 1, device=device, dtype=torch.float64)
    disk = ((coords[:, None] ** 2 + coords[None, :] ** 2) <= radius**2).double()
    disk = disk / disk.sum()
    offsets = torch.arange(taps, device=device, dtype=torch.float64) - (taps - 1) / 2
    gauss = torch.exp(-(offsets**2) / (2 * alias_blur**2))
    gauss = (gauss / gauss.sum()).float()
    kernel = filter2d(disk.float()[None, None], gauss[None, :], "reflect")
    kernel = filter2d(kernel, gauss[:, None], "reflect")[0, 0]
    support = (kernel != 0).nonzero()  # (taps, 2) row and column of every non-zero weight
    reach = int((support - half).abs().max())  # keep the kernel centred and odd
    return kernel[half - reach : half + reach + 1, half - reach : half + reach + 1]


@register
class DefocusBlur(Corruption):
    name = "defocus_blur"
    frequency = "mid"
    stochastic = False

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        p = DEFOCUS[severity - 1]
        return filter2d(images, disk_kernel(p.radius, p.alias_blur, images.device), "reflect")


def swap_permutation(offsets: np.ndarray, height: int, width: int, max_delta: int) -> np.ndarray:
    """(N, H * W) source index of every pixel after CIFAR-10-C's sequential local swaps: for each pass, each
    interior pixel (h, w), from the bottom right up, swaps with (h + dy, w + dx). `offsets` is
    (passes, rows, cols, N, 2) of (dx, dy). The swaps chain, so this runs in order, on small integer arrays."""
    count = offsets.shape[3]
    perm = np.tile(np.arange(height * width), (count, 1))
    images = np.arange(count)
    rows = range(height - max_delta, max_delta, -1)
    cols = range(width - max_delta, max_delta, -1)
    for sweep in offsets:
        for h, row_offsets in zip(rows, sweep, strict=True):
            for w, pair in zip(cols, row_offsets, strict=True):
                dx, dy = pair[:, 0], pair[:, 1]
                here = h * width + w
                there = (h + dy) * width + (w + dx)
                moved = perm[:, here].copy()
                perm[:, here] = perm[images, there]
                perm[images, there] = moved
    return perm


@register
class GlassBlur(Corruption):
    """Blur, shuffle each pixel with a neighbour (frosted glass), blur again."""

    name = "glass_blur"
    frequency = "mid"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        p = GLASS[severity - 1]
        n, c, h, w = images.shape
        blurred = gaussian_blur(images, p.sigma, "edge", GLASS_BLUR_TRUNCATE)
        rows, cols = max(h - 2 * p.max_delta, 0), max(w - 2 * p.max_delta, 0)
        # np.random.randint(-d, d) as the original: the high end is excluded, so pixels only move up and left
        offsets = torch.randint(-p.max_delta, p.max_delta, (p.passes, rows, cols, n, 2), generator=generator,
                                device=images.device)  # fmt: skip
        perm = torch.from_numpy(swap_permutation(offsets.cpu().numpy(), h, w, p.max_delta)).to(images.device)
        shuffled = blurred.flatten(2).gather(2, perm[:, None, :].expand(n, c, h * w)).view(n, c, h, w)
        return gaussian_blur(shuffled, p.sigma, "edge", GLASS_BLUR_TRUNCATE)


@register
class MotionBlur(Corruption):
    name = "motion_blur"
    frequency = "mid"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        p = MOTION[severity - 1]
        low, high = MOTION_ANGLES
        angles = low + (high - low) * torch.rand(len(images), generator=generator, device=images.device)
        return motion_blur(images, p.radius, p.sigma, angles)


@register
class ZoomBlur(Corruption):
    """The mean of the image and its centre zooms (a camera zooming during the exposure)."""

    name = "zoom_blur"
    frequency = "mid"
    stochastic = False

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        factors = np.arange(1, ZOOM_STOPS[severity - 1], 0.01)  # the original's float steps, 1.0 included
        total = images.clone()
        for factor in factors:
            total += clipped_zoom(images, float(factor))
        return total / (len(factors) + 1)
