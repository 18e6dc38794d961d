"""Results of several seeds of one setting, aggregated: a mean with a 95% Student t interval over the seeds (the
models), per strength of a curve, for a curve's normalised AUC and clean accuracy, and for a minimal-perturbation
report's headline score and success rate. Torch-free (the API compares with it).

The interval is mean +- t_{0.975, n-1} * s / sqrt(n), s the sample standard deviation (ddof 1) of the n per-seed
values; with one seed there is no interval (low and high are None), which is said, not hidden.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any

from sthlib.evaluate.metrics import normalized_auc
from sthlib.evaluate.results import PerturbationSummary, RobustnessCurve

CONFIDENCE = 0.95
INTERVAL = "95% Student t interval over the models (seeds) of a group; none for n = 1"


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float | None
    high: float | None
    n: int
    std: float | None  # sample standard deviation (ddof 1); None for n = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def t_interval(values: list[float], confidence: float = CONFIDENCE) -> Interval:
    """The mean of `values` with its Student t interval (None bounds for a single value)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        raise ValueError("an interval needs at least one finite value")
    mean = statistics.fmean(finite)
    if len(finite) == 1:
        return Interval(mean, None, None, 1, None)
    from scipy.stats import t  # lazily: the API process imports this module at start

    std = statistics.stdev(finite)
    half = float(t.ppf(0.5 + confidence / 2, len(finite) - 1)) * std / math.sqrt(len(finite))
    return Interval(mean, mean - half, mean + half, len(finite), std)


@dataclass(frozen=True)
class CurveGroup:
    """Curves of one evaluator (and label) for the models of a group, on the strengths they share."""

    strengths: list[float]
    accuracy: list[Interval]  # per strength
    auc: Interval  # normalised area under each model's curve
    clean_accuracy: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"points": [{"strength": s, **a.to_dict()} for s, a in zip(self.strengths, self.accuracy, strict=True)],
                "auc": self.auc.to_dict(), "clean_accuracy": self.clean_accuracy.to_dict()}  # fmt: skip


def aggregate_curves(curves: list[RobustnessCurve]) -> CurveGroup:
    """Per strength, the mean accuracy over the curves with its interval; strengths not measured for every curve
    are left out (ValueError if they share none)."""
    if not curves:
        raise ValueError("aggregate_curves needs at least one curve")
    per_curve = [{round(p.strength, 10): p.accuracy for p in c.points} for c in curves]
    shared = sorted(set.intersection(*(set(points) for points in per_curve)))
    if not shared:
        raise ValueError("the curves share no strength: evaluate them on one grid")
    accuracy = [t_interval([points[s] for points in per_curve]) for s in shared]
    return CurveGroup(shared, accuracy, t_interval([normalized_auc(c) for c in curves]),
                      t_interval([c.clean_accuracy for c in curves]))  # fmt: skip


@dataclass(frozen=True)
class ReportGroup:
    """Minimal-perturbation reports of the models of a group: their headline scores and success rates, and the mean
    radial spectrum (fraction of the power per frequency bin, averaged over the models, with the interval of their
    half-power frequencies) where every report has one on the same bins."""

    score: Interval  # each model's score: the mean over its repeats of the median ||d||^2/D over successes
    success_rate: Interval
    spectrum: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score.to_dict(), "success_rate": self.success_rate.to_dict(), "spectrum": self.spectrum}


def aggregate_reports(reports: list[dict[str, Any]]) -> ReportGroup:
    """`reports`: PerturbationReport dicts as stored (ValueError naming a report of an older format)."""
    if not reports:
        raise ValueError("aggregate_reports needs at least one report")
    summaries = [PerturbationSummary.from_dict(r["summary"]) for r in reports]
    spectra = [r.get("spectrum") or {} for r in reports]
    spectrum = None
    edges = spectra[0].get("edges")
    if edges and all(s.get("edges") == edges and s.get("power") for s in spectra):
        columns = zip(*(s["power"] for s in spectra), strict=True)
        half = t_interval([s["half_power_frequency"] for s in spectra]).to_dict()
        spectrum = {"frequency": spectra[0]["frequency"], "edges": edges, "cutoff": spectra[0].get("cutoff"),
                    "power": [statistics.fmean(c) for c in columns], "half_power_frequency": half}  # fmt: skip
    return ReportGroup(t_interval([s.score for s in summaries]), t_interval([s.success_rate for s in summaries]),
                       spectrum)  # fmt: skip


@dataclass(frozen=True)
class HistoryMetric:
    """A per-epoch metric of sthlib.train.metrics.EpochMetrics that training histories are compared on."""

    key: str  # the EpochMetrics field, as stored in a model's history
    axis: str  # a figure's axis label
    description: str


HISTORY_METRICS = (
    HistoryMetric("train_loss", "train loss (nats)", "cross-entropy, mean over the epoch's batches, training mode"),
    HistoryMetric("reg_loss", "L_reg", "regularization loss, mean over the epoch's pair batches (none: unregularized)"),
    HistoryMetric("train_acc", "train accuracy", "mean over the epoch's batches, training mode"),
    HistoryMetric("valid_acc", "validation accuracy", "a full pass over the validation split, eval mode"),
    HistoryMetric("sim_corr", "similarity correlation", "Pearson r of predicted and target similarity on fixed "
                  "pairs, eval mode (none: unregularized)"),
)  # fmt: skip
HISTORY_INTERVAL = (
    "95% Student t interval, per epoch, over the models (seeds) of a group that recorded the metric at that epoch "
    "(n per epoch: seeds may have trained different numbers of epochs); none for n = 1"
)


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def aggregate_histories(histories: list[list[dict[str, Any]]],
                        keys: list[str]) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """Per metric key, per epoch: the mean over the histories (one per model, a list of EpochMetrics dicts) that have
    a finite value at that epoch, with its interval and n; epochs no history has a value for are left out. An entry
    that is no object or has no integer epoch, or a value that is no finite number (an upload's history), is
    skipped; a model that recorded an epoch twice counts once, with its last record."""
    per_model = [{e["epoch"]: e for e in history if isinstance(e, dict) and type(e.get("epoch")) is int}
                 for history in histories]  # fmt: skip
    series: dict[str, list[dict[str, Any]]] = {}
    for key in keys:
        by_epoch: dict[int, list[float]] = {}
        for epochs in per_model:
            for epoch, entry in epochs.items():
                value = _number(entry.get(key))
                if value is not None:
                    by_epoch.setdefault(epoch, []).append(value)
        series[key] = [{"epoch": e, **t_interval(v).to_dict()} for e, v in sorted(by_epoch.items())]
    return series
