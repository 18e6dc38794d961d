"""Evaluator parameters: frozen dataclasses with defaults and units. Torch-free: the API builds its catalogue and
validates requests with these; sthlib.evaluate implements one evaluator per entry of EVAL_SPECS (tested)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from sthlib.data import dataset_info

Family = Literal["mnist", "cifar", "other"]
CLAMPS = ("range", "image")  # clamp perturbed images to [0, 1], or to each image's own [min, max] (the reference)
SCORE_CHANNELS = ("all", "first")  # ||delta||^2 / D over all channels, or channel 0 only (the reference)
STARTS = ("best", "nearest", "reference")  # where minimal-perturbation attacks start (sthlib.evaluate.minimal)
THOROUGH_FACTOR = 4  # `--thorough`: this many times the default steps (the budget that checks convergence)


def _grid(maximum: float, points: int = 10) -> list[float]:
    """`points` strengths evenly spaced from 0 to `maximum` (PAPER.md section 4: 10 values from 0)."""
    return [round(maximum * i / (points - 1), 10) for i in range(points)]


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class CommonParams:
    n_images: int | None = None  # a seeded random subset of the test split; None: all of it
    seed: int = 0  # noise, subsets and attack randomness

    def validate(self) -> None:
        _check(
            self.n_images is None or self.n_images >= 1, f"n_images must be at least 1 or unset, got {self.n_images}"
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class CurveParams(CommonParams):
    strengths: list[float] | None = None  # None: the dataset's default grid (PAPER.md section 4)

    def validate(self) -> None:
        super().validate()
        if self.strengths is not None:
            _check(len(self.strengths) >= 1, "strengths must not be empty")
            _check(all(s >= 0 for s in self.strengths), f"strengths must be >= 0, got {self.strengths}")


@dataclass(frozen=True)
class NoiseParams(CurveParams):
    clamp: str = "range"  # "range": clip to [0, 1]; "image": to each image's own [min, max] (reference)

    def validate(self) -> None:
        super().validate()
        _check(self.clamp in CLAMPS, f"unknown clamp {self.clamp!r}; choose one of {', '.join(CLAMPS)}")


@dataclass(frozen=True)
class TransferFGSMParams(CurveParams):
    source: str = ""  # the unregularized source model of the same task (a checkpoint path; the API maps ids)

    def validate(self) -> None:
        super().validate()
        _check(bool(self.source), "transfer_fgsm needs a source model (an unregularized model of the same task)")


@dataclass(frozen=True)
class PGDParams(CurveParams):
    steps: int = 40  # gradient steps per epsilon
    rel_stepsize: float = 0.01 / 0.3  # step size relative to epsilon (foolbox's default)

    def validate(self) -> None:
        super().validate()
        _check(self.steps >= 1, f"steps must be at least 1, got {self.steps}")
        _check(0 < self.rel_stepsize <= 1, f"rel_stepsize must be in (0, 1], got {self.rel_stepsize}")


@dataclass(frozen=True)
class MinimalParams(CommonParams):
    n_images: int | None = 1000  # PAPER.md section 4: 1000 random test images
    steps: int = 50  # attack iterations; each attack's default is the converged budget of bench/README.md
    start: str = "best"  # "nearest" other-class image or foolbox's noise, the closer once binary-searched; "nearest";
    # "reference": foolbox's noise start unsearched, as the paper's code (sthlib/evaluate/minimal.py)
    repeats: int = 5  # independent repeats; the score is the mean of their medians (the paper's 5)
    score_channel: str = "all"  # "all" channels, or "first" (the reference's channel-0 score)
    spectrum_bins: int = 25  # radial frequency bins of the perturbation spectrum
    batch_size: int = 256  # images attacked together

    def validate(self) -> None:
        super().validate()
        _check(self.steps >= 1, f"steps must be at least 1, got {self.steps}")
        _check(self.start in STARTS, f"unknown start {self.start!r}; choose one of {', '.join(STARTS)}")
        _check(self.repeats >= 1, f"repeats must be at least 1, got {self.repeats}")
        _check(self.score_channel in SCORE_CHANNELS, f"score_channel must be one of {', '.join(SCORE_CHANNELS)}")
        _check(self.spectrum_bins >= 2, f"spectrum_bins must be at least 2, got {self.spectrum_bins}")
        _check(self.batch_size >= 1, f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class BoundaryParams(MinimalParams):
    steps: int = 6400  # 4x more moves the median < 15% (bench/README.md, "Minimal perturbations"); the paper: 50


@dataclass(frozen=True)
class HopSkipJumpParams(MinimalParams):
    steps: int = 64  # foolbox's default; NOT converged by the 4x rule (bench/README.md): an upper bound


@dataclass(frozen=True)
class CorruptionParams(CommonParams):
    corruptions: list[str] | None = None  # None: all 15
    severities: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])

    def validate(self) -> None:
        super().validate()
        _check(bool(self.severities) and all(1 <= s <= 5 for s in self.severities), "severities must be in 1..5")


@dataclass(frozen=True)
class EvalSpec:
    name: str
    kind: Literal["curve", "perturbation"]
    params: type[CommonParams]
    description: str
    x_name: str = ""
    x_unit: str = ""
    grids: dict[str, float] = field(default_factory=dict)  # family -> maximum strength of the default grid

    def default_strengths(self, dataset: str) -> list[float]:
        family = dataset_info(dataset).family
        maximum = self.grids.get(family, self.grids.get(dataset, self.grids.get("other", 0.5)))
        return _grid(maximum)

    def make_params(self, values: dict[str, Any]) -> CommonParams:
        """Validated parameters from JSON-like values; unknown keys are an error that lists the known ones."""
        known = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(values) - known)
        _check(
            not unknown, f"{self.name}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
        params = self.params(**values)
        params.validate()
        return params

    def catalogue(self) -> dict[str, Any]:
        """Name, kind, description and each parameter's type and default (for GET /v1/evaluators)."""
        fields = []
        for f in dataclasses.fields(self.params):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            fields.append({"name": f.name, "type": str(f.type), "default": default})
        return {"name": self.name, "kind": self.kind, "description": self.description, "x_name": self.x_name,
                "x_unit": self.x_unit, "parameters": fields}  # fmt: skip


_PIXEL = "pixel value in [0, 1]"
NOISE_GRIDS = {"mnist": 0.5, "cifar": 0.1, "other": 0.5}
EVAL_SPECS: dict[str, EvalSpec] = {
    spec.name: spec
    for spec in [
        EvalSpec("gaussian", "curve", NoiseParams, "Gaussian noise N(0, sigma^2), then clamp", "sigma", _PIXEL,
                 NOISE_GRIDS),
        EvalSpec("uniform", "curve", NoiseParams, "uniform noise U(-eps, eps), then clamp", "eps", _PIXEL, NOISE_GRIDS),
        EvalSpec("salt_pepper", "curve", NoiseParams, "each element +-1 with probability p, then clamp", "p",
                 "probability per element", {"mnist": 0.3, "cifar": 0.1, "other": 0.3}),
        EvalSpec("transfer_fgsm", "curve", TransferFGSMParams,
                 "FGSM direction of an unregularized source model, applied to the target", "eps", _PIXEL,
                 {"mnist": 0.5, "cifar10": 0.02, "cifar100": 0.005, "other": 0.5}),
        EvalSpec("fgsm", "curve", CurveParams, "white-box FGSM on the model itself (foolbox): checks gradient masking",
                 "eps", _PIXEL, {"mnist": 0.5, "cifar10": 0.02, "cifar100": 0.005, "other": 0.5}),
        EvalSpec("pgd", "curve", PGDParams, "white-box L-inf PGD on the model itself (foolbox)", "eps", _PIXEL,
                 {"mnist": 0.3, "cifar10": 0.02, "cifar100": 0.005, "other": 0.3}),
        EvalSpec("boundary", "perturbation", BoundaryParams,
                 "decision-based boundary attack (foolbox): minimal perturbation per image; score: mean over "
                 "repeats of the median ||delta||^2/D over successes (the paper's)"),
        EvalSpec("hopskipjump", "perturbation", HopSkipJumpParams,
                 "decision-based HopSkipJump attack (foolbox, L2): minimal perturbation per image; score as boundary"),
        EvalSpec("corruption", "curve", CorruptionParams,
                 "CIFAR-10-C style common corruptions at 5 severities, grouped by frequency", "severity", "1..5"),
    ]
}  # fmt: skip


def eval_spec(name: str) -> EvalSpec:
    if name not in EVAL_SPECS:
        raise ValueError(f"unknown evaluator {name!r}; choose one of {', '.join(EVAL_SPECS)}")
    return EVAL_SPECS[name]
