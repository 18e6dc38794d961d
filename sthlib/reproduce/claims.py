"""The paper's claims (PAPER.md sections 4-5), each a metric read from one model's stored results and a verdict
rule. Torch-free: a report is built from result dicts as the database stores them.

A model's results are a list of `Cited` values: the result's id (where it is stored), its evaluator and label
(a corruption's name), and its data (RobustnessCurve or PerturbationReport dict). Every number a claim uses comes
with the id of the result it was read from, so a reviewer can trace it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sthlib.evaluate.metrics import normalized_auc
from sthlib.evaluate.results import RobustnessCurve
from sthlib.reproduce.verdict import Evidence, compare, floor

R0_U0_FLOOR = 0.9


@dataclass(frozen=True)
class Cited:
    """One stored result of one model."""

    result_id: str
    evaluator: str
    label: str
    data: dict[str, Any]


@dataclass(frozen=True)
class ModelResults:
    """One trained model of a report: its seed, clean test accuracy and stored results."""

    model_id: str
    seed: int
    test_acc: float
    results: list[Cited]
    history: list[dict[str, Any]] = field(default_factory=list)  # per-epoch metrics, for the figures


Reading = tuple[float, list[str]]  # a value and the ids of the results it was read from


def _curves(model: ModelResults, evaluator: str, group: str | None = None) -> list[Cited]:
    return [r for r in model.results if r.evaluator == evaluator and r.data.get("kind") == "curve"
            and (group is None or r.data.get("group") == group)]  # fmt: skip


def auc_of(evaluator: str, group: str | None = None) -> Callable[[ModelResults], Reading | None]:
    """The normalised AUC of the model's `evaluator` curve (the mean over its curves of one frequency `group` for
    the corruptions)."""

    def read(model: ModelResults) -> Reading | None:
        found = _curves(model, evaluator, group)
        if not found:
            return None
        aucs = [normalized_auc(RobustnessCurve.from_dict(r.data)) for r in found]
        return statistics.fmean(aucs), [r.result_id for r in found]

    return read


def _report(model: ModelResults, evaluator: str) -> Cited | None:
    return next((r for r in model.results if r.evaluator == evaluator and r.data.get("kind") == "perturbation"), None)


def score_of(evaluator: str) -> Callable[[ModelResults], Reading | None]:
    """The headline score of a minimal-perturbation report: the mean over repeats of the median ||d||^2/D."""

    def read(model: ModelResults) -> Reading | None:
        found = _report(model, evaluator)
        score = None if found is None else found.data["summary"].get("score")
        return None if score is None else (float(score), [found.result_id])  # type: ignore[union-attr]

    return read


def low_frequency_of(evaluator: str) -> Callable[[ModelResults], Reading | None]:
    """The fraction of the minimal perturbations' power below the spectrum's cutoff."""

    def read(model: ModelResults) -> Reading | None:
        found = _report(model, evaluator)
        spectrum = None if found is None else found.data.get("spectrum")
        if not spectrum or spectrum.get("power_below_cutoff") is None:
            return None
        return float(spectrum["power_below_cutoff"]), [found.result_id]  # type: ignore[union-attr]

    return read


def clean_accuracy(model: ModelResults) -> Reading | None:
    return model.test_acc, []


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, checked on paired seeds of the baseline and the S^Th setting."""

    id: str
    statement: str  # what the paper says
    metric: str  # what is measured, per model
    read: Callable[[ModelResults], Reading | None]
    higher_is_better: bool = True
    floor: float | None = None  # a floor claim: S^Th / baseline >= floor
    needs: tuple[str, ...] = ()  # evaluators it reads

    def judge(self, baseline: list[ModelResults], sth: list[ModelResults]) -> dict[str, Any]:
        """The claim's evidence and verdict, with every per-seed value and the results it cites."""
        readings = {"baseline": {m.seed: (m, self.read(m)) for m in baseline},
                    "sth": {m.seed: (m, self.read(m)) for m in sth}}  # fmt: skip
        values = {side: {seed: r[0] for seed, (_, r) in seeds.items() if r is not None}
                  for side, seeds in readings.items()}  # fmt: skip
        per_seed = [{"side": side, "seed": seed, "model_id": m.model_id, "value": None if r is None else r[0],
                     "results": [] if r is None else r[1]}
                    for side, seeds in readings.items() for seed, (m, r) in sorted(seeds.items())]  # fmt: skip
        base = {"id": self.id, "statement": self.statement, "metric": self.metric, "per_seed": per_seed}
        if not set(values["baseline"]) & set(values["sth"]):
            return {**base, "verdict": "not measured", "reason": f"no paired seed has {self.metric}",
                    "evidence": None}  # fmt: skip
        evidence: Evidence
        if self.floor is not None:
            evidence = floor(self.metric, values["baseline"], values["sth"], self.floor)
        else:
            evidence = compare(self.metric, values["baseline"], values["sth"], self.higher_is_better)
        return {**base, "verdict": evidence.verdict, "reason": evidence.reason, "evidence": evidence.to_dict()}


def gain_difference(high: str, low: str) -> Callable[[ModelResults], Reading | None]:
    """Per model: AUC on the `high` corruptions minus AUC on the `low` ones. Compared between S^Th and the baseline
    seed by seed, it says whether S^Th gains more on high-frequency corruptions than on low-frequency ones."""
    read_high, read_low = auc_of("corruption", high), auc_of("corruption", low)

    def read(model: ModelResults) -> Reading | None:
        a, b = read_high(model), read_low(model)
        return None if a is None or b is None else (a[0] - b[0], a[1] + b[1])

    return read


CLAIMS: tuple[Claim, ...] = (
    Claim("clean-accuracy", "S^Th keeps clean accuracy: R0/U0 >= 0.9", "clean test accuracy R0 (S^Th) / U0 "
          "(baseline), per seed", clean_accuracy, floor=R0_U0_FLOOR),
    Claim("gaussian", "S^Th is more robust to Gaussian noise", "normalised AUC of accuracy vs sigma",
          auc_of("gaussian"), needs=("gaussian",)),
    Claim("uniform", "S^Th is more robust to uniform noise", "normalised AUC of accuracy vs eps", auc_of("uniform"),
          needs=("uniform",)),
    Claim("salt-pepper", "S^Th is more robust to salt-and-pepper noise", "normalised AUC of accuracy vs p",
          auc_of("salt_pepper"), needs=("salt_pepper",)),
    Claim("transfer-fgsm", "S^Th is more robust to FGSM transferred from a separately trained unregularized model",
          "normalised AUC of accuracy vs eps", auc_of("transfer_fgsm"), needs=("transfer_fgsm",)),
    Claim("boundary", "S^Th needs larger minimal perturbations (decision-based boundary attack)",
          "mean over repeats of the median ||d||^2/D", score_of("boundary"), needs=("boundary",)),
    Claim("low-frequency", "S^Th's minimal perturbations hold more low-frequency power",
          "fraction of the perturbations' power below the cutoff frequency", low_frequency_of("boundary"),
          needs=("boundary",)),
    Claim("corruptions-high", "S^Th is more robust to high-frequency corruptions",
          "normalised AUC over severities, mean over the high-frequency corruptions", auc_of("corruption", "high"),
          needs=("corruption",)),
    Claim("corruptions-mid", "S^Th is more robust to mid-frequency corruptions",
          "normalised AUC over severities, mean over the mid-frequency corruptions", auc_of("corruption", "mid"),
          needs=("corruption",)),
    Claim("corruptions-low", "S^Th is more robust to low-frequency corruptions",
          "normalised AUC over severities, mean over the low-frequency corruptions", auc_of("corruption", "low"),
          needs=("corruption",)),
    Claim("corruptions-high-most", "S^Th gains most on high-frequency corruptions",
          "AUC on high- minus AUC on low-frequency corruptions", gain_difference("high", "low"),
          needs=("corruption",)),
)  # fmt: skip


def judge_all(baseline: list[ModelResults], sth: list[ModelResults],
              evaluators: set[str] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every claim whose evaluators ran (all, when `evaluators` is None), in CLAIMS order."""
    return [c.judge(baseline, sth) for c in CLAIMS if evaluators is None or set(c.needs) <= evaluators]
