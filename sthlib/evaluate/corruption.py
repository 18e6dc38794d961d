"""The common-corruptions evaluator: one accuracy curve per corruption over severities 0..5, tagged with the
corruption's frequency group (sthlib.evaluate.corruptions does the image work)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sthlib.evaluate.base import CurveEvaluator, Progress, register
from sthlib.evaluate.classifier import Classifier
from sthlib.evaluate.corruptions import FREQUENCY_GROUP, corrupt, corruption_names
from sthlib.evaluate.results import Result


@register
class Corruption(CurveEvaluator):
    name = "corruption"

    def __init__(self, **values: Any) -> None:
        super().__init__(**values)
        self.names = list(self.params.corruptions or corruption_names())  # names checked by CorruptionParams
        self.current = self.names[0]

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        return corrupt(x, self.current, int(strength), seed=generator.initial_seed() % 2**31)

    def run(
        self, model: Classifier, images: Tensor, labels: Tensor, dataset: str, progress: Progress | None = None
    ) -> list[Result]:
        severities = [0.0, *sorted(float(s) for s in self.params.severities)]
        curves: list[Result] = []
        for index, name in enumerate(self.names):
            self.current = name
            step = None if progress is None else (lambda f, i=index: progress((i + f) / len(self.names)))
            params = {**self.params.to_dict(), "corruption": name}
            curves.append(self.curve(model, images, labels, severities, step, params=params,
                                     group=FREQUENCY_GROUP[name]))  # fmt: skip
        return curves
