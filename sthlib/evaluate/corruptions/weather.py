"""Weather corruptions (and brightness, which CIFAR-10-C files under weather): they change large image regions
smoothly or add structures larger than a few pixels, so low-frequency."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from sthlib.evaluate.corruptions.base import Corruption, register
from sthlib.evaluate.corruptions.filters import motion_blur
from sthlib.evaluate.corruptions.resample import clipped_zoom
from sthlib.evaluate.corruptions.textures import frost_texture, plasma_fractal, plasma_size

# Severity tables of CIFAR-10-C (hendrycks/robustness, ImageNet-C/create_c/make_cifar_c.py), severities 1..5.


class SnowParams(NamedTuple):
    mean: float  # mean of the Gaussian flake layer (pixel values)
    std: float  # its standard deviation
    zoom: float  # centre zoom of the layer: larger flakes
    threshold: float  # layer values below this are cleared: fewer flakes
    blur_radius: float  # pixels: motion blur of the flakes (falling snow)
    blur_sigma: float  # pixels
    image_weight: float  # weight of the image against its brightened greyscale (a whitened, snowy scene)


SNOW = tuple(
    SnowParams(*p)
    for p in (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    )
)
SNOW_ANGLES = (-135.0, -45.0)  # degrees: the uniform range of the flakes' direction of fall
LUMA = (0.299, 0.587, 0.114)  # RGB -> grey weights of cv2.COLOR_RGB2GRAY (ITU-R BT.601)


class FrostParams(NamedTuple):
    image_weight: float  # factor on the image
    frost_weight: float  # factor on the frost texture, added


FROST = tuple(FrostParams(*p) for p in ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)))


class FogParams(NamedTuple):
    strength: float  # factor on the plasma fractal added to the image
    decay: float  # plasma "wibble decay": larger is smoother fog


FOG = tuple(FogParams(*p) for p in ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)))
BRIGHTNESS_SHIFT = (0.05, 0.1, 0.15, 0.2, 0.3)  # added to the HSV value channel (pixel values in [0, 1])


def grey(images: Tensor) -> Tensor:
    """(N, 1, H, W) luma of RGB images; grayscale images are their own."""
    if images.shape[1] == 1:
        return images
    weights = torch.tensor(LUMA, device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    return (images * weights).sum(dim=1, keepdim=True)


@register
class Snow(Corruption):
    name = "snow"
    frequency = "low"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        p = SNOW[severity - 1]
        n, _, h, w = images.shape
        flakes = p.mean + p.std * torch.randn(n, 1, h, w, generator=generator, device=images.device)
        flakes = clipped_zoom(flakes.to(images.dtype), p.zoom)
        flakes = torch.where(flakes < p.threshold, 0.0, flakes).clamp(0.0, 1.0)
        low, high = SNOW_ANGLES
        angles = low + (high - low) * torch.rand(n, generator=generator, device=images.device)
        flakes = motion_blur(flakes, p.blur_radius, p.blur_sigma, angles)
        whitened = torch.maximum(images, grey(images) * 1.5 + 0.5)
        scene = p.image_weight * images + (1 - p.image_weight) * whitened
        return scene + flakes + flakes.flip(-2, -1)  # flakes twice: as drawn, and rotated by 180 degrees


@register
class Frost(Corruption):
    """The image behind a frosted pane: a weighted sum of the image and a frost layer. The original uses crops
    of frost photographs; see textures.frost_texture for the procedural layer used here instead."""

    name = "frost"
    frequency = "low"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        p = FROST[severity - 1]
        n, c, h, w = images.shape
        frost = frost_texture(n, max(h, w), c, generator, images.device)[..., :h, :w].to(images.dtype)
        return p.image_weight * images + p.frost_weight * frost


@register
class Fog(Corruption):
    """Add a plasma fractal, then rescale so that the brightest pixel keeps roughly its value."""

    name = "fog"
    frequency = "low"

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        p = FOG[severity - 1]
        n, _, h, w = images.shape
        plasma = plasma_fractal(n, plasma_size(max(h, w)), p.decay, generator, images.device)
        brightest = images.amax(dim=(1, 2, 3), keepdim=True)
        fogged = images + p.strength * plasma[:, None, :h, :w].to(images.dtype)
        return fogged * brightest / (brightest + p.strength)


@register
class Brightness(Corruption):
    """Add to the HSV value. Hue and saturation are unchanged, so an RGB pixel scales by V' / V with
    V = max(r, g, b) and V' = min(V + shift, 1): exactly the rgb -> hsv -> rgb round trip of the original
    (a black pixel, whose hue and saturation are 0, becomes grey V'). For one channel V is the value itself."""

    name = "brightness"
    frequency = "low"
    stochastic = False

    def apply(self, images: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        value = images.amax(dim=1, keepdim=True)
        brighter = (value + BRIGHTNESS_SHIFT[severity - 1]).clamp(max=1.0)
        scaled = images * (brighter / value.clamp(min=torch.finfo(images.dtype).tiny))
        return torch.where(value > 0, scaled, brighter)
