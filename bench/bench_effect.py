"""Where does the regularizer's effect appear on this machine? Baseline vs S^Th per configuration and seed.

For each configuration (architecture, alpha, Th, epochs; on mnist-5k, 4000 real training digits) and seed, trains
the unregularized baseline (alpha 0) and the S^Th model with everything else equal, then measures each model's
Gaussian-noise curve on the whole mnist-5k test split (1000 images, 10 sigmas from 0 to 0.5, PAPER.md section 4).
Per configuration it prints the means over seeds with 95% t intervals and the paired verdict of
sthlib.reproduce.verdict (normalised AUC and accuracy at sigma 0.5: S^Th - baseline per seed; R0/U0 >= 0.9).
Every model is appended to --json as it finishes (a long run that stops keeps what it measured; rerunning skips it).

python bench/bench_effect.py --config small_cnn:0.1:0.2:3 --config resnet18:4:0.2:4 --seeds 0,1,2
python bench/bench_effect.py --config resnet18_narrow:4:0.2:12 --config 'resnet18_narrow:4:0.2:12:speed.amp="bf16"' \
    --against resnet18_narrow:4:0.2:12          # does bf16 autocast change what the models reach?
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
from sthlib.reproduce.verdict import Evidence, compare, floor
from sthlib.specs import TrainSpec, preset
from sthlib.train import Trainer


def spec_of(config: str, seed: int, alpha: float | None = None) -> TrainSpec:
    """ARCH:ALPHA:TH:EPOCHS[:FIELD=VALUE...] on the quick preset (alpha overridden for the baseline); the extra
    fields are TrainSpec fields read as JSON values (train_limit=2000, reg.n_images=500)."""
    arch, a, th, epochs, *extra = config.split(":")
    changes = {key: json.loads(value) for key, value in (item.split("=", 1) for item in extra)}
    changes["reg.alpha"] = float(a) if alpha is None else alpha
    changes["reg.threshold"] = float(th)
    return preset("quick", arch=arch, epochs=int(epochs), seed=seed, **changes)


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


def _cells(e: Evidence) -> str:
    """A paired comparison's table cells: both means, the mean difference with its 95% t interval, the p-value."""
    p = "-" if e.p_value is None else f"{e.p_value:.3f}"
    span = "-" if e.effect.low is None else f"[{e.effect.low:+.3f}, {e.effect.high:+.3f}]"
    return f"{e.baseline.mean:.3f} | {e.sth.mean:.3f} | {e.effect.mean:+.3f} {span} | {p}"


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
        print(f"| {name} | {_cells(e)} | {e.verdict} |")
    kept = floor("R0/U0", {s: r["r0"] for s, r in base.items()}, {s: r["r0"] for s, r in sth.items()}, 0.9)
    span = "-" if kept.effect.low is None else f"[{kept.effect.low:.3f}, {kept.effect.high:.3f}]"
    print(f"| R0/U0 >= 0.9 | | | {kept.effect.mean:.3f} {span} | - | {kept.verdict} |")
    seconds = t_interval([r["train_s"] for r in rows])
    print(f"\ntraining: {seconds.mean:.0f} s per model (mean of {seconds.n}), kept epochs "
          f"{sorted(r['kept_epoch'] for r in rows)}")  # fmt: skip


def versus(config: str, reference: str, rows: list[dict[str, Any]], ref_rows: list[dict[str, Any]]) -> None:
    """`config` against `reference` with the same seeds, S^Th and baseline each: is a change that should not matter
    (bf16 autocast, a speed option) within seed noise? Paired per seed: config - reference, 95% t interval, p."""
    print(f"\n### {config} against {reference} (paired by seed: {config.split(':', 4)[-1]} - reference)\n")
    print("| model | metric | reference | this | difference (95% t) | paired t-test p |")
    print("|---|---|---|---|---|---|")
    for who, regularized in (("baseline", False), ("S^Th", True)):
        ref = {r["seed"]: r for r in ref_rows if (r["alpha"] != 0) == regularized}
        this = {r["seed"]: r for r in rows if (r["alpha"] != 0) == regularized}
        for key, name in (("r0", "clean accuracy"), ("auc", "gaussian AUC"), ("at_max", "accuracy at sigma 0.5")):
            e = compare(name, {s: r[key] for s, r in ref.items()}, {s: r[key] for s, r in this.items()})
            print(f"| {who} | {name} | {_cells(e)} |")
    seconds = [t_interval([r["train_s"] for r in group]).mean for group in (ref_rows, rows)]
    print(f"\ntraining: {seconds[1]:.0f} s per model against {seconds[0]:.0f} s ({seconds[1] / seconds[0]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--config", action="append", required=True, help="ARCH:ALPHA:TH:EPOCHS[:FIELD=VALUE...] (repeatable)"
    )
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--against", metavar="CONFIG", help="also compare every other --config with this one, by seed")
    parser.add_argument("--json", type=Path, default=Path("runs/bench-effect.jsonl"))
    parser.add_argument("--models", type=Path, default=Path("runs/bench-effect"))
    args = parser.parse_args()
    if args.against and args.against not in args.config:
        parser.error(f"--against {args.against} is none of the --config values")
    args.models.mkdir(parents=True, exist_ok=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in args.json.read_text().splitlines()] if args.json.exists() else []
    measured: dict[str, list[dict[str, Any]]] = {}
    for config in args.config:
        rows = measured[config] = []
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
    if args.against:
        for config in args.config:
            if config != args.against:
                versus(config, args.against, measured[config], measured[args.against])


if __name__ == "__main__":
    main()
