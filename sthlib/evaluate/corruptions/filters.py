"""Border handling and linear filters on image batches (N, C, H, W), on the images' device.

The border modes are named after what they do, with the library each CIFAR-10-C step used:
    reflect    d c b | a b c d | c b a   OpenCV BORDER_REFLECT_101 (cv2.filter2D, cv2.warpAffine)
    symmetric  c b a | a b c d | d c b   scipy / skimage "reflect" (gaussian filter of the elastic field)
    edge       a a a | a b c d | d d d   scipy "nearest" (skimage.filters.gaussian), ImageMagick's default
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Border = Literal["reflect", "symmetric", "edge"]


def border_index(n: int, before: int, after: int, border: Border, device: torch.device) -> Tensor:
    """Indices into a length-n axis that pad it by `before` and `after` samples; any padding width works."""
    index = torch.arange(-before, n + after, device=device)
    if border == "edge" or n == 1:
        return index.clamp(0, n - 1)
    period = 2 * n - 2 if border == "reflect" else 2 * n
    folded = index.remainder(period)
    mirror = period - folded if border == "reflect" else period - 1 - folded
    return torch.where(folded >= n, mirror, folded)


def pad(images: Tensor, rows: tuple[int, int], cols: tuple[int, int], border: Border) -> Tensor:
    """Pad the last two axes by (before, after) rows and columns."""
    row_index = border_index(images.shape[-2], *rows, border, images.device)
    col_index = border_index(images.shape[-1], *cols, border, images.device)
    return images.index_select(-2, row_index).index_select(-1, col_index)


def filter2d(images: Tensor, kernel: Tensor, border: Border) -> Tensor:
    """Correlate every channel with an odd-sized kernel centred on the output pixel (as cv2.filter2D).

    `kernel` is (kh, kw), shared by all images, or (N, kh, kw), one per image."""
    kh, kw = kernel.shape[-2:]
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(f"filter kernels must have odd sizes, got {kh}x{kw}")
    n, c, h, w = images.shape
    padded = pad(images, (kh // 2, kh // 2), (kw // 2, kw // 2), border)
    weight = kernel.to(images.dtype)
    if weight.dim() == 2:
        return F.conv2d(padded, weight.expand(c, 1, kh, kw), groups=c)
    weight = weight.repeat_interleave(c, dim=0).unsqueeze(1)  # (N * C, 1, kh, kw), image-major like the input
    out = F.conv2d(padded.reshape(1, n * c, *padded.shape[-2:]), weight, groups=n * c)
    return out.reshape(n, c, h, w)


def gaussian_kernel1d(sigma: float, truncate: float, device: torch.device) -> Tensor:
    """scipy.ndimage's sampled Gaussian: radius int(truncate * sigma + 0.5), weights summing to one."""
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return torch.ones(1, device=device)
    x = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return (weights / weights.sum()).float()


def gaussian_blur(images: Tensor, sigma: float, border: Border, truncate: float = 4.0) -> Tensor:
    """Separable Gaussian blur of every channel (skimage.filters.gaussian; its defaults are truncate 4 and
    border "edge")."""
    kernel = gaussian_kernel1d(sigma, truncate, images.device)
    if kernel.numel() == 1:
        return images
    return filter2d(filter2d(images, kernel[None, :], border), kernel[:, None], border)


def motion_kernels(radius: float, sigma: float, angles: Tensor) -> Tensor:
    """ImageMagick's MotionBlurImage kernel, one per angle (degrees): a one-sided line of width
    2 * ceil(radius) + 1 pixels from the centre towards the angle, with weights exp(-i^2 / (2 sigma^2)) at
    distance i, each tap rounded to the nearest pixel. Returns (len(angles), 2w - 1, 2w - 1)."""
    width = 2 * math.ceil(radius) + 1
    steps = torch.arange(width, device=angles.device, dtype=torch.float64)
    weights = torch.exp(-(steps**2) / (2 * sigma**2))
    weights = weights / weights.sum()
    radians = torch.deg2rad(angles.double())[:, None]
    dx = torch.ceil(steps * torch.cos(radians) - 0.5).long()  # (N, width); ceil(v - 0.5) as ImageMagick rounds
    dy = torch.ceil(steps * torch.sin(radians) - 0.5).long()
    size = 2 * width - 1
    flat = (dy + width - 1) * size + (dx + width - 1)
    taps = flat[:, :, None] == torch.arange(size * size, device=angles.device)  # taps can share a pixel: sum them
    kernels = (taps.double() * weights[None, :, None]).sum(dim=1)
    return kernels.reshape(len(angles), size, size).float()


def motion_blur(images: Tensor, radius: float, sigma: float, angles: Tensor) -> Tensor:
    """Blur image i along angles[i] degrees (ImageMagick motion blur; borders repeat the edge pixel)."""
    return filter2d(images, motion_kernels(radius, sigma, angles), "edge")
