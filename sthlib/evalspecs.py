"""Evaluator parameters: frozen, typed dataclasses with defaults, ranges and units. Torch-free: the API builds its
catalogue and validates requests with these; sthlib.evaluate implements one evaluator per entry of EVAL_SPECS
(tested). Types, ranges and enums are the annotations (sthlib.validation); validate() checks the rest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_args

from pydantic import Field

from sthlib.data import dataset_info
from sthlib.validation import SEED_MAX, SPEC_CONFIG, Float, Int, SpecError, Str, json_schema, parse, require

Family = Literal["mnist", "cifar", "other"]
Clamp = Literal["range", "image"]  # clamp perturbed images to [0, 1], or to each image's own [min, max] (reference)
ScoreChannel = Literal["all", "first"]  # ||delta||^2 / D over all channels, or channel 0 only (the reference)
Start = Literal["best", "nearest", "reference"]  # where minimal-perturbation attacks start (evaluate.minimal)
CorruptionName = Literal["gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
                         "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform",
                         "pixelate", "jpeg_compression"]  # fmt: skip
CLAMPS: tuple[str, ...] = get_args(Clamp)
SCORE_CHANNELS: tuple[str, ...] = get_args(ScoreChannel)
STARTS: tuple[str, ...] = get_args(Start)
CORRUPTION_NAMES: tuple[str, ...] = get_args(CorruptionName)  # == sthlib.evaluate.corruptions (tested)
SourceKind = Literal["model", "checkpoint", "sweep"]
THOROUGH_FACTOR = 4  # `--thorough`: this many times the default steps (the budget that checks convergence)
MAX_STRENGTHS = 64


def _grid(maximum: float, points: int = 10) -> list[float]:
    """`points` strengths evenly spaced from 0 to `maximum` (PAPER.md section 4: 10 values from 0)."""
    return [round(maximum * i / (points - 1), 10) for i in range(points)]


@dataclass(frozen=True)
class SourceRef:
    """Where transfer_fgsm's unregularized source model comes from: a stored model (its id), a checkpoint file
    (local runs), or the model a sweep trains for its own evaluations (replaced by its id once it is trained)."""

    __pydantic_config__ = SPEC_CONFIG

    kind: Annotated[SourceKind, Field(description="model: a stored model's id; checkpoint: a .safetensors path "
                                      "(local runs); sweep: the source model the sweep trains")]  # fmt: skip
    ref: Annotated[Str, Field(max_length=4096, description="the model id or the checkpoint path; empty for "
                              "sweep")] = ""  # fmt: skip

    def validate(self, field: str = "source") -> None:
        if self.kind == "sweep":
            require(not self.ref, f"{field}.ref", "a sweep's own source model has no ref", "leave ref empty")
        else:
            what = "a model id" if self.kind == "model" else "a checkpoint path"
            require(bool(self.ref), f"{field}.ref", f"a {self.kind} source needs ref: {what}")

    @classmethod
    def model(cls, model_id: str) -> SourceRef:
        return cls("model", model_id)

    @classmethod
    def checkpoint(cls, path: str) -> SourceRef:
        return cls("checkpoint", path)


SWEEP_SOURCE = SourceRef("sweep")


@dataclass(frozen=True)
class CommonParams:
    __pydantic_config__ = SPEC_CONFIG

    n_images: Annotated[Int | None, Field(ge=1, le=10_000_000, description="a seeded random subset of the test "
                                          "split; null: all of it")] = None  # fmt: skip
    seed: Annotated[Int, Field(ge=0, le=SEED_MAX, description="noise, subsets and attack randomness")] = 0

    def validate(self) -> None:
        """Rules across fields that types cannot say (SpecError naming the field)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Strength = Annotated[Float, Field(ge=0, le=1)]


@dataclass(frozen=True)
class CurveParams(CommonParams):
    strengths: Annotated[list[Strength] | None, Field(min_length=1, max_length=MAX_STRENGTHS, description="the "
                         "x values, each in [0, 1] (pixel units; p: a probability); null: the dataset's default grid "
                         "(PAPER.md section 4)")] = None  # fmt: skip


@dataclass(frozen=True)
class NoiseParams(CurveParams):
    clamp: Annotated[Clamp, Field(description="range: clip to [0, 1]; image: to each image's own [min, max] "
                                  "(the reference)")] = "range"  # fmt: skip


@dataclass(frozen=True)
class TransferFGSMParams(CurveParams):
    source: Annotated[SourceRef | None, Field(description="the unregularized source model of the same task (an "
                                              "evaluation job needs one)")] = None  # fmt: skip

    def validate(self) -> None:
        super().validate()
        if self.source is not None:
            self.source.validate()


@dataclass(frozen=True)
class PGDParams(CurveParams):
    steps: Annotated[Int, Field(ge=1, le=10_000, description="gradient steps per epsilon")] = 40
    rel_stepsize: Annotated[Float, Field(gt=0, le=1, description="step size relative to epsilon")] = 0.01 / 0.3


@dataclass(frozen=True)
class MinimalParams(CommonParams):
    n_images: Annotated[Int | None, Field(ge=1, le=10_000_000, description="a seeded random subset of the test "
                                          "split (PAPER.md section 4: 1000); null: all of it")] = 1000  # fmt: skip
    steps: Annotated[Int, Field(ge=1, le=1_000_000, description="attack iterations; each attack's default is the "
                                "converged budget of bench/README.md")] = 50  # fmt: skip
    start: Annotated[Start, Field(description="best: the closer of the nearest other-class image and foolbox's "
                                  "noise, binary-searched; nearest; reference: foolbox's noise start, unsearched, "
                                  "as the paper's code")] = "best"  # fmt: skip
    repeats: Annotated[Int, Field(ge=1, le=100, description="independent repeats; the score is the mean of "
                                  "their medians (the paper's 5)")] = 5  # fmt: skip
    score_channel: Annotated[ScoreChannel, Field(description="all channels, or first (the reference's channel-0 "
                                                 "score)")] = "all"  # fmt: skip
    spectrum_bins: Annotated[Int, Field(ge=2, le=1024, description="radial frequency bins of the perturbation "
                                        "spectrum")] = 25  # fmt: skip
    batch_size: Annotated[Int, Field(ge=1, le=65_536, description="images attacked together")] = 256


@dataclass(frozen=True)
class BoundaryParams(MinimalParams):
    # 4x more moves the median < 15% (bench/README.md, "Minimal perturbations"); the paper: 50
    steps: Annotated[Int, Field(ge=1, le=1_000_000, description="attack iterations (default: converged, "
                                "bench/README.md; the paper's code: 50)")] = 6400  # fmt: skip


@dataclass(frozen=True)
class HopSkipJumpParams(MinimalParams):
    # foolbox's default; NOT converged by the 4x rule (bench/README.md): an upper bound
    steps: Annotated[Int, Field(ge=1, le=1_000_000, description="attack iterations (foolbox's default; not "
                                "converged: the score is an upper bound)")] = 64  # fmt: skip


Severity = Annotated[Int, Field(ge=1, le=5)]


@dataclass(frozen=True)
class CorruptionParams(CommonParams):
    corruptions: Annotated[list[CorruptionName] | None, Field(min_length=1, max_length=len(CORRUPTION_NAMES),
                           description="which corruptions; null: all 15")] = None  # fmt: skip
    severities: Annotated[list[Severity], Field(min_length=1, max_length=5, description="severities in "
                          "1..5")] = field(default_factory=lambda: [1, 2, 3, 4, 5])  # fmt: skip

    def validate(self) -> None:
        super().validate()
        for name, values in (("corruptions", self.corruptions or []), ("severities", self.severities)):
            require(len(set(values)) == len(values), name, f"{name} must not repeat a value, got {values}")


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

    def make_params(self, values: dict[str, Any] | CommonParams, field: str = "params") -> CommonParams:
        """Checked parameters from JSON-like values (SpecError naming `field`.KEY); unknown keys list the known."""
        params = parse(self.params, values, field)
        try:
            params.validate()
        except SpecError as e:
            raise e.at(field) from None
        return params

    @property
    def sourced(self) -> bool:
        """Its parameters name a source model (transfer attacks): a job resolves and loads it."""
        return any(f.name == "source" for f in dataclasses.fields(self.params))

    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the parameters: types, defaults, enums, minimum/maximum, descriptions."""
        return json_schema(self.params)

    def catalogue(self) -> dict[str, Any]:
        """Name, kind, description and each parameter's type, default, allowed values and range (GET
        /v1/evaluators)."""
        schema = self.parameters_schema()
        fields = [{"name": name, "type": _type_name(prop), "default": prop.get("default"),
                   **{k: prop[k] for k in ("enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                           "description") if k in prop}}
                  for name, prop in schema["properties"].items()]  # fmt: skip
        return {"name": self.name, "kind": self.kind, "description": self.description, "x_name": self.x_name,
                "x_unit": self.x_unit, "sourced": self.sourced, "parameters": fields, "schema": schema}  # fmt: skip


def _type_name(prop: dict[str, Any]) -> str:
    """A parameter's JSON type in words: "integer", "number or null", "array of number", "SourceRef or null"."""
    options = prop.get("anyOf", [prop])
    names = []
    for option in options:
        if "$ref" in option:
            names.append(option["$ref"].rsplit("/", 1)[-1])
        elif option.get("type") == "array":
            names.append(f"array of {_type_name(option.get('items', {}))}")
        else:
            names.append(str(option.get("type", "string" if "enum" in option else "any")))
    return " or ".join(names)


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


def eval_spec(name: str, field: str = "name") -> EvalSpec:
    """The spec of an evaluator by name; SpecError at `field` listing the evaluators for an unknown one."""
    require(name in EVAL_SPECS, field, f"unknown evaluator {name!r}", f"choose one of {', '.join(EVAL_SPECS)}")
    return EVAL_SPECS[name]


def attacks_with_source(name: str) -> bool:
    """A known evaluator whose parameters name a source model (transfer attacks); False for any other name."""
    return name in EVAL_SPECS and EVAL_SPECS[name].sourced
