"""Pixel-similarity targets S^Th (PAPER.md section 1): the dense API and the training pair source.

The dense API (``pixel_similarity``, ``threshold_targets``) materialises N x N matrices and is meant for analysis
and tests. Training uses ``sthlib.pairs.PairSampler``, which keeps only the unit vectors r_i (O(N*D) memory) and
computes each pair's similarity and target on the fly. Both go through the same two elementwise rules
(``pair_selected``, ``pair_targets``, from the variant registry ``sthlib.variants``), so a pair's target and
selection are defined once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from sthlib import simstats
from sthlib.simstats import SimilaritySummary, similarity_summary
from sthlib.variants import VARIANTS, Variant, pair_selected, pair_targets, validate_selection

__all__ = [
    "VARIANTS",
    "SimilaritySummary",
    "Variant",
    "pair_selected",
    "pair_targets",
    "pixel_similarity",
    "similarity_summary",
    "threshold_targets",
    "unit_vectors",
    "validate_selection",
]


def unit_vectors(images: Tensor | np.ndarray, dtype: torch.dtype = torch.float32, chunk: int = 1024) -> Tensor:
    """r_i as a CPU tensor (``sthlib.simstats.unit_vectors`` defines it; see there)."""
    if isinstance(images, Tensor):
        images = images.detach().cpu().numpy()
    np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    return torch.from_numpy(simstats.unit_vectors(images, chunk=chunk, dtype=np_dtype))


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
