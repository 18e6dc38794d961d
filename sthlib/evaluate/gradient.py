"""Gradient attacks: FGSM transferred from an unregularized source model (black-box for the target, PAPER.md
section 4), and white-box FGSM and PGD from foolbox on the target itself (to check for gradient masking)."""

from __future__ import annotations

from typing import Any

import foolbox as fb
import torch
import torch.nn.functional as F
from torch import Tensor

from sthlib.evaluate.base import CurveEvaluator, Progress, register
from sthlib.evaluate.classifier import Classifier, check_compatible, load_classifier
from sthlib.evaluate.results import Result
from sthlib.validation import SpecError


def gradient_sign(model: Classifier, x: Tensor, y: Tensor) -> Tensor:
    """sign of d CE(model(x), y) / dx: the FGSM direction, computed once per image."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return grad.sign()


@register
class TransferFGSM(CurveEvaluator):
    """x_adv = clamp(x + eps * sign(grad of the SOURCE model's loss)); the sign is reused for every eps."""

    name = "transfer_fgsm"

    def __init__(self, source_model: Classifier | None = None, **values: Any) -> None:
        """values: TransferFGSMParams (source: a SourceRef; a checkpoint is loaded here); source_model: an already
        loaded source (the worker loads stored models)."""
        super().__init__(**values)
        self.source = source_model
        ref = self.params.source
        if source_model is None and (ref is None or ref.kind != "checkpoint"):
            raise SpecError(f"{self.name}.source", "transfer_fgsm needs a source model: an unregularized model of "
                            "the same task", 'give a checkpoint: {"kind": "checkpoint", "ref": PATH}')  # fmt: skip

    def run(
        self, model: Classifier, images: Tensor, labels: Tensor, dataset: str, progress: Progress | None = None
    ) -> list[Result]:
        if self.source is None:
            self.source = load_classifier(self.params.source.ref, device=model.device).classifier
        check_compatible(self.source, model, tuple(images.shape[1:]))
        return super().run(model, images, labels, dataset, progress)

    def prepare(self, model: Classifier, x: Tensor, y: Tensor) -> Any:
        assert self.source is not None
        return gradient_sign(self.source, x, y)

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        return x + strength * state


class FoolboxCurve(CurveEvaluator):
    """A foolbox fixed-epsilon attack run per strength, seeded through torch's RNG for reproducibility."""

    def attack(self) -> fb.attacks.base.FixedEpsilonAttack:
        raise NotImplementedError

    def prepare(self, model: Classifier, x: Tensor, y: Tensor) -> Any:
        return fb.PyTorchModel(model.eval(), bounds=(0, 1), device=x.device), fb.criteria.Misclassification(y)

    def perturb(self, x: Tensor, strength: float, state: Any, generator: torch.Generator) -> Tensor:
        fmodel, criterion = state
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            return self.attack().run(fmodel, x, criterion, epsilon=strength)


@register
class FGSM(FoolboxCurve):
    name = "fgsm"

    def attack(self) -> fb.attacks.base.FixedEpsilonAttack:
        return fb.attacks.FGSM()


@register
class PGD(FoolboxCurve):
    name = "pgd"

    def attack(self) -> fb.attacks.base.FixedEpsilonAttack:
        return fb.attacks.LinfPGD(steps=self.params.steps, rel_stepsize=self.params.rel_stepsize)
