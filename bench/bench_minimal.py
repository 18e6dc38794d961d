"""Convergence of the minimal-perturbation attacks: steps vs median ||delta||^2/D vs seconds, per start.

The two "smoke" models (the smoke preset, the quick preset before 2026-12-03: regularized, and its unregularized
twin with reg.alpha=0; small CNN, 3 epochs on mnist-5k), the same seeded subset of mnist-5k test images for every
cell, one repeat per cell (seed 0). For each step budget s the table also gives median(4s) / median(s): the issue's
convergence criterion is that it stays within 15% of 1 on both models. Prints markdown tables; writes every cell
as JSON with --json.

python bench/bench_minimal.py                                   # both attacks, both starts (~1 hour on 2 cores)
python bench/bench_minimal.py --attack boundary --steps 50,200,800 --starts nearest
python bench/bench_minimal.py --check --n-images 20 --threads 1   # the default boundary steps converged? (~17 min)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sthlib.evaluate import get_evaluator, load_classifier
from sthlib.evaluate.classifier import Classifier, evaluation_images
from sthlib.specs import preset
from sthlib.train import Trainer

LADDERS = {"boundary": [50, 200, 800, 3200, 12800], "hopskipjump": [4, 16, 64, 256]}


def quick_models(folder: Path) -> dict[str, Classifier]:
    """The smoke preset and its unregularized twin, trained once into `folder` (reused when present)."""
    folder.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, changes in (("unregularized", {"reg.alpha": 0.0}), ("regularized", {})):
        path = folder / f"quick-{name}.safetensors"
        if not path.exists():
            trainer = Trainer(preset("smoke", **changes))
            trainer.fit()
            trainer.save_best(path)
        models[name] = load_classifier(path).classifier
    return models


def cell(model: Classifier, attack: str, start: str, steps: int, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
    evaluator = get_evaluator(attack, steps=steps, start=start, repeats=1, n_images=len(x))
    began = time.perf_counter()
    report = evaluator.run(model, x, y, "mnist-5k")[0]
    seconds = time.perf_counter() - began
    s = report.summary
    return {"attack": attack, "start": start, "steps": steps, "median_mse": s.score, "success_rate": s.success_rate,
            "start_rate": s.start_rate, "seconds": seconds}  # fmt: skip


def table(rows: list[dict[str, Any]], models: list[str]) -> None:
    def key(r: dict[str, Any]) -> tuple[str, str, int]:
        return r["attack"], r["start"], r["steps"]

    by = {(r["model"], *key(r)): r for r in rows}
    print("| attack | start | steps | " + " | ".join(
        f"{m}: median ||d||^2/D, x4 steps ratio, success, s" for m in models) + " |")  # fmt: skip
    print("|---|---|---:|" + "---|" * len(models))
    for attack, start, steps in sorted({key(r) for r in rows}):
        cells = []
        for m in models:
            r = by.get((m, attack, start, steps))
            if r is None:
                cells.append("")
                continue
            later = by.get((m, attack, start, steps * 4))
            ratio = f"{later['median_mse'] / r['median_mse']:.3f}" if later else "-"
            cells.append(f"{r['median_mse']:.5f}, {ratio}, {r['success_rate']:.2f}, {r['seconds']:.0f}")
        print(f"| {attack} | {start} | {steps} | " + " | ".join(cells) + " |")


def check_converged(
    models: dict[str, Classifier], x: torch.Tensor, y: torch.Tensor, steps: int | None = None, tolerance: float = 0.15
) -> list[str]:
    """The convergence rule for boundary's default steps (or `steps`): 4x the steps moves each model's median
    ||d||^2/D by less than `tolerance`. Returns one failure line per model that breaks it (empty: converged)."""
    steps = steps or get_evaluator("boundary").params.steps
    failures = []
    for name, model in models.items():
        low, high = (cell(model, "boundary", "best", s, x, y)["median_mse"] for s in (steps, 4 * steps))
        ratio = high / low
        print(f"{name}: boundary {steps} steps {low:.5f}, {4 * steps} steps {high:.5f}, ratio {ratio:.3f}", flush=True)
        if not abs(ratio - 1) < tolerance:
            failures.append(
                f"{name}: 4x the steps moved the median ||d||^2/D by {ratio - 1:+.1%} (limit {tolerance:.0%})"
            )
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attack", action="append", choices=sorted(LADDERS), help="default: both")
    parser.add_argument("--steps", help="comma-separated step budgets (default: the attack's ladder)")
    parser.add_argument("--starts", default="nearest,reference")
    parser.add_argument("--n-images", type=int, default=300)
    parser.add_argument("--models", type=Path, default=Path("runs/bench-minimal"), help="folder of the two models")
    parser.add_argument("--json", type=Path, help="append every cell here as JSON lines")
    parser.add_argument("--threads", type=int, help="torch threads (1 is faster for a few images on a busy CPU)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that boundary's default steps (or --steps N) are converged; exit 1 if not",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    models = quick_models(args.models)
    x_np, y_np = evaluation_images("mnist-5k", "gray", args.n_images, seed=0)
    x, y = torch.from_numpy(x_np).float() / 255, torch.from_numpy(y_np)
    if args.check:
        failures = check_converged(models, x, y, int(args.steps) if args.steps else None)
        print("\n".join(failures) or "converged: 4x the default steps moves both medians by less than 15%")
        sys.exit(1 if failures else 0)
    rows: list[dict[str, Any]] = []
    for attack in args.attack or sorted(LADDERS):
        ladder = [int(s) for s in args.steps.split(",")] if args.steps else LADDERS[attack]
        for start in args.starts.split(","):
            for steps in ladder:
                for name, model in models.items():
                    row = {"model": name, **cell(model, attack, start, steps, x, y)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if args.json:
                        with args.json.open("a") as f:
                            f.write(json.dumps(row) + "\n")
    print(f"\n### Minimal perturbations: {args.n_images} mnist-5k test images, one repeat (seed 0), cpu\n")
    table(rows, list(models))


if __name__ == "__main__":
    main()
