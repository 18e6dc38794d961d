"""Typed results of the evaluators: a RobustnessCurve (accuracy over strengths) or a PerturbationReport
(per-image minimal perturbations). Both round-trip through JSON; curves also write CSV."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from typing import Any


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
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["model", "evaluator", "group", "x_name", "strength", "accuracy", "n", "accuracy_on_correct"])
        for p in self.points:
            writer.writerow([self.model, self.evaluator, self.group, self.x_name, p.strength, p.accuracy, p.n,
                             p.accuracy_on_correct])  # fmt: skip
        return out.getvalue()


@dataclass(frozen=True)
class PerturbationSummary:
    success_rate: float  # fraction of attacked images for which an adversarial was found
    median_mse: float  # median over successful images of ||delta||^2 / D (the paper's score; larger = more robust)
    median_l2: float
    median_linf: float
    repeat_median_mse: list[float] = field(default_factory=list)  # the score of each repeat
    mean_mse: float = float("nan")  # mean of the repeat scores
    std_mse: float = float("nan")  # their standard deviation (0 for one repeat)


@dataclass(frozen=True)
class PerturbationReport:
    evaluator: str  # e.g. "boundary"
    params: dict[str, Any]
    n: int  # images attacked per repeat
    l2: list[float]  # per image (last repeat), in [0,1] pixel units; nan where the attack failed
    linf: list[float]
    mse: list[float]  # ||delta||^2 / D over all channels (channel 0 only with the reference-compatible score)
    success: list[bool]
    summary: PerturbationSummary
    model: str = ""
    spectrum: dict[str, Any] | None = None  # radially averaged power of the perturbations (sthlib.evaluate.frequency)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "perturbation", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PerturbationReport:
        data = {k: v for k, v in data.items() if k != "kind"}
        return cls(**{**data, "summary": PerturbationSummary(**data["summary"])})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    def to_csv(self) -> str:
        """One row per image: model, evaluator, index, success, l2, linf, mse."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["model", "evaluator", "index", "success", "l2", "linf", "mse"])
        for i, (ok, l2, linf, mse) in enumerate(zip(self.success, self.l2, self.linf, self.mse, strict=True)):
            writer.writerow([self.model, self.evaluator, i, int(ok), l2, linf, mse])
        return out.getvalue()


Result = RobustnessCurve | PerturbationReport


def result_from_dict(data: dict[str, Any]) -> Result:
    if data.get("kind") == "curve":
        return RobustnessCurve.from_dict(data)
    if data.get("kind") == "perturbation":
        return PerturbationReport.from_dict(data)
    raise ValueError(f"not an evaluation result: kind={data.get('kind')!r}")
