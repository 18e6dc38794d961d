"""Deterministic train/validation split of a training set."""

from __future__ import annotations

import numpy as np

DEFAULT_VALID_FRACTION = 0.01  # PAPER.md section 3: 1% of the train split, random


def train_valid_split(
    n: int, valid_fraction: float = DEFAULT_VALID_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..n-1 into (train, valid), both sorted, the same for the same (n, fraction, seed).

    The validation part has round(n * valid_fraction) images, at least 1 when the fraction is positive.
    """
    if n < 2:
        raise ValueError(f"need at least 2 images to split, got {n}")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction}")
    n_valid = 0 if valid_fraction == 0 else max(1, round(n * valid_fraction))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_valid:]), np.sort(perm[:n_valid])
