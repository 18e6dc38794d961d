"""Fake dataset files in the real on-disk layouts, for tests that must not depend on data being installed."""

from pathlib import Path

import numpy as np


def write_cifar10_bin(root: Path, labels: list[int], seed: int) -> None:
    """CIFAR-10's binary batches under root/cifar-10-batches-bin: five train files and a test file, each holding
    len(labels) random 32x32 RGB images with these labels (drawn from one generator, file after file)."""
    folder = root / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        records = rng.integers(0, 256, (len(labels), 1 + 3072), dtype=np.uint8)
        records[:, 0] = labels
        records.tofile(folder / f"{name}.bin")
