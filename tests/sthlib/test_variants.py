"""The variant registry (sthlib.variants) and the shared pre-flight pair check (sthlib.preflight)."""

import subprocess
import sys
import typing
from typing import get_args

import numpy as np
import pytest
import torch

from sthlib import pairs, preflight, similarity, simstats
from sthlib.pairs import PairSampler, PairScan
from sthlib.validation import SpecError
from sthlib.variants import REGISTRY, VARIANTS, Variant, pair_selected, pair_targets, validate_selection

TH_LOW = {"double": 0.1}


def test_the_registry_is_the_one_list_of_variants():
    from sthlib import specs

    assert VARIANTS == ("all", "high", "low", "positive", "negative", "double", "continuous") == get_args(Variant)
    assert typing.get_args(typing.get_type_hints(specs.RegSpec, include_extras=True)["variant"])[0] == Variant
    assert similarity.VARIANTS is VARIANTS and similarity.Variant is Variant
    assert simstats.pair_selected is similarity.pair_selected is pair_selected
    assert simstats.pair_targets is similarity.pair_targets is pair_targets
    assert similarity.validate_selection is validate_selection
    assert [name for name, rule in REGISTRY.items() if not rule.filters] == ["all", "continuous"]
    assert [name for name, rule in REGISTRY.items() if rule.needs_low] == ["double"]
    for name, rule in REGISTRY.items():
        assert rule.name == name and rule.description and "\n" not in rule.description


def test_the_registry_and_the_check_do_not_import_torch():
    code = "import sys, sthlib.variants, sthlib.preflight; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("args", "field", "text"),
    [
        ((1.0, "all"), "reg.threshold", "reg.threshold: threshold must be in (0, 1), got 1.0"),
        ((float("nan"), "high"), "reg.threshold", "reg.threshold: threshold must be in (0, 1), got nan"),
        ((0.5, "sideways"), "reg.variant",
         "reg.variant: unknown variant 'sideways'; choose one of all, high, low, positive, negative, double, "
         "continuous"),
        ((0.5, "double"), "reg.threshold_low",
         "reg.threshold_low: variant 'double' needs threshold_low (pairs with |S| < threshold_low get target 0)"),
        ((0.5, "double", 0.5), "reg.threshold_low",
         "reg.threshold_low: threshold_low must be in (0, threshold=0.5), got 0.5; lower it or raise threshold"),
        ((0.5, "high", 0.1), "reg.threshold_low",
         "reg.threshold_low: threshold_low is only used by variant 'double', not 'high'; leave it unset"),
    ],
)  # fmt: skip
def test_a_selection_that_cannot_work_names_its_field(args, field, text):
    with pytest.raises(SpecError) as caught:
        validate_selection(*args)
    assert isinstance(caught.value, ValueError) and caught.value.field == field and str(caught.value) == text


def test_the_rules_refuse_what_they_cannot_apply():
    s = np.array([0.1, 0.9])
    with pytest.raises(SpecError, match=r"reg\.variant: unknown variant 'sideways'"):
        pair_selected(s, 0.5, "sideways")
    with pytest.raises(SpecError, match=r"reg\.threshold_low: variant 'double' needs threshold_low"):
        pair_selected(s, 0.5, "double")


def test_a_continuous_target_is_a_copy_of_s():
    for s in (np.array([0.1, -0.9], np.float32), torch.tensor([0.1, -0.9])):
        t = pair_targets(s, 0.5, "continuous")
        assert type(t) is type(s) and (t == s).all() and t is not s
        t[0] = 7
        assert s[0] == np.float32(0.1)


@pytest.fixture(scope="module")
def r_small(mnist5k_train):
    return similarity.unit_vectors(mnist5k_train[0][:80])


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_numpy_count_is_the_torch_scans(r_small, variant):
    low = TH_LOW.get(variant)
    scan = PairScan.of(r_small, 0.3, variant, low)
    assert simstats.count_selected(r_small.numpy(), 0.3, variant, low) == scan.count
    assert simstats.count_selected(r_small, 0.3, variant, low) == scan.count  # a CPU tensor works too
    assert (scan.explicit is None) == (not REGISTRY[variant].filters or scan.count == 0)


CHECK = {"dataset": "mnist-5k", "n_images": 80, "threshold": 0.3, "variant": "high", "threshold_low": None,
         "pairs_per_step": 16, "available": 4000}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"n_images": 4001}, "reg.n_images",
         "reg.n_images: 4001 exceeds the 4000 training images of 'mnist-5k'; lower it to at most 4000"),
        ({"selected": 0}, "reg.threshold",
         "reg.threshold: variant 'high' at threshold 0.3 selects none of the 3160 pairs of the first 80 images of "
         "'mnist-5k'; change reg.threshold or reg.variant; GET /v1/datasets/mnist-5k/similarity (or `sth similarity "
         "mnist-5k`) shows what each threshold selects"),
        ({"selected": 15}, "reg.pairs_per_step",
         "reg.pairs_per_step: 16 pairs per step exceeds the 15 pairs that variant 'high' at threshold 0.3 selects "
         "among the first 80 images of 'mnist-5k'; lower reg.pairs_per_step or select more pairs (another threshold "
         "or variant, more reg.n_images)"),
        ({"selected": 3, "variant": "double", "threshold_low": 0.01}, "reg.pairs_per_step",
         "reg.pairs_per_step: 16 pairs per step exceeds the 3 pairs that variant 'double' at threshold 0.3 "
         "(threshold_low 0.01) selects among the first 80 images of 'mnist-5k'; lower reg.pairs_per_step or select "
         "more pairs (another threshold or variant, more reg.n_images)"),
        ({"pairs_per_step": 0}, "reg.pairs_per_step", "reg.pairs_per_step: pairs_per_step must be at least 1, got 0"),
        ({"n_images": 4, "variant": "all"}, "reg.pairs_per_step",  # every pair, counted without a scan
         "reg.pairs_per_step: 16 pairs per step exceeds the 6 pairs that variant 'all' at threshold 0.3 selects "
         "among the first 4 images of 'mnist-5k'; lower reg.pairs_per_step or select more pairs (another threshold "
         "or variant, more reg.n_images)"),
        ({"threshold": 1.5}, "reg.threshold", "reg.threshold: threshold must be in (0, 1), got 1.5"),
    ],
)  # fmt: skip
def test_the_pre_flight_check_says_what_to_change(changes, field, text):
    with pytest.raises(SpecError) as caught:
        preflight.check_pairs(**{**CHECK, **changes})
    assert caught.value.field == field and str(caught.value) == text


def test_the_pre_flight_check_counts_from_r_or_trusts_a_count(r_small):
    preflight.check_pairs(**CHECK)  # no count, no r: a filtering variant's count is not checked
    preflight.check_pairs(**CHECK, selected=16)
    selected = PairScan.of(r_small, 0.3, "high").count
    with pytest.raises(SpecError, match=f"exceeds the {selected} pairs") as caught:
        preflight.check_pairs(**{**CHECK, "pairs_per_step": selected + 1}, r=r_small.numpy())
    assert caught.value.field == "reg.pairs_per_step"
    with pytest.raises(SpecError, match="selects none of the 3160 pairs"):
        preflight.check_pairs(**{**CHECK, "threshold": 0.999}, r=r_small.numpy())


def test_the_samplers_errors_are_the_checks(r_small):
    with pytest.raises(SpecError) as caught:
        PairSampler(r_small, 0.999, "high")
    assert caught.value.field == "reg.threshold" and "selects none of the 3160 pairs of 80 images;" in str(caught.value)
    sampler = PairSampler(r_small, 0.9, "high")
    with pytest.raises(SpecError, match=f"{sampler.selected_count + 1} pairs per step exceeds the") as caught:
        sampler.check_k(sampler.selected_count + 1)
    assert caught.value.field == "reg.pairs_per_step"
    with pytest.raises(ValueError, match=r"pair scan is of 80 images, 'high' at threshold 0\.9"):
        PairSampler(r_small, 0.8, "high", scan=sampler.scan)


@pytest.mark.parametrize("explicit_limit", [1 << 22, 0], ids=["explicit", "stream"])
@pytest.mark.parametrize("variant", ["positive", "all"])
def test_a_fork_reuses_the_scan_and_draws_what_a_fresh_sampler_draws(r_small, monkeypatch, explicit_limit, variant):
    scans = []
    real = pairs.scan_selected
    monkeypatch.setattr(pairs, "scan_selected", lambda *a, **k: scans.append(a[1:3]) or real(*a, **k))
    first = PairSampler(r_small, 0.3, variant, seed=0, explicit_limit=explicit_limit)
    first.sample(50)  # the fork starts its own stream, wherever the first one is
    forked = first.fork(7)
    assert len(scans) == (1 if variant == "positive" else 0)  # "all" needs no scan at all
    assert forked.scan is first.scan and forked.seed == 7 and (forked.pass_index, forked.cursor) == (0, 0)
    fresh = PairSampler(r_small, 0.3, variant, seed=7, explicit_limit=explicit_limit)
    assert len(scans) == (2 if variant == "positive" else 0)
    assert forked.selected_count == fresh.selected_count and forked.pass_length == fresh.pass_length
    for k in (100, fresh.selected_count):  # past the end of a pass: the restart is the same too
        a, b = forked.sample(k), fresh.sample(k)
        assert torch.equal(a.i, b.i) and torch.equal(a.j, b.j) and torch.equal(a.targets, b.targets)
    assert forked.state_dict() == fresh.state_dict()


def test_fixed_evaluation_pairs_do_not_rescan(monkeypatch):
    from sthlib.specs import preset
    from sthlib.train.data import RegData

    scans = []
    real = pairs.scan_selected
    monkeypatch.setattr(pairs, "scan_selected", lambda *a, **k: scans.append(a[1:3]) or real(*a, **k))
    spec = preset("smoke", **{"reg.n_images": 200, "reg.variant": "positive", "reg.threshold": 0.3}).validate()
    reg = RegData.load(spec, torch.device("cpu"))
    assert scans == [(0.3, "positive")]
    fixed = reg.fixed_pairs(64, seed=11)
    assert scans == [(0.3, "positive")]  # the training sampler's scan, reused
    expected = PairSampler(reg.sampler.r, 0.3, "positive", seed=11).sample(64)
    assert torch.equal(fixed.i, expected.i) and torch.equal(fixed.j, expected.j)
    assert torch.equal(reg.fixed_pairs(64, seed=11).i, fixed.i)  # the same every epoch
