"""Fourier analysis of perturbations (Li et al.'s method, PAPER.md section 4): the power of |fft2(delta)|^2,
binned by normalised radial frequency in [0, 0.5] cycles per pixel, and two summaries comparable across models."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

MAX_FREQUENCY = 0.5  # Nyquist, in cycles per pixel


def radial_power_spectrum(deltas: Tensor, bins: int = 25) -> dict[str, Any]:
    """Fraction of the perturbations' power in each radial frequency bin (sums to 1).

    Power is |fftshift(fft2(delta))|^2 averaged over images and channels. A component's radial frequency is
    sqrt(fx^2 + fy^2) in cycles per pixel; the corners beyond 0.5 (diagonal frequencies up to 0.707) count in the
    top bin. Returns {"frequency": bin centres, "edges", "power": fraction per bin, "mean_power": radially
    averaged power per component (normalised to sum 1), "components": Fourier components per bin, "n": images}.
    """
    if deltas.ndim != 4 or len(deltas) == 0:
        raise ValueError(f"deltas must be a non-empty (N,C,H,W) tensor, got shape {tuple(deltas.shape)}")
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}")
    h, w = deltas.shape[-2:]
    spectrum = torch.fft.fftshift(torch.fft.fft2(deltas.double()), dim=(-2, -1))
    power = (spectrum.abs() ** 2).mean(dim=(0, 1)).cpu()
    fy = torch.fft.fftshift(torch.fft.fftfreq(h, dtype=torch.float64))
    fx = torch.fft.fftshift(torch.fft.fftfreq(w, dtype=torch.float64))
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    index = torch.clamp((radius / MAX_FREQUENCY * bins).long(), max=bins - 1).flatten()
    total = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, power.flatten())
    counts = torch.zeros(bins, dtype=torch.float64).index_add_(0, index, torch.ones_like(power.flatten()))
    mean = torch.where(counts > 0, total / counts.clamp_min(1), 0.0)
    edges = np.linspace(0, MAX_FREQUENCY, bins + 1)
    grand = float(total.sum())
    return {
        "frequency": ((edges[:-1] + edges[1:]) / 2).tolist(),
        "edges": edges.tolist(),
        "power": (total / grand).tolist() if grand > 0 else [0.0] * bins,
        "mean_power": (mean / float(mean.sum())).tolist() if float(mean.sum()) > 0 else [0.0] * bins,
        "components": counts.long().tolist(),  # Fourier components per bin: 0 for bins finer than the image allows
        "n": len(deltas),
    }


def power_below(spectrum: dict[str, Any], cutoff: float) -> float:
    """Fraction of power at radial frequencies below `cutoff` (linear within the bin that holds it)."""
    edges, power = np.asarray(spectrum["edges"]), np.asarray(spectrum["power"])
    covered = np.clip((cutoff - edges[:-1]) / (edges[1:] - edges[:-1]), 0, 1)
    return float((power * covered).sum())


def half_power_frequency(spectrum: dict[str, Any]) -> float:
    """The radial frequency where the cumulative power reaches one half (linear within its bin)."""
    edges, power = np.asarray(spectrum["edges"]), np.asarray(spectrum["power"])
    cumulative = np.concatenate([[0.0], np.cumsum(power)])
    return float(np.interp(0.5, cumulative, edges)) if cumulative[-1] > 0 else float("nan")


def summarise(spectrum: dict[str, Any], cutoff: float = 0.25) -> dict[str, Any]:
    """The spectrum plus its summaries, as stored in a PerturbationReport."""
    return {**spectrum, "cutoff": cutoff, "power_below_cutoff": power_below(spectrum, cutoff),
            "half_power_frequency": half_power_frequency(spectrum)}  # fmt: skip
