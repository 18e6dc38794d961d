"""Typed results of the evaluators: a RobustnessCurve (accuracy over strengths) or a PerturbationReport
(per-image minimal perturbations). Both round-trip through JSON; curves also write CSV."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from sthlib.csvtext import csv_text


@dataclass(frozen=True)
class CurvePoint:
    strength: float  # in the curve's x unit
    accuracy: float  # over all n images
    n: int  # images scored at this strength
    accuracy_on_correct: float  # over the images the model classified correctly at strength 0 (nan if none)


@dataclass(frozen=True)
class RobustnessCurve:
    evaluator: str  # registry name, e.g. "gaussian"
    params: dict[str, Any]  # the evaluator's parameters (JSON-able), e.g. {"clamp": "range", "seed": 0}
    x_name: str  # e.g. "sigma"
    x_unit: str  # e.g. "pixel value in [0, 1]"
    points: list[CurvePoint]
    model: str = ""  # a label for the model (checkpoint name, model id)
    group: str = ""  # an optional grouping, e.g. a corruption's frequency group ("low", "mid", "high")

    @property
    def strengths(self) -> list[float]:
        return [p.strength for p in self.points]

    @property
    def accuracies(self) -> list[float]:
        return [p.accuracy for p in self.points]

    @property
    def clean_accuracy(self) -> float:
        """Accuracy at the smallest strength (0 in the default grids)."""
        return min(self.points, key=lambda p: p.strength).accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "curve", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RobustnessCurve:
        data = {k: v for k, v in data.items() if k != "kind"}
        return cls(**{**data, "points": [CurvePoint(**p) for p in data["points"]]})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_csv(self) -> str:
        """One row per strength: model, evaluator, group, x name, strength, accuracy, n, accuracy_on_correct."""
        return csv_text(["model", "evaluator", "group", "x_name", "strength", "accuracy", "n", "accuracy_on_correct"],
                        [[self.model, self.evaluator, self.group, self.x_name, p.strength, p.accuracy, p.n,
                          p.accuracy_on_correct] for p in self.points])  # fmt: skip


@dataclass(frozen=True)
class RepeatSummary:
    """One repeat of a minimal-perturbation attack over the n images."""

    seed: int  # the attack's random seed in this repeat
    success_rate: float  # fraction of the n images for which an adversarial was found
    started: int  # images that had an adversarial start (the others count as failures)
    started_nearest: int  # of those, started from the nearest other-class image (the rest: blended noise)
    median_mse: float  # median over this repeat's successes of ||delta||^2 / D (nan if none)
    median_l2: float
    median_linf: float


@dataclass(frozen=True)
class PerturbationSummary:
    """The headline score as the paper defines it, and what it is made of (PAPER.md section 4)."""

    score: float  # THE PAPER'S SCORE: mean over repeats of each repeat's median ||delta||^2 / D over its successes
    score_std: float  # sample standard deviation (ddof=1) of those medians over repeats; nan for one repeat
    repeats: int  # repeats with at least one success (the mean is over these)
    success_rate: float  # mean over repeats of the fraction of images with an adversarial
    start_rate: float  # mean over repeats of the fraction of images that had an adversarial start
    median_l2: float  # mean over repeats of the median L2 over successes, in [0,1] pixel units
    median_linf: float  # the same for Linf
    per_repeat: list[RepeatSummary] = field(default_factory=list)

    @property
    def repeat_median_mse(self) -> list[float]:
        return [r.median_mse for r in self.per_repeat]

    @classmethod
    def of(cls, repeats: list[RepeatSummary], n: int) -> PerturbationSummary:
        """Aggregate repeats: means (and the score's sample std) over the repeats that found any adversarial."""
        scored = [r for r in repeats if not math.isnan(r.median_mse)]

        def mean(values: list[float]) -> float:
            return statistics.fmean(values) if values else math.nan

        return cls(
            score=mean([r.median_mse for r in scored]),
            score_std=statistics.stdev([r.median_mse for r in scored]) if len(scored) > 1 else math.nan,
            repeats=len(scored),
            success_rate=mean([r.success_rate for r in repeats]),
            start_rate=mean([r.started / n for r in repeats]) if n else math.nan,
            median_l2=mean([r.median_l2 for r in scored]),
            median_linf=mean([r.median_linf for r in scored]),
            per_repeat=list(repeats),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerturbationSummary:
        if "score" not in data:
            raise ValueError("a perturbation report written before scores were means over repeats; evaluate again")
        values = {k: v for k, v in _nan(data).items() if k != "per_repeat"}  # JSON null = nan
        return cls(**values, per_repeat=[RepeatSummary(**_nan(r)) for r in data.get("per_repeat", [])])


def _nan(data: dict[str, Any]) -> dict[str, Any]:
    """JSON null (how the service stores NaN) back to nan."""
    return {k: math.nan if v is None else v for k, v in data.items()}


@dataclass(frozen=True)
class PerturbationReport:
    """Per repeat and image (lists of `repeats` lists of n values): whether an adversarial was found, where the
    attack started ("nearest", "noise" or "none"), and L2, Linf and ||delta||^2 / D (over all channels, or channel 0
    with the reference-compatible score) in [0,1] pixel units, nan where the attack failed."""

    evaluator: str  # e.g. "boundary"
    params: dict[str, Any]
    n: int  # images attacked per repeat
    l2: list[list[float]]
    linf: list[list[float]]
    mse: list[list[float]]
    success: list[list[bool]]
    start: list[list[str]]
    summary: PerturbationSummary
    model: str = ""
    spectrum: dict[str, Any] | None = None  # radially averaged power of the perturbations of every repeat

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "perturbation", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerturbationReport:
        data = {k: v for k, v in data.items() if k != "kind"}
        per_image = {k: [[math.nan if v is None else v for v in row] for row in data[k]] for k in ("l2", "linf", "mse")}
        return cls(**{**data, **per_image, "summary": PerturbationSummary.from_dict(data["summary"])})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_csv(self) -> str:
        """One row per repeat and image: model, evaluator, repeat, index, start, success, l2, linf, mse."""
        columns = zip(self.start, self.success, self.l2, self.linf, self.mse, strict=True)
        return csv_text(["model", "evaluator", "repeat", "index", "start", "success", "l2", "linf", "mse"],
                        [[self.model, self.evaluator, repeat, i, start, int(ok), l2, linf, mse]
                         for repeat, rows in enumerate(columns)
                         for i, (start, ok, l2, linf, mse) in enumerate(zip(*rows, strict=True))])  # fmt: skip


Result = RobustnessCurve | PerturbationReport


def result_from_dict(data: dict[str, Any]) -> Result:
    if data.get("kind") == "curve":
        return RobustnessCurve.from_dict(data)
    if data.get("kind") == "perturbation":
        return PerturbationReport.from_dict(data)
    raise ValueError(f"not an evaluation result: kind={data.get('kind')!r}")
