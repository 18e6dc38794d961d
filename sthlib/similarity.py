"""Pixel-similarity targets S^Th (PAPER.md section 1): the dense API and the training pair source.

The dense API (``pixel_similarity``, ``threshold_targets``) materialises N x N matrices and is meant for analysis
and tests. Training uses ``PairSampler``, which keeps only the unit vectors r_i (O(N*D) memory) and computes each
pair's similarity and target on the fly. Both go through the same two elementwise rules (``pair_selected``,
``pair_targets``), so a pair's target and selection are defined once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from sthlib.specs import VARIANTS, validate_selection

Variant = Literal["all", "high", "low", "positive", "negative", "double", "continuous"]
__all__ = ["VARIANTS", "pixel_similarity", "threshold_targets", "unit_vectors", "validate_selection"]


def pair_targets(s: Tensor, threshold: float, variant: str) -> Tensor:
    """T = S^Th: +1 where S > Th, -1 where S < -Th, 0 otherwise; T = S for the continuous variant."""
    if variant == "continuous":
        return s.clone()
    return (s > threshold).to(s.dtype) - (s < -threshold).to(s.dtype)


def pair_selected(s: Tensor, threshold: float, variant: str, threshold_low: float | None = None) -> Tensor:
    """Which pairs a variant trains on (the paper's "range"), elementwise on similarities S."""
    if variant in ("all", "continuous"):
        return torch.ones_like(s, dtype=torch.bool)
    a = s.abs()
    if variant == "high":
        return a > threshold
    if variant == "low":
        return a < threshold
    if variant == "positive":
        return (s > threshold) | (a < threshold)
    if variant == "negative":
        return (s < -threshold) | (a < threshold)
    if variant == "double":
        return (a > threshold) | (a < float(threshold_low))  # type: ignore[arg-type]
    raise ValueError(f"unknown variant {variant!r}")


def unit_vectors(images: Tensor | np.ndarray, dtype: torch.dtype = torch.float32, chunk: int = 1024) -> Tensor:
    """r_i: each image averaged over channels, flattened, centred on the mean image, scaled to unit length.

    Images are (N,C,H,W) in [0, 1] (uint8 arrays are scaled by 1/255). The arithmetic runs in float64, chunk by
    chunk, so the only N x D buffer is the result. An image equal to the mean image has no direction and gets
    r_i = 0 (similarity 0 with every other image).
    """
    x = torch.as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"images must be (N,C,H,W), got shape {tuple(x.shape)}")
    scale = 1 / 255 if x.dtype == torch.uint8 else 1.0
    n = x.shape[0]

    def gray(start: int) -> Tensor:  # (chunk, D) float64 in [0, 1]
        return x[start : start + chunk].to(torch.float64).mean(dim=1).flatten(1) * scale

    mean = sum((gray(start).sum(dim=0) for start in range(0, n, chunk)), torch.zeros(1, dtype=torch.float64)) / n
    out = torch.empty((n, x[0, 0].numel()), dtype=dtype)
    for start in range(0, n, chunk):
        centred = gray(start) - mean
        norms = centred.norm(dim=1, keepdim=True)
        out[start : start + chunk] = torch.where(norms > 0, centred / norms.clamp_min(1e-300), 0.0).to(dtype)
    return out


TILE = 512  # S is computed in TILE x TILE tiles: efficient matmuls, and elementwise passes that stay in cache
BLOCK_ELEMENTS = 1 << 20  # similarities per row block when thresholding a dense S (4 MB in float32)


def _row_blocks(n: int, max_elements: int = BLOCK_ELEMENTS) -> Iterator[tuple[int, int]]:
    block = max(1, max_elements // max(n, 1))
    for i0 in range(0, n, block):
        yield i0, min(n, i0 + block)


def iter_upper_tiles(r: Tensor, tile: int = TILE) -> Iterator[tuple[int, int, Tensor, Tensor | None]]:
    """Yield (i0, j0, S[i0:i0+tile, j0:j0+tile], mask) over the tiles on and above the diagonal of S = r r^T.

    mask is None for a tile wholly above the diagonal (every entry is a pair i < j) and the strict upper
    triangle for a diagonal tile. Together the tiles cover every pair i < j exactly once, in O(tile^2) memory.
    """
    n = r.shape[0]
    diagonal = torch.ones((tile, tile), dtype=torch.bool, device=r.device).triu_(diagonal=1)
    for i0 in range(0, n, tile):
        rows = r[i0 : i0 + tile]
        for j0 in range(i0, n, tile):
            s = rows @ r[j0 : j0 + tile].T
            yield i0, j0, s, (diagonal[: s.shape[0], : s.shape[1]] if j0 == i0 else None)


def pixel_similarity(images: Tensor | np.ndarray, dtype: torch.dtype = torch.float32) -> Tensor:
    """S (N,N): cosine similarity of the centred grayscale pixel vectors (PAPER.md section 1).

    Computed tile by tile on and above the diagonal and mirrored: half the multiply-adds of r @ r.T.
    """
    r = unit_vectors(images, dtype)
    S = torch.empty((r.shape[0], r.shape[0]), dtype=dtype)
    for i0, j0, s, _ in iter_upper_tiles(r):
        S[i0 : i0 + s.shape[0], j0 : j0 + s.shape[1]] = s
        if j0 != i0:
            S[j0 : j0 + s.shape[1], i0 : i0 + s.shape[0]] = s.T
    return S


def threshold_targets(
    S: Tensor, threshold: float, variant: str = "all", threshold_low: float | None = None
) -> tuple[Tensor, Tensor]:
    """(targets (N,N), selected (N,N) bool, True only above the diagonal) for one variant of PAPER.md section 1."""
    validate_selection(threshold, variant, threshold_low)
    S = torch.as_tensor(S)
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be square (N,N), got shape {tuple(S.shape)}")
    targets = torch.empty_like(S)
    selected = torch.zeros(S.shape, dtype=torch.bool, device=S.device)
    for i0, i1 in _row_blocks(S.shape[0]):
        targets[i0:i1] = pair_targets(S[i0:i1], threshold, variant)
        upper = S[i0:i1, i0:]
        selected[i0:i1, i0:] = pair_selected(upper, threshold, variant, threshold_low).triu_(diagonal=1)
    return targets, selected


def pair_index_to_ij(t: Tensor, n: int) -> tuple[Tensor, Tensor]:
    """Row-major index t over the pairs i < j of n items -> (i, j)."""
    b = 2 * n - 1
    i = torch.floor((b - torch.sqrt((b * b - 8 * t).to(torch.float64))) / 2).to(torch.int64)
    row_start = i * (b - i) // 2  # index of pair (i, i+1)
    i = torch.where(row_start > t, i - 1, i)  # float rounding can overshoot by one row either way
    row_start = i * (b - i) // 2
    next_start = (i + 1) * (b - i - 1) // 2
    i = torch.where(t >= next_start, i + 1, i)
    row_start = i * (b - i) // 2
    return i, t - row_start + i + 1


@dataclass(frozen=True)
class SimilaritySummary:
    """What a user needs to choose Th: the distribution of S over pairs i < j and what each variant selects."""

    n: int  # images
    pairs: int  # pairs i < j
    exact: bool  # False: estimated from `sampled` uniformly drawn pairs
    sampled: int
    threshold: float
    threshold_low: float | None
    bin_edges: list[float]  # histogram of S over [-1, 1]
    counts: list[int]
    selected_fraction: dict[str, float]  # variant -> fraction of all pairs it trains on
    target_fraction: dict[str, float]  # "+1", "0", "-1" -> fraction of all pairs with that thresholded target

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def similarity_summary(
    r: Tensor,
    threshold: float,
    threshold_low: float | None = None,
    bins: int = 40,
    max_exact_pairs: int = 200_000_000,
    samples: int = 2_000_000,
    seed: int = 0,
) -> SimilaritySummary:
    """Histogram of S and the fraction of pairs each variant selects at `threshold`, from unit vectors r.

    Exact (a blocked pass over all pairs) up to `max_exact_pairs` pairs, else estimated from `samples` pairs.
    """
    validate_selection(threshold, "all")
    if threshold_low is not None:
        validate_selection(threshold, "double", threshold_low)
    n = r.shape[0]
    total = n * (n - 1) // 2
    if total == 0:
        raise ValueError("need at least 2 images for a similarity summary")
    variants = [v for v in VARIANTS if v != "double" or threshold_low is not None]
    counts = torch.zeros(bins, dtype=torch.int64)
    chosen = dict.fromkeys(variants, 0)
    signs = {"+1": 0, "0": 0, "-1": 0}

    def tally(s: Tensor) -> None:
        counts.add_(torch.histc(s.float().cpu(), bins=bins, min=-1.0, max=1.0).to(torch.int64))
        for v in variants:
            chosen[v] += int(pair_selected(s, threshold, v, threshold_low if v == "double" else None).sum())
        t = pair_targets(s, threshold, "all")
        signs["+1"] += int((t > 0).sum())
        signs["-1"] += int((t < 0).sum())
        signs["0"] += int((t == 0).sum())

    exact = total <= max_exact_pairs
    if exact:
        for _, _, s, upper in iter_upper_tiles(r):
            tally(s.flatten() if upper is None else s[upper])
        seen = total
    else:
        g = torch.Generator(device="cpu").manual_seed(seed)
        t = torch.randint(0, total, (samples,), generator=g, dtype=torch.int64).to(r.device)
        i, j = pair_index_to_ij(t, n)
        tally((r[i] * r[j]).sum(dim=1))
        seen = samples
    return SimilaritySummary(
        n=n,
        pairs=total,
        exact=exact,
        sampled=seen,
        threshold=threshold,
        threshold_low=threshold_low,
        bin_edges=torch.linspace(-1, 1, bins + 1).tolist(),
        counts=counts.tolist(),
        selected_fraction={v: c / seen for v, c in chosen.items()},
        target_fraction={k: c / seen for k, c in signs.items()},
    )
