"""Verdicts of a reproduction report on hand-built per-seed results, checked against scipy."""

import numpy as np
import pytest
from scipy import stats

from sthlib.reproduce.verdict import compare, floor, paired_t

BASELINE = {0: 0.11, 1: 0.12, 2: 0.10}


def test_a_clear_gain_holds_with_the_paired_interval_and_test_of_scipy():
    sth = {0: 0.41, 1: 0.53, 2: 0.37}
    evidence = compare("gaussian AUC", BASELINE, sth)
    assert evidence.verdict == "holds" and evidence.seeds == [0, 1, 2] and evidence.unpaired == []
    d = np.array([sth[s] - BASELINE[s] for s in (0, 1, 2)])
    low, high = stats.t.interval(0.95, 2, loc=d.mean(), scale=stats.sem(d))
    assert (evidence.effect.mean, evidence.effect.low, evidence.effect.high) == pytest.approx((d.mean(), low, high))
    scipy_test = stats.ttest_rel(list(sth.values()), list(BASELINE.values()))
    assert (evidence.t, evidence.p_value) == pytest.approx((scipy_test.statistic, scipy_test.pvalue))
    assert evidence.sth.mean == pytest.approx(np.mean(list(sth.values()))) and "S^Th is higher" in evidence.reason


def test_a_clear_loss_does_not_hold_and_lower_is_better_flips_the_sign():
    worse = {0: 0.05, 1: 0.06, 2: 0.04}
    assert compare("gaussian AUC", BASELINE, worse).verdict == "does not hold"
    assert compare("error rate", BASELINE, worse, higher_is_better=False).verdict == "holds"
    assert compare("error rate", worse, BASELINE, higher_is_better=False).verdict == "does not hold"


def test_an_overlap_is_inconclusive_and_so_is_one_seed():
    mixed = {0: 0.15, 1: 0.09, 2: 0.13}
    evidence = compare("gaussian AUC", BASELINE, mixed)
    assert evidence.verdict == "inconclusive" and "contains 0 at n = 3" in evidence.reason
    assert evidence.effect.low < 0 < evidence.effect.high and evidence.p_value > 0.05
    one = compare("gaussian AUC", {0: 0.1, 5: 0.2}, {0: 0.9})
    assert one.verdict == "inconclusive" and one.p_value is None and one.unpaired == [5]
    with pytest.raises(ValueError, match="no seed has both"):
        compare("gaussian AUC", {0: 0.1}, {1: 0.2})


def test_the_interval_excludes_zero_exactly_when_the_test_rejects():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 8))
        base = rng.normal(0.5, 0.05, n)
        sth = base + rng.normal(rng.normal(0, 0.03), 0.03, n)
        evidence = compare("m", dict(enumerate(base)), dict(enumerate(sth)))
        assert (evidence.verdict != "inconclusive") == (evidence.p_value < 0.05)
        assert evidence.p_value == pytest.approx(stats.ttest_rel(sth, base).pvalue)


def test_identical_differences_are_decisive_without_dividing_by_zero():
    assert paired_t([0.1, 0.1, 0.1]) == (float("inf"), 0.0) and paired_t([0.0, 0.0]) == (0.0, 1.0)
    assert compare("m", {0: 0.5, 1: 0.6}, {0: 0.6, 1: 0.7}).verdict == "holds"


def test_the_clean_accuracy_floor_uses_per_seed_ratios():
    u0 = {0: 0.94, 1: 0.95, 2: 0.93}
    kept = floor("clean accuracy R0/U0", u0, {0: 0.90, 1: 0.91, 2: 0.89}, 0.9)
    ratios = [0.90 / 0.94, 0.91 / 0.95, 0.89 / 0.93]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(ratios), scale=stats.sem(ratios))
    assert kept.verdict == "holds" and (kept.effect.low, kept.effect.high) == pytest.approx((low, high))
    assert floor("R0/U0", u0, {0: 0.70, 1: 0.72, 2: 0.69}, 0.9).verdict == "does not hold"
    straddle = floor("R0/U0", u0, {0: 0.80, 1: 0.92, 2: 0.86}, 0.9)
    assert straddle.verdict == "inconclusive" and "contains 0.9 at n = 3" in straddle.reason
    assert floor("R0/U0", {0: 0.9}, {0: 0.9}, 0.9).verdict == "inconclusive"
