"""Summaries of robustness results: normalized area under a curve, the R0/U0 selection rule of PAPER.md section 1,
robustness relative to a baseline, and a table of common-corruption accuracies by frequency group. No torch."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from typing import Any

import numpy as np

from sthlib.evaluate.results import RobustnessCurve

logger = logging.getLogger(__name__)

FREQUENCY_GROUPS = ("low", "mid", "high")  # corruption groups by frequency content, in plotting order
SEVERITIES = (0, 1, 2, 3, 4, 5)  # 0 is the clean test set
MIN_R0_U0 = 0.9  # PAPER.md section 1: the regularized model keeps at least 90% of the unregularized clean accuracy


def _sorted_xy(curve: RobustnessCurve, on_correct: bool) -> tuple[np.ndarray, np.ndarray]:
    points = sorted(curve.points, key=lambda p: p.strength)
    x = np.array([p.strength for p in points], dtype=np.float64)
    y = np.array([p.accuracy_on_correct if on_correct else p.accuracy for p in points], dtype=np.float64)
    return x, y


def normalized_auc(curve: RobustnessCurve, on_correct: bool = False) -> float:
    """Trapezoidal area under accuracy vs strength divided by the strength range, in [0, 1].

    A flat curve at accuracy a gives a; strengths need not be evenly spaced. A single point (or points that all share
    one strength) gives the mean accuracy there. With on_correct, uses accuracy on the initially correct images."""
    if not curve.points:
        raise ValueError(
            f"cannot take the AUC of an empty curve (evaluator {curve.evaluator!r}, model {curve.model!r})"
        )
    x, y = _sorted_xy(curve, on_correct)
    span = float(x[-1] - x[0])
    if span == 0.0:
        return float(np.mean(y))
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return area / span


def r0_u0(regularized_clean_acc: float, unregularized_clean_acc: float) -> float:
    """R0/U0: clean accuracy of the regularized model over that of the unregularized one."""
    if not unregularized_clean_acc > 0:
        raise ValueError(f"the unregularized clean accuracy U0 must be positive, got {unregularized_clean_acc}")
    return regularized_clean_acc / unregularized_clean_acc


def passes_r0_u0(r0: float, u0: float, minimum: float = MIN_R0_U0) -> bool:
    """Whether a regularized model keeps enough clean accuracy: R0/U0 >= minimum."""
    return r0_u0(r0, u0) >= minimum


def _check_comparable(curve: RobustnessCurve, baseline: RobustnessCurve) -> None:
    if curve.evaluator != baseline.evaluator:
        raise ValueError(
            f"curves come from different evaluators: {curve.evaluator!r} (model {curve.model!r}) "
            f"vs baseline {baseline.evaluator!r} (model {baseline.model!r})"
        )
    xs, xb = sorted(curve.strengths), sorted(baseline.strengths)
    if len(xs) != len(xb) or not np.allclose(xs, xb, rtol=1e-9, atol=1e-12):
        raise ValueError(f"curves have different strengths ({curve.x_name}): {xs} vs baseline {xb}")


def relative_robustness(curve: RobustnessCurve, baseline: RobustnessCurve, on_correct: bool = False) -> float:
    """Normalized AUC of curve minus that of baseline (positive = more robust than the baseline)."""
    _check_comparable(curve, baseline)
    return normalized_auc(curve, on_correct) - normalized_auc(baseline, on_correct)


def relative_curve(
    curve: RobustnessCurve, baseline: RobustnessCurve, on_correct: bool = False
) -> list[tuple[float, float]]:
    """(strength, accuracy of curve minus accuracy of baseline) per strength, sorted by strength."""
    _check_comparable(curve, baseline)
    x, y = _sorted_xy(curve, on_correct)
    _, yb = _sorted_xy(baseline, on_correct)
    return [(float(s), float(d)) for s, d in zip(x, y - yb, strict=True)]


def select_most_robust(
    candidates: list[tuple[str, float, RobustnessCurve]], baseline_clean_acc: float, minimum: float = MIN_R0_U0
) -> str | None:
    """PAPER.md's selection rule: among (name, clean accuracy R0, curve) with R0/U0 >= minimum, the name with the
    largest normalized AUC (the first one on ties); None if no candidate keeps enough clean accuracy."""
    scored = [(name, r0, normalized_auc(curve)) for name, r0, curve in candidates]
    return select_by_auc(scored, baseline_clean_acc, minimum)


def select_by_auc(candidates: list[tuple[str, float, float]], baseline_clean_acc: float,
                  minimum: float = MIN_R0_U0) -> str | None:  # fmt: skip
    """The same rule over (name, R0, robustness score) already computed, e.g. AUCs averaged over seeds."""
    best: tuple[float, str] | None = None
    for name, r0, auc in candidates:
        ratio = r0_u0(r0, baseline_clean_acc)
        if ratio < minimum:
            logger.info("excluding %s: R0/U0 = %.3f < %.3f", name, ratio, minimum)
            continue
        if best is None or auc > best[0]:
            best = (auc, name)
    if best is None:
        logger.info("no candidate keeps R0/U0 >= %.3f", minimum)
        return None
    return best[1]


def _severity(curve: RobustnessCurve, strength: float) -> int:
    severity = round(strength)
    if severity not in SEVERITIES or not math.isclose(strength, severity):
        raise ValueError(f"corruption {curve.params.get('corruption')!r}: strength {strength} is not a severity 0..5")
    return severity


def _check_corruption_curve(curve: RobustnessCurve) -> str:
    if curve.evaluator != "corruption":
        raise ValueError(f"expected corruption curves, got evaluator {curve.evaluator!r} (model {curve.model!r})")
    name = curve.params.get("corruption")
    if not isinstance(name, str) or not name:
        raise ValueError(f"a corruption curve lacks params['corruption'] (params {curve.params})")
    if curve.group not in FREQUENCY_GROUPS:
        raise ValueError(f"corruption {name!r}: group {curve.group!r} is not one of {list(FREQUENCY_GROUPS)}")
    return name


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def corruption_table(curves: list[RobustnessCurve]) -> dict[str, Any]:
    """Aggregate one model's corruption curves (one per corruption, points at severities 0..5).

    Returns a JSON-able dict:
        "model": str                      the curves' model label
        "clean": float                    mean accuracy at severity 0 (nan if no curve has severity 0)
        "per_corruption": {name: float}   mean accuracy over severities 1..5 of each corruption
        "groups": {name: str}             each corruption's frequency group ("low", "mid" or "high")
        "per_severity": {int: float}      mean over corruptions at each severity present (0 included);
                                          the int keys become strings after a JSON round trip
        "per_group": {group: float}       mean over the group's corruptions and severities 1..5, for each
                                          group present, in the order low, mid, high
    """
    if not curves:
        raise ValueError("corruption_table needs at least one corruption curve")
    models = sorted({c.model for c in curves})
    if len(models) > 1:
        raise ValueError(f"corruption curves of several models {models}: build one table per model")
    per_corruption: dict[str, float] = {}
    groups: dict[str, str] = {}
    by_severity: dict[int, list[float]] = defaultdict(list)
    by_group: dict[str, list[float]] = defaultdict(list)
    for curve in curves:
        name = _check_corruption_curve(curve)
        if name in per_corruption:
            raise ValueError(f"corruption {name!r} appears twice")
        corrupted: list[float] = []
        for point in curve.points:
            severity = _severity(curve, point.strength)
            by_severity[severity].append(point.accuracy)
            if severity > 0:
                corrupted.append(point.accuracy)
                by_group[curve.group].append(point.accuracy)
        per_corruption[name] = _mean(corrupted)
        groups[name] = curve.group
    return {
        "model": models[0],
        "clean": _mean(by_severity.get(0, [])),
        "per_corruption": per_corruption,
        "groups": groups,
        "per_severity": {s: _mean(by_severity[s]) for s in sorted(by_severity)},
        "per_group": {g: _mean(by_group[g]) for g in FREQUENCY_GROUPS if g in by_group},
    }
