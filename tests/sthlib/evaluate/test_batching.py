"""Evaluation batch sizes (sthlib.evaluate.batching): chosen from free memory on CUDA, never changing a result."""

import pytest
import torch

import sthlib.evaluate.base as base
from sthlib.evaluate import get_evaluator
from sthlib.evaluate.batching import CELL, MAX_BATCH, batch_size_for, eval_batch_size
from sthlib.evaluate.classifier import Classifier
from sthlib.models import build_model

GIB, MIB = 1 << 30, 1 << 20


@pytest.mark.parametrize(
    ("free", "per_image", "expected"),
    [
        (80 * GIB, 1 * MIB, 20_000),  # an idle H100: the cap
        (8 * GIB, 1 * MIB, 4000),  # half of 8 GiB at 1 MiB an image, in whole cells
        (8 * GIB, 3 * MIB, 1000),  # 1365 fit: rounded down to whole cells
        (1 * GIB, 3 * MIB, CELL),  # 170 fit: never below one cell (what ran before)
        (0, 1 * MIB, CELL),  # nothing free: still one cell
        (-5, 1, CELL),  # a nonsense reading is no crash
        (100 * GIB, 1, MAX_BATCH),
    ],
)
def test_batch_size_from_free_memory(free, per_image, expected):
    assert batch_size_for(free, per_image) == expected


def test_batch_size_options_and_bad_inputs():
    assert batch_size_for(10 * GIB, MIB, multiple=64, cap=1000) == 960
    assert batch_size_for(10 * GIB, MIB, fraction=0.1) == 1000
    with pytest.raises(ValueError, match="must be positive"):
        batch_size_for(GIB, 0)


def test_cpu_keeps_the_fixed_cell():
    model = Classifier(build_model("small_cnn", 1, 10), "unit", 10)
    assert eval_batch_size(model, torch.rand(2000, 1, 28, 28)) == CELL


@pytest.mark.parametrize(("name", "params"), [("gaussian", {"strengths": [0, 0.3, 0.6]}),
                                              ("salt_pepper", {"strengths": [0, 0.1, 0.3]}),
                                              ("transfer_fgsm", {"strengths": [0, 0.1, 0.3]}),
                                              ("corruption", {"corruptions": ["gaussian_noise", "contrast"],
                                                              "severities": [1, 3]})])  # fmt: skip
def test_curves_do_not_depend_on_the_batch_size(monkeypatch, name, params):
    """Noise is drawn per cell with the cell's generator: batches of 1, 2 or 3 cells (and a ragged last one) give
    the very same curves."""
    torch.manual_seed(0)
    target = Classifier(build_model("small_cnn", 1, 10), "unit", 10, "target")
    source = Classifier(build_model("small_cnn", 1, 10), "unit", 10, "source")
    x, y = torch.rand(130, 1, 28, 28), torch.randint(0, 10, (130,))
    monkeypatch.setattr(base.CurveEvaluator, "batch_size", 50)
    extra = {"source_model": source} if name == "transfer_fgsm" else {}
    curves = {}
    for size in (50, 100, 150):
        monkeypatch.setattr(base, "eval_batch_size", lambda model, images, multiple, size=size: size)
        seen = []
        results = get_evaluator(name, **params, **extra).run(target, x, y, "mnist-5k", progress=seen.append)
        curves[size] = [[(p.strength, p.accuracy, p.accuracy_on_correct) for p in r.points] for r in results]
        assert seen[-1] == 1.0 and seen == sorted(seen)
    assert curves[100] == curves[50] and curves[150] == curves[50]
