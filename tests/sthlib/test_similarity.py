import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare
from torch import Tensor

from sthlib import simstats
from sthlib.pairs import PairSampler
from sthlib.similarity import (
    VARIANTS,
    pair_index_to_ij,
    pair_selected,
    pair_targets,
    pixel_similarity,
    similarity_summary,
    threshold_targets,
    unit_vectors,
)

TH_LOW = {"double": 0.1}


def numpy_similarity(images: np.ndarray) -> np.ndarray:
    x = images.astype(np.float64).mean(axis=1).reshape(len(images), -1) / 255
    x -= x.mean(axis=0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T


def numpy_rule(S: np.ndarray, th: float, variant: str, th_low: float | None):
    """An independent transcription of PAPER.md section 1's table."""
    T = np.where(th < S, 1.0, np.where(-th > S, -1.0, 0.0))
    if variant == "continuous":
        T = S.copy()
    a = np.abs(S)
    sel = {
        "all": np.ones_like(S, bool), "continuous": np.ones_like(S, bool), "high": a > th, "low": a < th,
        "positive": (th < S) | (a < th), "negative": (-th > S) | (a < th),
        "double": (a > th) | (a < (th_low or 0)),
    }[variant]  # fmt: skip
    return T, sel & np.triu(np.ones_like(S, bool), 1)


def test_pixel_similarity_matches_numpy(mnist5k_train):
    images = mnist5k_train[0][:300]
    S = pixel_similarity(images, dtype=torch.float64).numpy()
    assert np.allclose(S, numpy_similarity(images), atol=1e-12)
    assert np.allclose(np.diag(S), 1.0)


def test_colour_images_are_averaged_over_channels():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (20, 3, 8, 8), dtype=np.uint8)
    mean = rgb.astype(np.float64).mean(axis=1, keepdims=True)
    assert torch.allclose(pixel_similarity(rgb, torch.float64), pixel_similarity(mean / 255, torch.float64))


@pytest.mark.parametrize("variant", VARIANTS)
def test_threshold_targets_equal_numpy_on_real_data(mnist5k_train, variant):
    S = numpy_similarity(mnist5k_train[0][:400])
    T, sel = threshold_targets(torch.from_numpy(S), 0.3, variant, TH_LOW.get(variant))
    T_np, sel_np = numpy_rule(S, 0.3, variant, TH_LOW.get(variant))
    assert (T.numpy() == T_np).all() and (sel.numpy() == sel_np).all()
    assert not sel.diagonal().any() and not sel.tril().any()


@pytest.mark.parametrize("variant", VARIANTS)
def test_values_exactly_at_plus_minus_threshold(variant):
    th, low = 0.5, TH_LOW.get(variant)
    values = [-1.0, -0.7, -th, -0.3, -0.1, 0.0, 0.1, 0.3, th, 0.7, 1.0]
    S = np.zeros((len(values) + 1, len(values) + 1))
    S[0, 1:] = values
    S = S + S.T
    T, sel = threshold_targets(torch.from_numpy(S), th, variant, low)
    T_np, sel_np = numpy_rule(S, th, variant, low)
    assert (T.numpy() == T_np).all() and (sel.numpy() == sel_np).all()
    at_th = [values.index(th) + 1, values.index(-th) + 1]
    if variant != "continuous":
        assert (T[0, at_th] == 0).all()  # S = +-Th is not beyond the threshold
    if variant in ("high", "low", "positive", "negative"):
        assert not sel[0, at_th].any()  # and neither |S| > Th nor |S| < Th


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.0}, "threshold must be in"),
        ({"threshold": 0.0}, "threshold must be in"),
        ({"threshold": 0.5, "variant": "double", "threshold_low": 0.5}, "threshold_low must be in"),
        ({"threshold": 0.5, "variant": "double"}, "needs threshold_low"),
        ({"threshold": 0.5, "variant": "sideways"}, "unknown variant"),
        ({"threshold": 0.5, "variant": "high", "threshold_low": 0.1}, "only used by variant 'double'"),
    ],
)
def test_bad_selection_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        threshold_targets(torch.eye(3), **kwargs)


def test_pair_index_to_ij_covers_the_upper_triangle():
    for n in (2, 3, 17, 1000):
        t = torch.arange(n * (n - 1) // 2)
        i, j = pair_index_to_ij(t, n)
        ti, tj = torch.triu_indices(n, n, 1)
        assert (i == ti).all() and (j == tj).all()


def _sampler_modes():
    return [pytest.param({"explicit_limit": 1 << 22}, id="explicit"), pytest.param({"explicit_limit": 0}, id="stream")]


@pytest.fixture(scope="module")
def r_small(mnist5k_train):
    return unit_vectors(mnist5k_train[0][:60])


@pytest.mark.parametrize("mode", _sampler_modes())
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_pass_draws_every_selected_pair_once_with_dense_targets(r_small, variant, mode):
    S = r_small @ r_small.T
    T, sel = threshold_targets(S, 0.3, variant, TH_LOW.get(variant))
    sampler = PairSampler(r_small, 0.3, variant, TH_LOW.get(variant), seed=5, **mode)
    assert sampler.selected_count == int(sel.sum())
    batch = sampler.sample(sampler.selected_count)
    assert sel[batch.i, batch.j].all()
    assert len(set(zip(batch.i.tolist(), batch.j.tolist(), strict=True))) == sampler.selected_count
    assert torch.allclose(batch.targets, T[batch.i, batch.j], atol=1e-6)
    if variant != "continuous":
        assert (batch.targets == T[batch.i, batch.j]).all()


@pytest.mark.parametrize("mode", _sampler_modes())
def test_pairs_are_uniform_over_the_selected_set(r_small, mode):
    S = r_small @ r_small.T
    _, sel = threshold_targets(S, 0.3, "high")
    index = {pair: k for k, pair in enumerate(zip(*sel.nonzero(as_tuple=True), strict=True))}
    index = {(int(a), int(b)): k for (a, b), k in index.items()}
    sampler = PairSampler(r_small, 0.3, "high", seed=11, **mode)
    counts = np.zeros(len(index))
    draws_per_pass, passes = 3, 6000 // 3 * max(1, len(index) // 100)
    for p in range(passes):  # the first draws of many passes: tests the shuffle itself
        sampler.pass_index, sampler.cursor = p, 0
        batch = sampler.sample(draws_per_pass)
        for a, b in zip(batch.i.tolist(), batch.j.tolist(), strict=True):
            counts[index[(a, b)]] += 1
    assert chisquare(counts).pvalue > 1e-3


def test_sampler_resumes_exactly(r_small):
    a = PairSampler(r_small, 0.3, "positive", seed=3, explicit_limit=0)
    a.sample(100)
    state = a.state_dict()
    expected = a.sample(500)
    b = PairSampler(r_small, 0.3, "positive", seed=3, explicit_limit=0)
    b.load_state_dict(state)
    got = b.sample(500)
    assert (got.i == expected.i).all() and (got.j == expected.j).all()
    with pytest.raises(ValueError, match="seed"):
        PairSampler(r_small, 0.3, "positive", seed=4).load_state_dict(state)


@pytest.mark.parametrize("mode", _sampler_modes())
@pytest.mark.parametrize("variant", ["all", "high"])
def test_an_epoch_drawn_at_once_is_the_steps_drawn_one_by_one(r_small, variant, mode):
    """sample_steps(k, n) (the trainer's draw ahead of an epoch) = n calls of sample(k), across pass ends, and it
    leaves the sampler where they would: the stream and a resumed run do not depend on how pairs are drawn."""
    one_by_one = PairSampler(r_small, 0.3, variant, seed=7, **mode)
    at_once = PairSampler(r_small, 0.3, variant, seed=7, **mode)
    k, steps = 13, 3 * at_once.selected_count // 13 + 2  # three passes and a bit
    batches = [one_by_one.sample(k) for _ in range(steps)]
    drawn = at_once.sample_steps(k, steps)
    for name in ("i", "j", "targets"):
        assert torch.equal(getattr(drawn, name), torch.cat([getattr(b, name) for b in batches])), name
    assert at_once.state_dict() == one_by_one.state_dict()
    with pytest.raises(ValueError, match="pairs per step"):
        at_once.sample_steps(at_once.selected_count + 1, 1)


def test_k_larger_than_selected_pairs_is_an_error(r_small):
    sampler = PairSampler(r_small, 0.9, "high")
    with pytest.raises(ValueError, match=r"exceeds the .* pairs"):
        sampler.check_k(sampler.selected_count + 1)


def test_selecting_nothing_is_an_error(r_small):
    with pytest.raises(ValueError, match="selects none"):
        PairSampler(r_small, 0.999, "high")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), k=st.integers(1, 64), th=st.floats(0.05, 0.6))
def test_a_drawn_pairs_target_equals_the_dense_entry(r_small, seed, k, th):
    S = r_small @ r_small.T
    T, sel = threshold_targets(S, th, "negative")
    batch = PairSampler(r_small, th, "negative", seed=seed).sample(min(k, int(sel.sum())))
    assert sel[batch.i, batch.j].all() and (batch.targets == T[batch.i, batch.j]).all()


def test_summary_matches_the_dense_selection(mnist5k_train):
    r = unit_vectors(mnist5k_train[0][:200])
    summary = similarity_summary(r, 0.3, threshold_low=0.1)
    S = r @ r.T
    for variant in VARIANTS:
        _, sel = threshold_targets(S, 0.3, variant, TH_LOW.get(variant))
        assert summary.selected_fraction[variant] == pytest.approx(float(sel.sum()) / summary.pairs)
    assert sum(summary.counts) == summary.pairs and summary.exact
    sampled = similarity_summary(r, 0.3, max_exact_pairs=10, samples=200_000)
    assert not sampled.exact
    assert sampled.selected_fraction["high"] == pytest.approx(summary.selected_fraction["high"], abs=0.01)


@pytest.mark.parametrize("variant", VARIANTS)
def test_pair_rules_agree_on_numpy_arrays_and_torch_tensors(mnist5k_train, variant):
    S = numpy_similarity(mnist5k_train[0][:150]).astype(np.float32)
    T_np, sel_np = pair_targets(S, 0.3, variant), pair_selected(S, 0.3, variant, TH_LOW.get(variant))
    T_t, sel_t = pair_targets(torch.from_numpy(S), 0.3, variant), pair_selected(torch.from_numpy(S), 0.3, variant,
                                                                                  TH_LOW.get(variant))  # fmt: skip
    assert isinstance(T_np, np.ndarray) and T_np.dtype == np.float32 and isinstance(T_t, Tensor)
    assert (T_t.numpy() == T_np).all() and (sel_t.numpy() == sel_np).all()
    T_ref, sel_ref = numpy_rule(S, 0.3, variant, TH_LOW.get(variant))
    upper = np.triu(np.ones_like(S, bool), 1)
    assert (T_np == T_ref).all() and ((sel_np & upper) == sel_ref).all()


def test_summary_refuses_what_it_cannot_summarise(mnist5k_train):
    images = mnist5k_train[0]
    with pytest.raises(ValueError, match="at least 2 images"):
        similarity_summary(simstats.unit_vectors(images[:1]), 0.5)
    with pytest.raises(ValueError, match="threshold"):
        similarity_summary(simstats.unit_vectors(images[:5]), 1.5)
    with pytest.raises(ValueError, match="bins"):
        similarity_summary(simstats.unit_vectors(images[:5]), 0.5, bins=0)
