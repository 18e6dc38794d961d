"""Where does the regularizer's effect appear on this machine? Baseline vs S^Th per configuration and seed.

For each configuration (architecture, alpha, Th, epochs; on mnist-5k, 4000 real training digits) and seed, trains
the unregularized baseline (alpha 0) and the S^Th model with everything else equal, then measures each model's
Gaussian-noise curve on the whole mnist-5k test split (1000 images, 10 sigmas from 0 to 0.5, PAPER.md section 4).
Per configuration it prints the means over seeds with 95% t intervals and the paired verdict of
sthlib.reproduce.verdict (normalised AUC and accuracy at sigma 0.5: S^Th - baseline per seed; R0/U0 >= 0.9).
Every model is appended to --json as it finishes (a long run that stops keeps what it measured; rerunning skips it).

python bench/bench_effect.py --config small_cnn:0.1:0.2:3 --config resnet18:4:0.2:4 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from sthlib.evaluate import get_evaluator, load_classifier
from sthlib.evaluate.aggregate import t_interval
from sthlib.evaluate.classifier import evaluation_images
from sthlib.evaluate.metrics import normalized_auc
from sthlib.reproduce.verdict import compare, floor
from sthlib.specs import TrainSpec, preset
from sthlib.train import Trainer


def spec_of(config: str, seed: int, alpha: float | None = None) -> TrainSpec:
    """ARCH:ALPHA:TH:EPOCHS on the quick preset (alpha overridden for the baseline)."""
    arch, a, th, epochs = config.split(":")
    return preset("quick", arch=arch, epochs=int(epochs), seed=seed,
                  **{"reg.alpha": float(a) if alpha is None else alpha, "reg.threshold": float(th)})  # fmt: skip


def measure(spec: TrainSpec, folder: Path) -> dict[str, Any]:
    began = time.perf_counter()
    trainer = Trainer(spec)
    result = trainer.fit()
    seconds = time.perf_counter() - began
    path = folder / f"{spec.setting_hash()}-s{spec.seed}.safetensors"
    trainer.save_best(path)
    model = load_classifier(path).classifier
    x, y = evaluation_images(spec.dataset, spec.color, None, seed=0)
    curve = get_evaluator("gaussian").run(model, torch.from_numpy(x).float() / 255, torch.from_numpy(y), spec.dataset)
    points = curve[0].points
    return {"setting": spec.setting_hash(), "label": spec.setting_label(), "seed": spec.seed,
            "alpha": spec.reg.alpha, "r0": points[0].accuracy, "at_max": points[-1].accuracy,
            "auc": normalized_auc(curve[0]), "kept_epoch": result.best_epoch, "train_s": seconds,
            "curve": [[p.strength, p.accuracy] for p in points]}  # fmt: skip


def report(config: str, rows: list[dict[str, Any]]) -> None:
    base = {r["seed"]: r for r in rows if r["alpha"] == 0}
    sth = {r["seed"]: r for r in rows if r["alpha"] != 0}
    if not base or not sth:
        return
    print(f"\n### {config}: {next(iter(sth.values()))['label']} vs alpha 0, seeds {sorted(set(base) & set(sth))}\n")
    print("| metric | baseline | S^Th | S^Th - baseline (95% t) | paired t-test p | verdict |")
    print("|---|---|---|---|---|---|")
    for key, name in (("r0", "clean accuracy"), ("auc", "gaussian AUC"), ("at_max", "accuracy at sigma 0.5")):
        e = compare(name, {s: r[key] for s, r in base.items()}, {s: r[key] for s, r in sth.items()})
        p = "-" if e.p_value is None else f"{e.p_value:.3f}"
        span = "-" if e.effect.low is None else f"[{e.effect.low:+.3f}, {e.effect.high:+.3f}]"
        print(f"| {name} | {e.baseline.mean:.3f} | {e.sth.mean:.3f} | {e.effect.mean:+.3f} {span} | {p} | "
              f"{e.verdict} |")  # fmt: skip
    kept = floor("R0/U0", {s: r["r0"] for s, r in base.items()}, {s: r["r0"] for s, r in sth.items()}, 0.9)
    span = "-" if kept.effect.low is None else f"[{kept.effect.low:.3f}, {kept.effect.high:.3f}]"
    print(f"| R0/U0 >= 0.9 | | | {kept.effect.mean:.3f} {span} | - | {kept.verdict} |")
    seconds = t_interval([r["train_s"] for r in rows])
    print(f"\ntraining: {seconds.mean:.0f} s per model (mean of {seconds.n}), kept epochs "
          f"{sorted(r['kept_epoch'] for r in rows)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", required=True, help="ARCH:ALPHA:TH:EPOCHS (repeatable)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", type=Path, default=Path("runs/bench-effect.jsonl"))
    parser.add_argument("--models", type=Path, default=Path("runs/bench-effect"))
    args = parser.parse_args()
    args.models.mkdir(parents=True, exist_ok=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in args.json.read_text().splitlines()] if args.json.exists() else []
    for config in args.config:
        rows = []
        for seed in map(int, args.seeds.split(",")):
            for alpha in (0.0, None):
                spec = spec_of(config, seed, alpha)
                row = next((r for r in done if r["setting"] == spec.setting_hash() and r["seed"] == seed), None)
                if row is None:
                    row = measure(spec, args.models)
                    with args.json.open("a") as f:
                        f.write(json.dumps(row) + "\n")
                    done.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
                rows.append(row)
        report(config, rows)


if __name__ == "__main__":
    main()
