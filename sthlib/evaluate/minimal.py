"""Minimal perturbations from decision-based attacks (foolbox BoundaryAttack and HopSkipJump), batched.

Untargeted against the model's own prediction. Every image starts from the nearest (L2) image of the evaluated
set that the model puts in another class, so no image is lost to a failed random initialisation. Scores per
image: L2, Linf and ||delta||^2 / D (the paper's score; over all channels, or channel 0 as the reference).
"""

from __future__ import annotations

import math

import foolbox as fb
import numpy as np
import torch
from torch import Tensor

from sthlib.evaluate.base import Evaluator, Progress, register
from sthlib.evaluate.classifier import Classifier
from sthlib.evaluate.frequency import radial_power_spectrum, summarise
from sthlib.evaluate.results import PerturbationReport, PerturbationSummary, Result


def nearest_other_class(images: Tensor, predictions: Tensor, pool: Tensor, pool_predictions: Tensor) -> Tensor:
    """For each image, the index in `pool` of the nearest image (L2) predicted as another class; -1 if none."""
    flat, pool_flat = images.flatten(1), pool.flatten(1)
    found = torch.full((len(images),), -1, dtype=torch.int64, device=images.device)
    for start in range(0, len(images), 256):
        d = torch.cdist(flat[start : start + 256], pool_flat)
        same = predictions[start : start + 256, None] == pool_predictions[None, :]
        d = d.masked_fill(same, math.inf)
        best = d.argmin(dim=1)
        found[start : start + 256] = torch.where(torch.isinf(d.min(dim=1).values), -1, best)
    return found


def perturbation_scores(x: Tensor, x_adv: Tensor, score_channel: str) -> dict[str, Tensor]:
    delta = (x_adv - x).flatten(2)  # (N, C, D/C)
    scored = delta[:, :1] if score_channel == "first" else delta
    return {
        "l2": delta.flatten(1).norm(dim=1),
        "linf": delta.flatten(1).abs().amax(dim=1),
        "mse": scored.flatten(1).square().mean(dim=1),
    }


def _median_of_successes(values: np.ndarray, ok: np.ndarray) -> float:
    return float(np.median(values[ok])) if ok.any() else float("nan")


class MinimalAttack(Evaluator):
    """Shared run loop; subclasses say which foolbox attack to use."""

    def attack(self) -> fb.attacks.base.MinimizationAttack:
        raise NotImplementedError

    def attack_batch(self, model: Classifier, x: Tensor, predictions: Tensor, starts: Tensor, seed: int) -> Tensor:
        fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1), device=x.device)
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            return self.attack().run(fmodel, x, fb.criteria.Misclassification(predictions), starting_points=starts)

    def run_once(self, model: Classifier, images: Tensor, seed: int, progress: Progress | None) -> dict[str, Tensor]:
        """Attack every image once; returns per-image scores, success flags and the perturbations."""
        predictions = model.predict(images)
        start_index = nearest_other_class(images, predictions, images, predictions)
        usable = start_index >= 0
        x_adv = images.clone()
        todo = usable.nonzero().flatten()
        size = self.params.batch_size
        for b, start in enumerate(range(0, len(todo), size)):
            idx = todo[start : start + size]
            x_adv[idx] = self.attack_batch(model, images[idx], predictions[idx], images[start_index[idx]], seed + b)
            if progress is not None:
                progress(min(1.0, (start + size) / max(len(todo), 1)))
        success = usable & (model.predict(x_adv) != predictions)
        scores = perturbation_scores(images, x_adv, self.params.score_channel)
        return {**scores, "success": success, "x_adv": x_adv, "delta": (x_adv - images)[success]}

    def run(
        self, model: Classifier, images: Tensor, labels: Tensor, dataset: str, progress: Progress | None = None
    ) -> list[Result]:
        repeats, medians = self.params.repeats, []
        for repeat in range(repeats):
            step = None if progress is None else (lambda f, r=repeat: progress((r + f) / repeats))
            out = self.run_once(model, images, self.params.seed * 1000 + repeat * 100_003, step)
            ok = out["success"].cpu().numpy()
            scores = {k: out[k].cpu().numpy() for k in ("l2", "linf", "mse")}
            medians.append(_median_of_successes(scores["mse"], ok))
        spectrum = summarise(radial_power_spectrum(out["delta"], self.params.spectrum_bins)) if ok.any() else None
        nan = float("nan")
        per_image = {k: np.where(ok, v, nan).tolist() for k, v in scores.items()}
        summary = PerturbationSummary(
            success_rate=float(ok.mean()),
            median_mse=medians[-1],
            median_l2=_median_of_successes(scores["l2"], ok),
            median_linf=_median_of_successes(scores["linf"], ok),
            repeat_median_mse=medians,
            mean_mse=float(np.nanmean(medians)) if not np.isnan(medians).all() else nan,
            std_mse=float(np.nanstd(medians)) if not np.isnan(medians).all() else nan,
        )
        report = PerturbationReport(evaluator=self.name, params=self.params.to_dict(), n=len(images),
                                    success=ok.tolist(), summary=summary, model=model.name, spectrum=spectrum,
                                    **per_image)  # fmt: skip
        return [report]


@register
class Boundary(MinimalAttack):
    name = "boundary"

    def attack(self) -> fb.attacks.base.MinimizationAttack:
        return fb.attacks.BoundaryAttack(steps=self.params.steps)


@register
class HopSkipJump(MinimalAttack):
    name = "hopskipjump"

    def attack(self) -> fb.attacks.base.MinimizationAttack:
        return fb.attacks.HopSkipJumpAttack(steps=self.params.steps)
