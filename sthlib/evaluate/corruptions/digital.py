"""Digital corruptions: contrast (global, low-frequency), elastic transform (local warps of a few pixels,
mid-frequency), pixelate and JPEG (block artefacts and lost fine detail, high-frequency)."""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from sthlib.evaluate.corruptions.base import Corruption, register
from sthlib.evaluate.corruptions.filters import gaussian_blur
from sthlib.evaluate.corruptions.resample import (
    affine_from_points,
    apply_affine,
    box_resize,
    pixel_grid,
    sample,
)

# Severity tables of CIFAR-10-C (hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py), severities 1..5.
CONTRAST = (0.75, 0.5, 0.4, 0.3, 0.15)  # factor on each pixel's distance to its image's channel mean


class ElasticParams(NamedTuple):  # all three as fractions of the image side (CIFAR-10-C: IMSIZE * value)
    alpha: float  # amplitude of the smooth random displacement field
    sigma: float  # Gaussian smoothing of that field's uniform noise
    affine: float  # largest random shift of the three control points of the affine warp


ELASTIC = tuple(
    ElasticParams(*p)
    for p in ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
)
ELASTIC_TRUNCATE = 3.0  # radius of the displacement smoothing kernel, in sigmas
PIXELATE = (0.95, 0.9, 0.85, 0.75, 0.65)  # side of the intermediate image, as a fraction of the original
JPEG_QUALITY = (80, 65, 58, 50, 40)  # Pillow JPEG quality factor (1..95 useful, libjpeg scale)


@register
class Contrast(Corruption):
    name = "contrast"
    frequency = "low"
    stochastic = False

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        means = images.mean(dim=(2, 3), keepdim=True)
        return (images - means) * CONTRAST[severity - 1] + means


@register
class ElasticTransform(Corruption):
    """A random affine warp (cv2.warpAffine, mirrored borders), then a smooth random displacement field
    (scipy map_coordinates, order 1); two bilinear resamplings, as the original."""

    name = "elastic_transform"
    frequency = "mid"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        side = min(images.shape[-2:])
        p = ElasticParams(*(value * side for value in ELASTIC[severity - 1]))
        warped = sample(images, self._affine_coords(images, p.affine, generator), "reflect")
        return sample(warped, self._displaced_coords(warped, p, generator), "symmetric")

    @staticmethod
    def _affine_coords(images: Tensor, shift: float, generator: torch.Generator) -> Tensor:
        """Where each output pixel reads from: the affine map that moves three points around the centre by up
        to `shift` pixels each, inverted."""
        n, _, h, w = images.shape
        centre = torch.tensor([w // 2, h // 2], device=images.device, dtype=torch.float32)
        half = min(h, w) // 3
        corners = torch.tensor([[half, half], [half, -half], [-half, -half]], device=images.device)
        source = (centre + corners).expand(n, 3, 2)
        moved = source + shift * (2 * torch.rand(n, 3, 2, generator=generator, device=images.device) - 1)
        inverse = affine_from_points(moved, source)
        return apply_affine(inverse, pixel_grid(n, h, w, images.device))

    @staticmethod
    def _displaced_coords(images: Tensor, p: ElasticParams, generator: torch.Generator) -> Tensor:
        n, _, h, w = images.shape
        noise = 2 * torch.rand(n, 2, h, w, generator=generator, device=images.device) - 1  # (dx, dy)
        field = p.alpha * gaussian_blur(noise, p.sigma, "symmetric", ELASTIC_TRUNCATE)
        return pixel_grid(n, h, w, images.device) + field.permute(0, 2, 3, 1)


@register
class Pixelate(Corruption):
    """Shrink, then enlarge back, both with Pillow's box filter."""

    name = "pixelate"
    frequency = "high"
    stochastic = False

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        h, w = images.shape[-2:]
        factor = PIXELATE[severity - 1]
        small = box_resize(images, max(1, int(h * factor)), max(1, int(w * factor)))
        return box_resize(small, h, w)


def jpeg_round_trip(pixels: np.ndarray, quality: int) -> np.ndarray:
    """Save one uint8 image (C, H, W) as JPEG with Pillow at `quality` and read it back."""
    image = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    decoded = np.asarray(Image.open(buffer))
    return decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)


@register
class JpegCompression(Corruption):
    """Save and reload as JPEG with Pillow, as the original. JPEG coding needs the CPU and uint8 pixels (the
    original saved uint8 images too), so this step rounds to uint8, leaves the device and returns to it."""

    name = "jpeg_compression"
    frequency = "high"
    stochastic = False

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        pixels = (images.clamp(0.0, 1.0) * 255).round().to(torch.uint8).cpu().numpy()
        decoded = np.stack([jpeg_round_trip(image, JPEG_QUALITY[severity - 1]) for image in pixels])
        return torch.from_numpy(decoded).to(images.device, images.dtype) / 255
