"""One check of a GPU machine (at most ~8 minutes on an H100/H200): versions, the CUDA-only tests, training
throughput of resnet18 in each TrainSpec.speed variant (fp32, bf16 autocast, channels_last, both, torch.compile)
against a reference-style loop,
evaluator throughput, and a real `sth serve` run. Prints markdown tables and writes JSON.

    python bench/gpu_check.py --device cuda --json runs/gpu_check.json   # on the GPU machine
    python bench/gpu_check.py --device cpu --quick                        # what CI runs (about a minute)

Every section runs on its own: one that fails is reported as FAILED with its error, the others still run, and
the exit code is 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benches
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repository (sthlib, cli)

from bench_sthlib import _sync
from gpu_check_service import service_run
from gpu_check_train import reference_rate, training_rates

ROOT = Path(__file__).resolve().parents[1]
Row = list[str]
OUTCOMES = ("passed", "failed", "skipped", "error")


def versions(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {"device": device, "torch": torch.__version__, "python": platform.python_version(),
                            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
                            "cpu_threads": torch.get_num_threads()}  # fmt: skip
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 1024**3, 1))
    else:
        info.update(gpu="cpu (no GPU used)", gpu_memory_gib=None)
    return info


def cuda_tests(device: str) -> dict[str, Any]:
    """The tests that skip without CUDA (found by their skipif), run with pytest; counts from its summary."""
    ids = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        lines = path.read_text().splitlines()
        for index, line in enumerate(lines):
            if "skipif" in line and "cuda" in line:
                name = next(re.match(r"\s*def (test_\w+)", ln) for ln in lines[index:] if re.match(r"\s*def test_", ln))
                ids.append(f"{path.relative_to(ROOT)}::{name.group(1)}")  # type: ignore[union-attr]
    if not ids:
        return {"tests": [], "passed": 0, "failed": 0, "skipped": 0, "note": "no CUDA-only tests found"}
    import subprocess

    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *ids], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error)", out.stdout)}
    result = {"tests": ids, "test_functions": len(ids), **{k: counts.get(k, 0) for k in OUTCOMES}}
    if not device.startswith("cuda"):
        result["note"] = "skipped on CPU: they need a CUDA device"
    if out.returncode not in (0, 5) or result["failed"] or result["error"]:
        raise RuntimeError(f"CUDA-only tests failed: {counts}; {out.stdout.strip().splitlines()[-1:]}")
    return result


def evaluator_rates(device: str, quick: bool, arch: str) -> dict[str, Any]:
    from bench_evaluate import trained

    from sthlib.evaluate import get_evaluator
    from sthlib.evaluate.classifier import evaluation_images

    n = 20 if quick else 500
    cases: dict[str, dict[str, Any]] = {"gaussian": {"strengths": [0, 0.2, 0.4]} if quick else {}, "transfer_fgsm": {},
             "boundary": {"steps": 5 if quick else 200, "repeats": 1}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        changes = {"arch": arch, "train_limit": 600 if quick else 2560}  # enough to predict several classes
        model = trained(Path(tmp), device, **changes)
    x_np, y_np = evaluation_images("mnist-5k", "gray", n, seed=0)
    x, y = torch.from_numpy(x_np).float().div(255).to(device), torch.from_numpy(y_np).to(device)
    rates: dict[str, Any] = {"arch": arch, "n_images": n}
    for name, params in cases.items():
        extra = {"source_model": model} if name == "transfer_fgsm" else {}
        evaluator = get_evaluator(name, **params, **extra)
        _sync(device)
        start = time.perf_counter()
        results = evaluator.run(model, x, y, "mnist-5k")
        _sync(device)
        seconds = time.perf_counter() - start
        scored = sum(len(getattr(r, "points", [None])) for r in results) * n
        rates[name] = {"params": params, "seconds": seconds, "images_per_s": scored / seconds}
        if name == "boundary":
            rates[name]["steps_per_s"] = params["steps"] * n / seconds  # image-steps per second
    return rates


# ---- running sections and printing ------------------------------------------------------------------------------
def run_section(name: str, fn: Callable[[], Any], report: dict[str, Any]) -> None:
    start = time.perf_counter()
    try:
        report[name] = {"status": "ok", "data": fn()}
    except Exception as error:  # a failing section must not stop the others
        traceback.print_exc(file=sys.stderr)
        report[name] = {"status": "FAILED", "error": f"{type(error).__name__}: {error}"[:300]}
    report[name]["seconds"] = round(time.perf_counter() - start, 1)


def table(header: Row, rows: list[Row]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(row) + " |" for row in rows)])


def fmt(rate: Any) -> str:
    return f"{rate:.0f}" if isinstance(rate, float | int) else str(rate)


def step_ratio(data: dict[str, Any], unregularized: Any, regularized: Any) -> float | None:
    """Regularized step time over unregularized step time (ideal: (64 + 2k) / 64)."""
    if not isinstance(unregularized, float) or not isinstance(regularized, float):
        return None
    return float((data["batch"] + 2 * data["pairs"]) / regularized / (data["batch"] / unregularized))


def training_rows(data: dict[str, Any]) -> list[Row]:
    rows = []
    for size, modes in data["rates"].items():
        for mode, variants in modes.items():
            cells = [fmt(variants[v]) for v in data["variants"]]
            ratio = step_ratio(data, modes["unregularized"]["fp32"], variants["fp32"])
            rows.append([size, mode, *cells, "-" if mode == "unregularized" or ratio is None else f"{ratio:.2f}"])
    return rows


def print_report(report: dict[str, Any]) -> None:
    out = ["## GPU check", ""]
    failed = [name for name, section in report.items() if section["status"] != "ok"]
    for name, section in report.items():
        out.append(f"### {name} ({section['status']}, {section['seconds']} s)\n")
        if section["status"] != "ok":
            out.append(f"FAILED: {section['error'][:110]}\n")
            continue
        data = section["data"]
        if name == "training":
            header = ["input", "mode", *[f"{v} img/s" for v in data["variants"]], "step/unreg"]
            out.append(table(header, training_rows(data)))
            ideal = (data["batch"] + 2 * data["pairs"]) / data["batch"]
            out.append(f"\n{data['arch']}, batch {data['batch']} + {data['pairs']} pairs (images/s counts 64 + 2k "
                       f"per regularized step);\nstep/unreg: fp32 step time over the unregularized one (ideal "
                       f"{ideal:.2f}); warm-up {data['steps'][0]}, timed {data['steps'][1]} steps.\nVariants are "
                       "TrainSpec.speed settings, a Trainer each:")  # fmt: skip
            out.extend(f"- {v}: {json.dumps(s)}" for v, s in data["variant_specs"].items())
            out.append("")
        elif name == "reference":
            ours = report.get("training", {}).get("data", {}).get("rates", {}).get("28x28", {})
            mine = ours.get("regularized, two passes", {}).get("fp32")
            ratio = f"{mine / data['images_per_s']:.2f}" if isinstance(mine, float) else "n/a"
            row = ["reference-style (DataLoader, pair list)", fmt(data["images_per_s"]), ratio]
            out.append(table(["loop", f"{data['arch']} img/s (fp32, 28x28)", "ours (two passes) / reference"], [row]))
            out.append("")
        elif name == "evaluators":
            rows = [[k, str(v["params"]), fmt(v["images_per_s"]), fmt(v.get("steps_per_s", "-"))]
                    for k, v in data.items() if isinstance(v, dict)]  # fmt: skip
            out.append(table(["evaluator", "parameters", f"{data['arch']} img/s", "image-steps/s"], rows) + "\n")
        else:
            out.append(table(["key", "value"], [[k, str(v)[:100]] for k, v in data.items() if k != "tests"]) + "\n")
    verdict = f"FAILED: {', '.join(failed)}" if failed else "all sections ok"
    out.append(f"summary: {len(report) - len(failed)}/{len(report)} sections ok; {verdict}")
    print("\n".join(out))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--quick", action="store_true", help="tiny step counts and image counts (CI, on CPU)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    parser.add_argument("--arch", help="model timed (default resnet18; small_cnn with --quick on CPU, where a "
                        "resnet18 step takes seconds)")  # fmt: skip
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's; 1 with --quick on CPU, "
                        "where 2 threads on a shared machine made each step 10x slower)")  # fmt: skip
    parser.add_argument("--json", default="runs/gpu_check.json", help="where to write the results")
    args = parser.parse_args()
    device = args.device
    arch = args.arch or ("small_cnn" if args.quick and not device.startswith("cuda") else "resnet18")
    threads = args.threads or (1 if args.quick and not device.startswith("cuda") else None)
    if threads:
        torch.set_num_threads(threads)
    report: dict[str, Any] = {}
    run_section("device", lambda: versions(device), report)
    run_section("cuda_tests", lambda: cuda_tests(device), report)
    run_section("training", lambda: training_rates(device, args.quick, args.compile, arch), report)
    run_section("reference", lambda: reference_rate(device, args.quick, arch), report)
    run_section("evaluators", lambda: evaluator_rates(device, args.quick, arch), report)
    run_section("service", lambda: service_run(device, args.quick, threads), report)
    print_report(report)
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "quick": args.quick,
                                "sections": report}, indent=2, default=str))  # fmt: skip
    return 1 if any(s["status"] != "ok" for s in report.values()) else 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
