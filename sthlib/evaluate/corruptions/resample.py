"""Resampling of image batches (N, C, H, W): centre zoom, PIL's box resize, and warps by sampling coordinates."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

WarpBorder = Literal["reflect", "symmetric"]  # as in filters.py: OpenCV REFLECT_101, or scipy/skimage "reflect"


def clipped_zoom(images: Tensor, factor: float) -> Tensor:
    """Zoom into the centre by `factor` >= 1 and keep the original size (CIFAR-10-C's clipped_zoom): crop
    ceil(side / factor) pixels, resize them bilinearly to round(crop * factor) as scipy.ndimage.zoom(order=1)
    does (corner-aligned), then trim the centre."""
    h, w = images.shape[-2:]
    crop_h, crop_w = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = images[..., top : top + crop_h, left : left + crop_w]
    size = (round(crop_h * factor), round(crop_w * factor))  # scipy: int(round(shape * zoom))
    if size != (crop_h, crop_w):
        crop = F.interpolate(crop, size=size, mode="bilinear", align_corners=True)
    trim_top, trim_left = (size[0] - h) // 2, (size[1] - w) // 2
    return crop[..., trim_top : trim_top + h, trim_left : trim_left + w]


def box_weights(n_in: int, n_out: int, device: torch.device) -> Tensor:
    """(n_out, n_in) weights of Pillow's BOX filter along one axis: output pixel o averages, with equal weights,
    the input pixels whose centres fall in its footprint (when shrinking) or the nearest one (when enlarging)."""
    scale = n_in / n_out
    filter_scale = max(scale, 1.0)
    support = 0.5 * filter_scale
    centres = (torch.arange(n_out, device=device, dtype=torch.float64) + 0.5) * scale
    pixels = torch.arange(n_in, device=device, dtype=torch.float64)
    first = (centres - support + 0.5).floor().clamp(min=0)  # Pillow's window [xmin, xmax) of candidate pixels
    last = (centres + support + 0.5).floor().clamp(max=n_in)
    offset = (pixels[None, :] + 0.5 - centres[:, None]) / filter_scale
    inside = (offset > -0.5) & (offset <= 0.5) & (pixels[None, :] >= first[:, None]) & (pixels[None, :] < last[:, None])
    weights = inside.double()
    return (weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)).float()


def box_resize(images: Tensor, height: int, width: int) -> Tensor:
    """Resize with Pillow's BOX filter (Image.resize(..., Image.BOX)), separably, without rounding to uint8."""
    rows = box_weights(images.shape[-2], height, images.device).to(images.dtype)
    cols = box_weights(images.shape[-1], width, images.device).to(images.dtype)
    return rows @ images @ cols.T


def pixel_grid(n: int, h: int, w: int, device: torch.device) -> Tensor:
    """(N, H, W, 2) pixel coordinates (x, y) of every output pixel."""
    ys, xs = torch.meshgrid(
        torch.arange(h, device=device, dtype=torch.float32),
        torch.arange(w, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return torch.stack((xs, ys), dim=-1).expand(n, h, w, 2)


def affine_from_points(source: Tensor, target: Tensor) -> Tensor:
    """(N, 2, 3) affine maps taking three (x, y) points `source` (N, 3, 2) to `target` (cv2.getAffineTransform)."""
    ones = torch.ones(*source.shape[:-1], 1, device=source.device, dtype=torch.float64)
    homogeneous = torch.cat((source.double(), ones), dim=-1)  # (N, 3, 3), rows (x, y, 1)
    return torch.linalg.solve(homogeneous, target.double()).transpose(1, 2).float()


def apply_affine(matrices: Tensor, points: Tensor) -> Tensor:
    """Map (N, H, W, 2) points through (N, 2, 3) affine matrices."""
    linear, shift = matrices[:, None, None, :, :2], matrices[:, None, None, :, 2]
    return (linear @ points.unsqueeze(-1)).squeeze(-1) + shift


def sample(images: Tensor, coords: Tensor, border: WarpBorder) -> Tensor:
    """Bilinear samples of image n at pixel coordinates coords[n] (N, H', W', 2) in (x, y) order; outside the
    image the border is mirrored ("reflect" about the edge pixels, "symmetric" about the image edges)."""
    h, w = images.shape[-2:]
    size = torch.tensor([w, h], device=coords.device, dtype=coords.dtype)
    # align_corners=True: -1 and 1 are the centres of the edge pixels; False: the outer edges of the edge pixels
    corners = border == "reflect"
    grid = 2 * coords / (size - 1) - 1 if corners else (2 * coords + 1) / size - 1
    return F.grid_sample(
        images, grid.to(images.dtype), mode="bilinear", padding_mode="reflection", align_corners=corners
    )
