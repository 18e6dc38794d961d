"""Running evaluators on models: the entry points, and the imports that fill the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from sthlib.evaluate import corruption, gradient, minimal, noise  # noqa: F401 - they register the evaluators
from sthlib.evaluate.base import EVALUATORS, Evaluator, Progress, get_evaluator
from sthlib.evaluate.classifier import Classifier, LoadedModel, evaluation_images, load_classifier
from sthlib.evaluate.results import PerturbationReport, Result, RobustnessCurve, result_from_dict

__all__ = [
    "EVALUATORS",
    "Classifier",
    "Evaluator",
    "LoadedModel",
    "PerturbationReport",
    "Result",
    "RobustnessCurve",
    "evaluate",
    "evaluate_checkpoint",
    "get_evaluator",
    "load_classifier",
    "result_from_dict",
]


def evaluate(
    loaded: LoadedModel, evaluator: Evaluator, dataset: str | None = None, progress: Progress | None = None
) -> list[Result]:
    """Run one evaluator on the test split of the model's task (or `dataset`), in the model's colour mode."""
    name = dataset or loaded.dataset
    if not name:
        raise ValueError("the checkpoint does not say which dataset it was trained on; pass dataset=")
    images, labels = evaluation_images(name, loaded.color, evaluator.params.n_images, evaluator.params.seed)
    device = loaded.classifier.device
    x = torch.as_tensor(images).to(device).float().div_(255)
    if x.shape[1] != loaded.classifier.in_channels:
        raise ValueError(f"dataset {name!r} gives {x.shape[1]}-channel images; the model takes "
                         f"{loaded.classifier.in_channels}")  # fmt: skip
    return evaluator.run(loaded.classifier, x, torch.as_tensor(labels).to(device), name, progress)


def evaluate_checkpoint(
    path: Path | str, evaluator: str, params: dict[str, Any] | None = None, device: str = "cpu",
    progress: Progress | None = None,
) -> list[Result]:  # fmt: skip
    """Load a checkpoint and run the named evaluator with JSON-like parameters."""
    loaded = load_classifier(Path(path), device=device)
    return evaluate(loaded, get_evaluator(evaluator, **(params or {})), progress=progress)
