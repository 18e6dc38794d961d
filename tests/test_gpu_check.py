"""bench/gpu_check.py in its CI mode (--device cpu --quick): every section runs and reports sensible numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = {"device", "cuda_tests", "training", "reference", "evaluators", "service"}


@pytest.mark.slow
def test_gpu_check_quick_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "gpu_check.json"
    run = subprocess.run([sys.executable, "bench/gpu_check.py", "--device", "cpu", "--quick", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    sections = json.loads(out.read_text())["sections"]
    assert set(sections) == SECTIONS
    assert all(s["status"] == "ok" for s in sections.values()), sections
    assert sections["device"]["data"]["device"] == "cpu"
    tests = sections["cuda_tests"]["data"]
    assert tests["failed"] == tests["passed"] == 0 and tests["skipped"] > 0  # no CUDA here: skipped, and said so
    training = sections["training"]["data"]
    assert set(training["rates"]) == {"28x28", "32x32"}
    for modes in training["rates"].values():
        assert set(modes) == {"unregularized", "regularized, two passes", "regularized, fused"}
        for variants in modes.values():
            assert variants["fp32"] > 0 and variants["channels_last"] > 0
            assert variants["bf16 autocast"] == "n/a (cpu)" and variants["compile"] == "not run"
    assert sections["reference"]["data"]["images_per_s"] > 0
    evaluators = sections["evaluators"]["data"]
    assert all(evaluators[name]["images_per_s"] > 0 for name in ("gaussian", "transfer_fgsm", "boundary"))
    service = sections["service"]["data"]
    assert service["train_device"] == service["eval_device"] == "cpu"
    assert "summary: 6/6 sections ok" in run.stdout
    assert max(len(line) for line in run.stdout.splitlines()) <= 120
