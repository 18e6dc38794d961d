"""Verdicts on a claim from per-seed results, torch-free.

A claim compares the S^Th setting with its unregularized baseline on one metric. Seeds are paired (the seed-s
baseline and the seed-s regularized model share their data order and initialisation), so the evidence is the
per-seed difference d_s = sth_s - baseline_s (sign flipped where lower is better):

- its mean with a 95% Student t interval, mean +- t_{0.975, n-1} s_d / sqrt(n);
- a two-sided paired t-test of mean(d) = 0, t = mean / (s_d / sqrt(n)) with n - 1 degrees of freedom (the same
  test as scipy.stats.ttest_rel);
- the verdict: "holds" when the interval lies above 0 (S^Th better), "does not hold" when it lies below 0 (S^Th
  worse), "inconclusive" otherwise, and always with fewer than two paired seeds. The interval excludes 0 exactly
  when the test's p < 0.05, so the two never disagree.

A floor claim (clean accuracy R0/U0 >= 0.9) holds when the interval of the per-seed ratios lies at or above the
floor, does not hold when it lies below, and is inconclusive when it straddles it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sthlib.evaluate.aggregate import Interval, t_interval

Verdict = Literal["holds", "does not hold", "inconclusive"]
PAIRED_TEST = "two-sided paired t-test over seeds (d = S^Th - baseline per seed), 95% t interval of mean(d)"
FLOOR_TEST = "95% t interval over seeds of the per-seed ratio S^Th / baseline, against the floor"


@dataclass(frozen=True)
class Evidence:
    """What a verdict rests on: the two settings' intervals, the paired differences and the test."""

    metric: str
    higher_is_better: bool
    seeds: list[int]  # the paired seeds, in order
    baseline: Interval
    sth: Interval
    effect: Interval  # of the per-seed S^Th - baseline (a comparison) or S^Th / baseline (a floor)
    effect_is: str
    t: float | None
    p_value: float | None
    test: str
    verdict: Verdict
    reason: str
    unpaired: list[int]  # seeds that only one side has: left out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_t(differences: list[float]) -> tuple[float | None, float | None]:
    """t statistic and two-sided p-value of mean(differences) = 0 (None, None with fewer than two)."""
    n = len(differences)
    if n < 2:
        return None, None
    mean, std = statistics.fmean(differences), statistics.stdev(differences)
    if std == 0:
        return (math.copysign(math.inf, mean), 0.0) if mean != 0 else (0.0, 1.0)
    from scipy.stats import t as student  # lazily, as aggregate does

    t = mean / (std / math.sqrt(n))
    return t, float(2 * student.sf(abs(t), n - 1))


def compare(metric: str, baseline: dict[int, float], sth: dict[int, float],
            higher_is_better: bool = True) -> Evidence:  # fmt: skip
    """The verdict on "S^Th is better than the baseline on `metric`" from per-seed values ({seed: value})."""
    seeds = sorted(set(baseline) & set(sth))
    unpaired = sorted(set(baseline) ^ set(sth))
    if not seeds:
        raise ValueError(f"{metric}: no seed has both a baseline and an S^Th value")
    differences = [sth[s] - baseline[s] for s in seeds]
    difference = t_interval(differences)
    t, p = paired_t(differences)
    sign = 1 if higher_is_better else -1
    better = "higher" if higher_is_better else "lower"
    verdict: Verdict
    if difference.low is None or difference.high is None:
        verdict, reason = "inconclusive", f"one paired seed, so no interval (S^Th - baseline {difference.mean:+.4g})"
    else:
        low, high = sorted((sign * difference.low, sign * difference.high))  # > 0: S^Th better
        span = f"S^Th - baseline {difference.mean:+.4g}, 95% interval [{difference.low:.4g}, {difference.high:.4g}]"
        if low > 0:
            verdict, reason = "holds", f"S^Th is {better}: {span}"
        elif high < 0:
            verdict, reason = "does not hold", f"the baseline is {better}: {span}"
        else:
            verdict, reason = "inconclusive", f"the interval contains 0 at n = {len(seeds)}: {span}"
    return Evidence(metric, higher_is_better, seeds, t_interval([baseline[s] for s in seeds]),
                    t_interval([sth[s] for s in seeds]), difference, "S^Th - baseline", t, p, PAIRED_TEST, verdict,
                    reason, unpaired)  # fmt: skip


def floor(metric: str, baseline: dict[int, float], sth: dict[int, float], minimum: float) -> Evidence:
    """The verdict on "S^Th / baseline stays at or above `minimum`" (clean accuracy R0/U0 >= 0.9) from per-seed
    values ({seed: value}), the ratio taken per paired seed."""
    seeds = sorted(set(baseline) & set(sth))
    if not seeds:
        raise ValueError(f"{metric}: no seed has both a baseline and an S^Th value")
    ratio = t_interval([sth[s] / baseline[s] for s in seeds])
    verdict: Verdict
    if ratio.low is None or ratio.high is None:
        verdict, reason = "inconclusive", f"one paired seed, so no interval (S^Th / baseline {ratio.mean:.4g})"
    else:
        span = f"S^Th / baseline {ratio.mean:.4g}, 95% interval [{ratio.low:.4g}, {ratio.high:.4g}]"
        if ratio.low >= minimum:
            verdict, reason = "holds", f"{span}, at or above {minimum:g}"
        elif ratio.high < minimum:
            verdict, reason = "does not hold", f"{span}, below {minimum:g}"
        else:
            verdict, reason = "inconclusive", f"{span} contains {minimum:g} at n = {len(seeds)}"
    return Evidence(metric, True, seeds, t_interval([baseline[s] for s in seeds]), t_interval([sth[s] for s in seeds]),
                    ratio, "S^Th / baseline", None, None, FLOOR_TEST, verdict, reason,
                    sorted(set(baseline) ^ set(sth)))  # fmt: skip
