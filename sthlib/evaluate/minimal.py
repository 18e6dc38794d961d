"""Minimal perturbations from decision-based attacks (foolbox BoundaryAttack and HopSkipJump), batched.

Untargeted against the model's own prediction. Where each image starts (parameter `start`):

- "best" (default): the closer to the image of the two starts below ("nearest" and foolbox's blended noise),
  each searched to the decision boundary.
- "nearest": the nearest (L2) evaluated image that the model puts in another class, then a binary search
  along the line towards the original image, to the decision boundary. Every image starts (if the model predicts
  one class for every evaluated image, foolbox's blended-noise search is the fallback and the report says so).
- "reference": foolbox's own initialisation, LinearSearchBlendedUniformNoiseAttack from the original image, as the
  paper's code runs it. Images it cannot start count as failures (the paper's code drops them).

Scores per image: L2, Linf and ||delta||^2 / D (over all channels, or channel 0 as the reference). The headline
score (PAPER.md section 4) is the mean over repeats of each repeat's median ||delta||^2 / D over its successes.
"""

from __future__ import annotations

import math
import warnings

import foolbox as fb
import numpy as np
import torch
from torch import Tensor

from sthlib.evaluate.base import Evaluator, Progress, register
from sthlib.evaluate.classifier import Classifier
from sthlib.evaluate.frequency import radial_power_spectrum, summarise
from sthlib.evaluate.results import PerturbationReport, PerturbationSummary, RepeatSummary, Result

BISECTION_STEPS = 20  # binary search to the boundary: the start is within 2^-20 of the segment's length of it
NOISE_INIT_STEPS = 50  # foolbox's default for LinearSearchBlendedUniformNoiseAttack inside both attacks
NOISE_DIRECTIONS = {"reference": 1000, "best": 100}  # noise draws before giving up (1000: foolbox's default)
# Start kinds, per image and repeat: a binary-searched other-class image, foolbox's blended noise, or none found.
START_NEAREST, START_NOISE, START_NONE = "nearest", "noise", "none"


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


def _blend(x: Tensor, x_adv: Tensor, t: Tensor) -> Tensor:
    return (x + t.view(-1, *[1] * (x.ndim - 1)) * (x_adv - x)).clamp(0.0, 1.0)


@torch.no_grad()
def boundary_search(model: Classifier, x: Tensor, x_adv: Tensor, predictions: Tensor,
                    steps: int = BISECTION_STEPS) -> Tensor:  # fmt: skip
    """Bisection on the segment from each original x (class `predictions`) to its adversarial x_adv: the closest
    point found that the model still misclassifies. Only tested adversarial points are kept, so the result is never
    farther from x than x_adv (and is x_adv itself where nothing closer was found)."""
    low = torch.zeros(len(x), device=x.device, dtype=x.dtype)
    high = torch.ones_like(low)
    for _ in range(steps):
        middle = (low + high) / 2
        adversarial = model.predict(_blend(x, x_adv, middle)) != predictions
        high = torch.where(adversarial, middle, high)
        low = torch.where(adversarial, low, middle)
    moved = (high < 1).view(-1, *[1] * (x.ndim - 1))
    return torch.where(moved, _blend(x, x_adv, high), x_adv)


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

    def attack(self, reference: bool) -> fb.attacks.base.MinimizationAttack:
        """The foolbox attack; `reference`: with foolbox's defaults, as the paper's code runs it."""
        raise NotImplementedError

    @staticmethod
    def closer(model: Classifier, x: Tensor, predictions: Tensor, pool: Tensor, has_pool: Tensor,
               noise: Tensor) -> tuple[Tensor, Tensor]:  # fmt: skip
        """Per image, the closer to x of two candidate starts once both are binary-searched to the boundary: the
        pool image (where `has_pool`) and foolbox's blended noise (where adversarial). Returns the chosen starts
        (not yet searched) and where they are the pool image."""
        distances = []
        for candidate, usable in ((pool, has_pool), (noise, model.predict(noise) != predictions)):
            found = candidate.clone()
            if usable.any():
                found[usable] = boundary_search(model, x[usable], candidate[usable], predictions[usable])
            distances.append(torch.where(usable, (found - x).flatten(1).norm(dim=1), math.inf))
        pool_distance, noise_distance = distances
        from_pool = has_pool & (pool_distance <= noise_distance)
        return torch.where(from_pool.view(-1, 1, 1, 1), pool, noise), from_pool

    def noise_starts(
        self, fmodel: fb.PyTorchModel, x: Tensor, predictions: Tensor, directions: int = NOISE_DIRECTIONS["reference"]
    ) -> Tensor:
        """foolbox's default initialisation of both attacks (what runs when no starting points are given). Where
        every draw of noise keeps the model's class, it tries `directions` draws of the whole batch: the "best"
        start, which has the nearest image to fall back on, gives up after 100."""
        init = fb.attacks.LinearSearchBlendedUniformNoiseAttack(directions=directions, steps=NOISE_INIT_STEPS)
        return init.run(fmodel, x, fb.criteria.Misclassification(predictions))

    def attack_batch(
        self, model: Classifier, x: Tensor, predictions: Tensor, pool_starts: Tensor | None, seed: int
    ) -> tuple[Tensor, Tensor]:
        """Attack one batch; returns the adversarials and each image's start kind (as codes 0/1/2 of
        nearest/noise/none). `pool_starts` holds the nearest other-class images (NaN rows: none in the pool)."""
        fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1), device=x.device)
        kind = torch.full((len(x),), 2, dtype=torch.int64, device=x.device)
        devices = [x.device] if x.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # foolbox warns about failed starts: we count them
            torch.manual_seed(seed)
            if pool_starts is None:  # the reference: foolbox's own start from the original image
                starts = self.noise_starts(fmodel, x, predictions)
                has_pool = torch.zeros(len(x), dtype=torch.bool, device=x.device)
            else:
                has_pool = ~pool_starts.flatten(1).isnan().any(dim=1)
                starts = torch.where(has_pool.view(-1, 1, 1, 1), pool_starts.nan_to_num(0.0), x)
                if self.params.start == "best" or not has_pool.all():  # foolbox's start too (or as the fallback)
                    noise = self.noise_starts(fmodel, x, predictions, NOISE_DIRECTIONS["best"])
                    starts, has_pool = self.closer(model, x, predictions, starts, has_pool, noise)
            started = model.predict(starts) != predictions
            kind[started] = torch.where(has_pool[started], 0, 1)
            x_adv = x.clone()
            if started.any():
                xs, ps = x[started], predictions[started]
                starts = starts[started]
                if pool_starts is not None:  # the reference hands foolbox's start to the attack as it is
                    starts = boundary_search(model, xs, starts, ps)
                attack = self.attack(reference=pool_starts is None)
                x_adv[started] = attack.run(fmodel, xs, fb.criteria.Misclassification(ps), starting_points=starts)
        return x_adv, kind

    def run_once(self, model: Classifier, images: Tensor, seed: int, progress: Progress | None) -> dict[str, Tensor]:
        """Attack every image once; returns per-image scores, success flags, start kinds and the perturbations."""
        predictions = model.predict(images)
        pool_starts = None
        if self.params.start != "reference":
            index = nearest_other_class(images, predictions, images, predictions)
            pool_starts = torch.where((index >= 0).view(-1, 1, 1, 1), images[index.clamp_min(0)], math.nan)
        x_adv, kinds = images.clone(), torch.empty(len(images), dtype=torch.int64, device=images.device)
        size = self.params.batch_size
        for b, start in enumerate(range(0, len(images), size)):
            part = slice(start, start + size)
            x_adv[part], kinds[part] = self.attack_batch(
                model, images[part], predictions[part], None if pool_starts is None else pool_starts[part], seed + b
            )
            if progress is not None:
                progress(min(1.0, (start + size) / len(images)))
        success = model.predict(x_adv) != predictions
        scores = perturbation_scores(images, x_adv, self.params.score_channel)
        return {**scores, "success": success, "start": kinds, "x_adv": x_adv, "delta": (x_adv - images)[success]}

    def run(
        self, model: Classifier, images: Tensor, labels: Tensor, dataset: str, progress: Progress | None = None
    ) -> list[Result]:
        repeats, summaries, per_image, deltas = self.params.repeats, [], [], []
        names = (START_NEAREST, START_NOISE, START_NONE)
        for repeat in range(repeats):
            step = None if progress is None else (lambda f, r=repeat: progress((r + f) / repeats))
            seed = self.params.seed * 1000 + repeat * 100_003
            out = self.run_once(model, images, seed, step)
            ok = out["success"].cpu().numpy()
            scores = {k: out[k].cpu().numpy() for k in ("l2", "linf", "mse")}
            starts = [names[int(k)] for k in out["start"].cpu()]
            summaries.append(RepeatSummary(
                seed=seed, success_rate=float(ok.mean()), started=sum(s != START_NONE for s in starts),
                started_nearest=starts.count(START_NEAREST), median_mse=_median_of_successes(scores["mse"], ok),
                median_l2=_median_of_successes(scores["l2"], ok), median_linf=_median_of_successes(scores["linf"], ok),
            ))  # fmt: skip
            per_image.append({"success": ok.tolist(), "start": starts,
                              **{k: np.where(ok, v, np.nan).tolist() for k, v in scores.items()}})  # fmt: skip
            deltas.append(out["delta"])
        pooled = torch.cat(deltas)
        spectrum = summarise(radial_power_spectrum(pooled, self.params.spectrum_bins)) if len(pooled) else None
        summary = PerturbationSummary.of(summaries, len(images))
        report = PerturbationReport(evaluator=self.name, params=self.params.to_dict(), n=len(images), summary=summary,
                                    model=model.name, spectrum=spectrum,
                                    **{k: [r[k] for r in per_image] for k in per_image[0]})  # fmt: skip
        return [report]


@register
class Boundary(MinimalAttack):
    name = "boundary"

    def attack(self, reference: bool) -> fb.attacks.base.MinimizationAttack:
        if reference:
            return fb.attacks.BoundaryAttack(steps=self.params.steps)
        # Step sizes adapt every 30 steps instead of foolbox's 300: from a start on the boundary, foolbox's defaults
        # stall for thousands of steps (bench/README.md, "Minimal perturbations").
        return fb.attacks.BoundaryAttack(steps=self.params.steps, update_stats_every_k=1)


@register
class HopSkipJump(MinimalAttack):
    name = "hopskipjump"

    def attack(self, reference: bool) -> fb.attacks.base.MinimizationAttack:
        return fb.attacks.HopSkipJumpAttack(steps=self.params.steps)
