"""The evaluator base classes and the one loop over strengths that every curve evaluator shares (foolbox style:
the loop lives once, in the final ``CurveEvaluator.curve``, which ``run`` calls; each evaluator writes ``prepare``
and ``perturb``). Evaluators are looked up by name in sthlib.evaluate (get_evaluator)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, final

import numpy as np
import torch
from torch import Tensor

from sthlib.evalspecs import CommonParams, EvalSpec, eval_spec
from sthlib.evaluate.batching import CELL, eval_batch_size
from sthlib.evaluate.classifier import Classifier
from sthlib.evaluate.results import CurvePoint, Result, RobustnessCurve

Progress = Callable[[float], None]  # called with the fraction done, in [0, 1]


class Evaluator:
    """Base of every evaluator: its spec (name, parameter class, default grids) and validated parameters."""

    name: ClassVar[str]

    def __init__(self, params: CommonParams | None = None, **values: Any) -> None:
        self.spec: EvalSpec = eval_spec(self.name)
        self.params: Any = params if params is not None else self.spec.make_params(values, self.name)

    def run(
        self, model: Classifier, images: Tensor, labels: Tensor, dataset: str, progress: Progress | None = None
    ) -> list[Result]:
        """Evaluate `model` on float images in [0, 1] (on the model's device) with their labels."""
        raise NotImplementedError


EVALUATORS: dict[str, type[Evaluator]] = {}


def register(cls: type[Evaluator]) -> type[Evaluator]:
    eval_spec(cls.name)  # every implementation has a torch-free spec
    EVALUATORS[cls.name] = cls
    return cls


def get_evaluator(name: str, **values: Any) -> Evaluator:
    """An evaluator by registry name with validated parameters; unknown names list the valid ones."""
    import sthlib.evaluate.runner  # noqa: F401 - imports every evaluator module, which registers it

    if name not in EVALUATORS:
        raise ValueError(f"unknown evaluator {name!r}; choose one of {', '.join(sorted(EVALUATORS))}")
    return EVALUATORS[name](**values)


def batch_generator(seed: int, *keys: int, device: torch.device) -> torch.Generator:
    """A generator for one (batch, strength, ...) cell: results do not depend on what else is evaluated."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device=device).manual_seed(int(state >> 1))


class CurveEvaluator(Evaluator):
    """Accuracy over a grid of strengths. Subclasses implement ``perturb`` (and ``prepare`` for per-cell work
    shared by all strengths, such as a gradient). Strength 0 must return the images unchanged.

    Images are perturbed in cells of ``batch_size`` images, each with its own seeded generator, and scored in
    batches of whole cells as large as the device's free memory allows (sthlib.evaluate.batching): the results do
    not depend on the batch (float rounding of the forward pass aside)."""

    batch_size: ClassVar[int] = CELL  # images per perturbation cell
    clamp_mode: ClassVar[str] = "range"

    def prepare(self, model: Classifier, x: Tensor, y: Tensor) -> Any:
        return None

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        raise NotImplementedError

    def clamp(self, x_adv: Tensor, x: Tensor) -> Tensor:
        mode = getattr(self.params, "clamp", self.clamp_mode)
        if mode == "image":  # the reference: each image's own value range
            low = x.amin(dim=(1, 2, 3), keepdim=True)
            high = x.amax(dim=(1, 2, 3), keepdim=True)
            return torch.maximum(torch.minimum(x_adv, high), low)
        return x_adv.clamp(0.0, 1.0)

    def strengths(self, dataset: str) -> list[float]:
        chosen = self.params.strengths
        return sorted(chosen) if chosen is not None else self.spec.default_strengths(dataset)

    @final
    def curve(
        self, model: Classifier, images: Tensor, labels: Tensor, strengths: list[float],
        progress: Progress | None = None, params: dict[str, Any] | None = None, group: str = "",
    ) -> RobustnessCurve:  # fmt: skip
        """The shared loop: batches, perturbs, clamps and scores every strength on the same images."""
        n, cell = len(images), self.batch_size
        size = eval_batch_size(model, images, cell)  # whole cells per forward pass
        correct = torch.zeros(len(strengths), dtype=torch.int64, device=images.device)
        correct_kept = torch.zeros_like(correct)
        clean_total = torch.zeros((), dtype=torch.int64, device=images.device)
        for start in range(0, n, size):
            x, y = images[start : start + size], labels[start : start + size]
            with torch.no_grad():
                clean_ok = model(x).argmax(1) == y
            clean_total += clean_ok.sum()
            cells = [(start // cell + k, slice(o, o + cell)) for k, o in enumerate(range(0, len(x), cell))]
            states = [self.prepare(model, x[part], y[part]) for _, part in cells]
            for s_index, strength in enumerate(strengths):
                x_adv = x if strength == 0 else self._perturbed(x, strength, s_index, cells, states)
                with torch.no_grad():
                    ok = model(x_adv).argmax(1) == y
                correct[s_index] += ok.sum()
                correct_kept[s_index] += (ok & clean_ok).sum()
            if progress is not None:
                progress(min(n, start + size) / n)
        clean_correct = int(clean_total)
        points = [
            CurvePoint(strength=float(s), accuracy=int(c) / n, n=n,
                       accuracy_on_correct=int(k) / clean_correct if clean_correct else float("nan"))
            for s, c, k in zip(strengths, correct.tolist(), correct_kept.tolist(), strict=True)
        ]  # fmt: skip
        return RobustnessCurve(evaluator=self.name, params=params or self.params.to_dict(), x_name=self.spec.x_name,
                               x_unit=self.spec.x_unit, points=points, model=model.name, group=group)  # fmt: skip

    def _perturbed(
        self, x: Tensor, strength: float, s_index: int, cells: list[tuple[int, slice]], states: list[Any]
    ) -> Tensor:
        """The batch perturbed cell by cell, each cell with the generator of its (cell index, strength index)."""
        parts = []
        for (index, part), state in zip(cells, states, strict=True):
            g = batch_generator(self.params.seed, index, s_index, device=x.device)
            parts.append(self.clamp(self.perturb(x[part], strength, state, g), x[part]))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def run(
        self, model: Classifier, images: Tensor, labels: Tensor, dataset: str, progress: Progress | None = None
    ) -> list[Result]:
        strengths = self.strengths(dataset)
        return [self.curve(model, images, labels, strengths, progress)]
