"""sthlib benchmarks: target construction (dense API vs pair source vs a reference-style Python pair list) and
training step cost (unregularized, regularized in two passes, fused). Prints markdown tables with ratios.

    python bench/bench_sthlib.py            # the full table (about 10 minutes on 2 CPU cores)
    python bench/bench_sthlib.py --quick    # small sizes, a couple of minutes

Every construction runs in a fresh subprocess, its peak memory read from the kernel (VmHWM after resetting it
through /proc/self/clear_refs), so one case cannot inflate another's numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

GIB = 1024**3
DATASET = "fashion-mnist"  # 60000 real 28x28 images; the paper's regularization default is its first 5000


# ---- measured in a child process -------------------------------------------------------------------------------
def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def child(method: str, n: int, data: str, threshold: float) -> dict[str, float]:
    from sthlib.similarity import threshold_targets, unit_vectors

    images = np.load(data, mmap_mode="r")[:n].copy()
    torch.set_num_threads(os.cpu_count() or 1)
    warm = unit_vectors(images[:64])  # load kernels and thread pools before measuring
    threshold_targets(warm @ warm.T, threshold)
    del warm
    _reset_peak()
    base = _rss_kb("VmRSS:")
    runs = 1 if method == "python-list" else 2  # the second run shows the warm cost (kernels, page reuse)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        count = construct(method, images, threshold)
        times.append(time.perf_counter() - start)
    return {"seconds": times[0], "warm": times[-1], "peak_mb": (_rss_kb("VmHWM:") - base) / 1024, "count": count}


def construct(method: str, images: np.ndarray, threshold: float) -> int:
    """Build the targets one way; return how many pairs it selected."""
    from sthlib.pairs import PairSampler
    from sthlib.similarity import pixel_similarity, threshold_targets, unit_vectors

    n = len(images)
    if method == "dense":
        _, selected = threshold_targets(pixel_similarity(images), threshold)
        return int(selected.sum())
    if method.startswith("sampler"):
        sampler = PairSampler(unit_vectors(images), threshold, method.split(":")[1])
        sampler.sample(16)
        return sampler.selected_count
    if method == "python-list":  # what the reference does: every pair i<j as a Python tuple, then shuffled
        r = unit_vectors(images).double().numpy()
        S = r @ r.T
        T = np.where(threshold < S, 1.0, np.where(-threshold > S, -1.0, 0.0))
        pairs = [(i, j, T[i, j]) for i in range(n) for j in range(i + 1, n)]
        random.Random(0).shuffle(pairs)
        return len(pairs)
    raise ValueError(method)


def run_child(method: str, n: int, data: str, threshold: float) -> dict[str, float] | None:
    cmd = [sys.executable, __file__, "--child", method, "--n", str(n), "--data", data, "--threshold", str(threshold)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  ({method}, N={n}) failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout)


# ---- tables ----------------------------------------------------------------------------------------------------
def dense_bytes(n: int) -> float:
    """S float32 + targets float32 + two bool masks + comparison temporaries, roughly."""
    return n * n * (4 + 4 + 1 + 1 + 3)


def targets_table(sizes: list[int], threshold: float, data: str, memory_gb: float) -> None:
    print(f"\n### Target construction ({DATASET}, Th={threshold}; first call in a fresh process (second call), "
          "peak extra memory)\n")  # fmt: skip
    methods = [("dense", "dense API (S, T, selected)"), ("sampler:all", "pair source, variant all"),
               ("sampler:high", "pair source, variant high (counting pass)"),
               ("python-list", "reference-style Python pair list")]  # fmt: skip
    print("| method | " + " | ".join(f"N={n}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for method, label in methods:
        cells = []
        for n in sizes:
            too_big = (method == "dense" and dense_bytes(n) > memory_gb * GIB * 0.6) or (
                method == "python-list" and n > 5000
            )
            result = None if too_big else run_child(method, n, data, threshold)
            if result is None:
                cells.append("skipped (memory)" if too_big else "failed")
            else:
                warm = "" if method == "python-list" else f" ({result['warm']:.2f} s warm)"
                cells.append(f"{result['seconds']:.2f} s{warm} / {result['peak_mb']:.0f} MB")
        print(f"| {label} | " + " | ".join(cells) + " |")


def reference_ratio(n: int, threshold: float, data: str) -> None:
    dense = run_child("dense", n, data, threshold)
    listing = run_child("python-list", n, data, threshold)
    sampler = run_child("sampler:all", n, data, threshold)
    if not (dense and listing and sampler):
        return
    print(f"\n### N={n}: against listing every pair in Python\n")
    print("| method | first call (s) | second call (s) | peak extra (MB) | speed-up, first / second call |")
    print("|---|---|---|---|---|")
    for label, r in (("Python pair list", listing), ("dense API", dense), ("pair source (all)", sampler)):
        first, second = listing["seconds"] / r["seconds"], listing["seconds"] / r["warm"]
        print(f"| {label} | {r['seconds']:.3f} | {r['warm']:.3f} | {r['peak_mb']:.0f} | {first:.0f}x / {second:.0f}x |")


STEP_MODES = (("unregularized", {"reg.alpha": 0.0}), ("regularized, two passes", {}),
              ("regularized, fused", {"reg.fused": True}))  # fmt: skip


def step_table(archs: list[str], steps: int, device: str) -> None:
    """Median step time per mode; the modes take turns step by step, so machine drift hits them alike."""
    from sthlib.specs import preset
    from sthlib.train import Trainer

    k = 16
    ideal = (64 + 2 * k) / 64
    print(f"\n### Training step ({DATASET}, batch 64, k={k} pairs, {device}; ideal ratio (64+2k)/64 = {ideal:.2f})\n")
    print("| arch | mode | ms/step | images/s | ratio to unregularized | vs ideal |")
    print("|---|---|---|---|---|---|")
    for arch in archs:
        trainers, times = [], {}
        for mode, changes in STEP_MODES:
            spec = preset("fashion-mnist+fashion-mnist", arch=arch, train_limit=64 * (steps + 2), test_limit=100,
                          **changes)  # fmt: skip
            trainers.append((mode, Trainer(spec, device=device)))
            times[mode] = []
        batches = torch.randperm(64 * (steps + 2)).view(-1, 64)
        for index, batch in enumerate(batches):
            for mode, trainer in trainers:
                _sync(device)
                start = time.perf_counter()
                trainer.step(batch.to(trainer.device))
                _sync(device)
                if index >= 2:  # the first two steps warm up
                    times[mode].append(time.perf_counter() - start)
        base_ms = float(np.median(times["unregularized"])) * 1000
        for mode, trainer in trainers:
            ms = float(np.median(times[mode])) * 1000
            regularized = trainer.reg is not None
            images = 64 + (2 * k if regularized else 0)
            ratio = ms / base_ms
            print(f"| {arch} | {mode} | {ms:.1f} | {images / ms * 1000:.0f} | {ratio:.2f} | "
                  f"{f'{(ratio / ideal - 1) * 100:+.1f}%' if regularized else '-'} |")  # fmt: skip


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GiB, {gpu}, torch {torch.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes and few steps")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.n, args.data, args.threshold)))
        return
    from sthlib.data import load_dataset
    from sthlib.train import resolve_device

    device = str(resolve_device(args.device))
    sizes = [1000, 2000] if args.quick else [1000, 5000, 20000, 50000]
    print(f"## sthlib benchmark\n\nmachine: {machine()}")
    images, _ = load_dataset(DATASET, "train")
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "images.npy")
        np.save(data, images[: max(sizes)])
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
        targets_table(sizes, args.threshold, data, memory_gb)
        reference_ratio(1000 if args.quick else 4000, args.threshold, data)
    step_table(["small_cnn"] if args.quick else ["small_cnn", "resnet18"], 12 if args.quick else 30, device)


if __name__ == "__main__":
    main()
