"""The torch-free half of the pixel similarity (PAPER.md section 1): r_i, the pair rules and the summary.

Numpy only, so the API can answer "what would Th select on this dataset" without importing torch.
``sthlib.similarity`` builds the torch side (dense S, targets, the training pair source) on the same definitions:
``unit_vectors`` defines r_i once, and ``pair_targets`` / ``pair_selected`` are the registry's (sthlib.variants),
written with operators that numpy arrays and torch tensors share, so a pair's target and selection are defined once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sthlib.variants import VARIANTS, pair_selected, pair_targets, validate_selection, variant_rule

__all__ = [
    "SimilaritySummary",
    "count_selected",
    "pair_selected",
    "pair_targets",
    "similarity_summary",
    "unit_vectors",
]


def unit_vectors(images: np.ndarray, dtype: Any = np.float32, chunk: int = 1024) -> np.ndarray:
    """r_i: each image averaged over channels, flattened, centred on the mean image, scaled to unit length.

    Images are (N,C,H,W) in [0, 1] (uint8 arrays are scaled by 1/255). The arithmetic runs in float64, chunk by
    chunk, so the only N x D buffer is the result. An image equal to the mean image has no direction and gets
    r_i = 0 (similarity 0 with every other image).
    """
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must be (N,C,H,W), got shape {tuple(x.shape)}")
    scale = 1 / 255 if x.dtype == np.uint8 else 1.0
    n = x.shape[0]

    def gray(start: int) -> np.ndarray:  # (chunk, D) float64 in [0, 1]
        return x[start : start + chunk].astype(np.float64).mean(axis=1).reshape(-1, x[0, 0].size) * scale

    mean = sum((gray(start).sum(axis=0) for start in range(0, n, chunk)), np.zeros(1)) / max(n, 1)
    out = np.empty((n, x[0, 0].size if n else 0), dtype=dtype)
    for start in range(0, n, chunk):
        centred = gray(start) - mean
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        out[start : start + chunk] = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)
    return out


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TILE = 1024


def _upper_tiles(r: np.ndarray) -> Iterator[np.ndarray]:
    """S over every pair i < j of r (N,D), tile by tile: each tile's similarities as a flat array."""
    n = r.shape[0]
    for i0 in range(0, n, TILE):
        rows = r[i0 : i0 + TILE]
        for j0 in range(i0, n, TILE):
            s = rows @ r[j0 : j0 + TILE].T
            yield s[np.triu_indices(s.shape[0], 1, s.shape[1])] if j0 == i0 else s.ravel()


def count_selected(r: Any, threshold: float, variant: str, threshold_low: float | None = None) -> int:
    """How many pairs i < j of the unit vectors r (N,D; a numpy array or a CPU tensor) a variant trains on (exact)."""
    validate_selection(threshold, variant, threshold_low)
    r = np.asarray(r, dtype=np.float32)
    n = r.shape[0]
    if not variant_rule(variant).filters:
        return n * (n - 1) // 2
    return sum(int(np.count_nonzero(pair_selected(s, threshold, variant, threshold_low))) for s in _upper_tiles(r))


def similarity_summary(
    r: np.ndarray,
    threshold: float,
    threshold_low: float | None = None,
    bins: int = 40,
    max_exact_pairs: int = 200_000_000,
    samples: int = 2_000_000,
    seed: int = 0,
) -> SimilaritySummary:
    """Histogram of S and the fraction of pairs each variant selects at `threshold`, from unit vectors r (N,D).

    Exact (a tiled pass over all pairs i < j) up to `max_exact_pairs` pairs, else estimated from `samples`
    uniformly drawn pairs (seeded).
    """
    validate_selection(threshold, "all")
    if threshold_low is not None:
        validate_selection(threshold, "double", threshold_low)
    if not 1 <= bins <= 1000:
        raise ValueError(f"bins must be in [1, 1000], got {bins}")
    r = np.asarray(r, dtype=np.float32)
    n = r.shape[0]
    total = n * (n - 1) // 2
    if total == 0:
        raise ValueError("need at least 2 images for a similarity summary")
    variants = [v for v in VARIANTS if threshold_low is not None or not variant_rule(v).needs_low]
    counts = np.zeros(bins, dtype=np.int64)
    chosen = dict.fromkeys(variants, 0)
    signs = {"+1": 0, "0": 0, "-1": 0}

    def tally(s: np.ndarray) -> None:
        counts[:] += np.bincount(np.clip(((s + 1) * (bins / 2)).astype(np.int64), 0, bins - 1), minlength=bins)
        for v in variants:
            chosen[v] += int(np.count_nonzero(pair_selected(s, threshold, v, threshold_low)))
        t = pair_targets(s, threshold, "all")
        plus, minus = int(np.count_nonzero(t > 0)), int(np.count_nonzero(t < 0))
        signs["+1"] += plus
        signs["-1"] += minus
        signs["0"] += s.size - plus - minus

    exact = total <= max_exact_pairs
    if exact:
        for s in _upper_tiles(r):
            tally(s)
        seen = total
    else:
        rng = np.random.default_rng(seed)
        for start in range(0, samples, 1 << 16):
            m = min(1 << 16, samples - start)
            i = rng.integers(0, n, m)
            j = rng.integers(0, n - 1, m)
            j += j >= i  # uniform over ordered pairs i != j, hence over unordered pairs
            tally(np.einsum("kd,kd->k", r[i], r[j]))
        seen = samples
    return SimilaritySummary(
        n=n,
        pairs=total,
        exact=exact,
        sampled=seen,
        threshold=threshold,
        threshold_low=threshold_low,
        bin_edges=np.linspace(-1, 1, bins + 1).round(12).tolist(),
        counts=counts.tolist(),
        selected_fraction={v: c / seen for v, c in chosen.items()},
        target_fraction={k: c / seen for k, c in signs.items()},
    )
