"""Colour conversions on uint8 NCHW arrays, bit-identical to what the reference pipeline produces."""

from __future__ import annotations

import numpy as np

# ITU-R 601-2 luma in PIL's fixed point (Image.convert("L"), which torchvision's Grayscale uses on PIL images):
# L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.
_LUMA_FIXED = (19595, 38470, 7471)


def to_grayscale(images: np.ndarray) -> np.ndarray:
    """(N,3,H,W) uint8 -> (N,1,H,W) uint8 with luma weights; (N,1,H,W) is returned unchanged."""
    if images.shape[1] == 1:
        return images
    if images.shape[1] != 3:
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[1]}")
    rgb = images.astype(np.uint32)
    luma = rgb[:, 0] * _LUMA_FIXED[0] + rgb[:, 1] * _LUMA_FIXED[1] + rgb[:, 2] * _LUMA_FIXED[2] + 0x8000
    return (luma >> 16).astype(np.uint8)[:, None]


def to_rgb(images: np.ndarray) -> np.ndarray:
    """(N,1,H,W) uint8 -> (N,3,H,W) by repeating the channel; (N,3,H,W) is returned unchanged."""
    if images.shape[1] == 3:
        return images
    if images.shape[1] != 1:
        raise ValueError(f"expected 1 or 3 channels, got {images.shape[1]}")
    return np.repeat(images, 3, axis=1)
