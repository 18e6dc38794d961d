"""Evaluator throughput, and the boundary attack batched vs one image at a time. Prints markdown tables.

python bench/bench_evaluate.py            # small CNN (trained briefly here) and resnet18, ~10 minutes on 2 cores
python bench/bench_evaluate.py --quick    # small CNN only, fewer images
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sthlib.evaluate import get_evaluator, load_classifier
from sthlib.evaluate.classifier import Classifier, evaluation_images
from sthlib.evaluate.minimal import Boundary
from sthlib.specs import preset
from sthlib.train import Trainer, resolve_device

CASES: dict[str, dict[str, Any]] = {  # evaluator -> parameters (images/s counts images x strengths)
    "gaussian": {}, "uniform": {}, "salt_pepper": {}, "transfer_fgsm": {}, "fgsm": {}, "pgd": {"steps": 10},
    "boundary": {"steps": 50, "repeats": 1}, "hopskipjump": {"steps": 2, "repeats": 1},
    "corruption": {"severities": [1, 3, 5]},
}  # fmt: skip


def trained(folder: Path, device: str, **changes: Any) -> Classifier:
    """A briefly trained model: attacks behave differently on a model that predicts one class for everything."""
    trainer = Trainer(preset("smoke", epochs=1, test_limit=200, **changes), device=device)
    trainer.fit()
    path = folder / f"{trainer.spec.arch}.safetensors"
    trainer.save_best(path)
    return load_classifier(path, device=device).classifier


def throughput(models: dict[str, Classifier], source: Classifier, n: int, device: str) -> None:
    x_np, y_np = evaluation_images("mnist-5k", "gray", n, seed=0)
    x = torch.from_numpy(x_np).float().div(255).to(device)
    y = torch.from_numpy(y_np).to(device)
    print(f"\n### Evaluator throughput (mnist-5k test images, {n} per run, {device})\n")
    print("| evaluator | parameters | " + " | ".join(f"{m} images/s" for m in models) + " |")
    print("|---|---|" + "---|" * len(models))
    for name, params in CASES.items():
        cells = []
        for model in models.values():
            extra = {"source_model": source, "source": "in-memory"} if name == "transfer_fgsm" else {}
            evaluator = get_evaluator(name, **params, **extra)
            start = time.perf_counter()
            results = evaluator.run(model, x, y, "mnist-5k")
            seconds = time.perf_counter() - start
            scored = sum(len(getattr(r, "points", [None])) for r in results) * len(x)
            cells.append(f"{scored / seconds:.0f}")
        print(f"| {name} | {params or 'defaults'} | " + " | ".join(cells) + " |")


def boundary_batched_vs_single(model: Classifier, n: int, steps: int, device: str) -> None:
    x_np, _ = evaluation_images("mnist-5k", "gray", n, seed=1)
    x = torch.from_numpy(x_np).float().div(255).to(device)
    print(f"\n### Boundary attack, {n} images, {steps} steps, same images and seed ({device})\n")
    print("| mode | seconds | images/s | median ||d||^2/D | success | speed-up |")
    print("|---|---|---|---|---|---|")
    rows = []
    for label, batch in (("one image at a time", 1), ("batched", n)):
        attack = Boundary(steps=steps, n_images=n, batch_size=batch)
        start = time.perf_counter()
        out = attack.run_once(model, x, seed=0, progress=None)
        seconds = time.perf_counter() - start
        ok = out["success"].cpu().numpy()
        rows.append((label, seconds, float(np.median(out["mse"].cpu().numpy()[ok])), ok.mean()))
    for label, seconds, mse, rate in rows:
        print(f"| {label} | {seconds:.2f} | {n / seconds:.1f} | {mse:.5f} | {rate:.3f} | {rows[0][1] / seconds:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = str(resolve_device(args.device))
    with tempfile.TemporaryDirectory() as tmp:
        small = trained(Path(tmp), device)
        models = {"small_cnn": small}
        if not args.quick:  # one epoch on 2560 images, unregularized: enough to predict several classes
            models["resnet18"] = trained(Path(tmp), device, arch="resnet18", train_limit=2560, **{"reg.alpha": 0.0})
    print(f"## Evaluator benchmark ({torch.__version__}, {torch.get_num_threads()} threads, {device})")
    throughput(models, small, 100 if args.quick else 200, device)
    boundary_batched_vs_single(small, 50 if args.quick else 200, 50, device)


if __name__ == "__main__":
    main()
