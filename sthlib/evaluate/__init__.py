"""Robustness evaluators (PAPER.md section 4 and beyond): a registry in the style of foolbox.

    from sthlib.evaluate import evaluate_checkpoint
    results = evaluate_checkpoint("runs/quick.safetensors", "gaussian", {"n_images": 500})

Every evaluator returns a list of typed results (RobustnessCurve or PerturbationReport); parameters are the
torch-free dataclasses of sthlib.evalspecs.

The package itself imports nothing heavy: `results`, `metrics` and `plots` are torch-free (the API uses them);
the names below load the evaluators (torch, foolbox) on first use.
"""

from __future__ import annotations

from typing import Any

_RUNNER_NAMES = {
    "EVALUATORS", "Classifier", "Evaluator", "LoadedModel", "PerturbationReport", "Result", "RobustnessCurve",
    "evaluate", "evaluate_checkpoint", "get_evaluator", "load_classifier", "result_from_dict",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        from sthlib.evaluate import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'sthlib.evaluate' has no attribute {name!r}")
