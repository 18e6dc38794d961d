"""The minimal-perturbation attacks: where they start, that the start is honest, and what the headline score is."""

import json
import math
import statistics
import warnings

import foolbox as fb
import numpy as np
import pytest
import torch

from sthlib.evaluate import get_evaluator
from sthlib.evaluate.minimal import Boundary, boundary_search, nearest_other_class, perturbation_scores
from sthlib.evaluate.results import PerturbationReport, PerturbationSummary, RepeatSummary


def test_binary_search_never_moves_away_and_stays_adversarial(target, mnist_eval):
    x, _ = mnist_eval
    model = target.classifier
    predictions = model.predict(x)
    pool = x[nearest_other_class(x, predictions, x, predictions)]
    found = boundary_search(model, x, pool, predictions)
    before = (pool - x).flatten(1).norm(dim=1)
    after = (found - x).flatten(1).norm(dim=1)
    assert (after <= before).all()
    assert (model.predict(found) != predictions).all()
    assert found.min() >= 0 and found.max() <= 1
    assert after.median() < 0.8 * before.median()  # it does move towards the boundary


def test_nearest_starts_every_image_and_the_attack_only_gets_closer(target, mnist_eval):
    x, y = mnist_eval
    model = target.classifier
    report = get_evaluator("boundary", steps=20, start="nearest", repeats=1).run(model, x, y, "mnist-5k")[0]
    assert report.start == [["nearest"] * len(x)] and all(report.success[0])
    assert report.summary.start_rate == 1 and report.summary.success_rate == 1
    predictions = model.predict(x)
    start = boundary_search(model, x, x[nearest_other_class(x, predictions, x, predictions)], predictions)
    start_mse = perturbation_scores(x, start, "all")["mse"].numpy()
    assert (np.array(report.mse[0]) <= start_mse * (1 + 1e-5)).all()


def test_best_start_takes_the_closer_of_the_searched_image_and_noise(target, mnist_eval):
    x, _ = mnist_eval
    model = target.classifier
    predictions = model.predict(x)
    pool = x[nearest_other_class(x, predictions, x, predictions)]
    torch.manual_seed(0)
    noise = Boundary().noise_starts(fb.PyTorchModel(model.eval(), bounds=(0, 1)), x, predictions)
    chosen, from_pool = Boundary.closer(model, x, predictions, pool, torch.ones(len(x), dtype=torch.bool), noise)
    noise_ok = model.predict(noise) != predictions

    def searched(candidates, where):
        out = torch.full((len(x),), math.inf)
        found = boundary_search(model, x[where], candidates[where], predictions[where])
        out[where] = (found - x[where]).flatten(1).norm(dim=1)
        return out

    everywhere = torch.ones(len(x), dtype=torch.bool)
    best = torch.minimum(searched(pool, everywhere), searched(noise, noise_ok))
    assert torch.allclose(searched(chosen, everywhere), best)
    assert from_pool[~noise_ok].all()  # where noise fails, the image still starts
    report = get_evaluator("boundary", steps=5, repeats=1).run(model, x, x.new_zeros(len(x)).long(), "mnist-5k")[0]
    assert report.params["start"] == "best" and set(report.start[0]) <= {"nearest", "noise"}
    assert report.summary.start_rate == 1


def _direct_reference(model, x, steps):
    """The paper's code: one image at a time, foolbox's defaults, images whose start fails are dropped."""
    fmodel = fb.PyTorchModel(model.eval(), bounds=(0, 1))
    predictions = model.predict(x)
    mse = np.full(len(x), np.nan)
    for i in range(len(x)):
        torch.manual_seed(i)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, adv, success = fb.attacks.BoundaryAttack(steps=steps)(fmodel, x[i : i + 1], predictions[i : i + 1],
                                                                         epsilons=None)  # fmt: skip
        except ValueError:  # "init_attack failed": the reference catches it and moves on
            continue
        if bool(success.all()):
            mse[i] = float((adv - x[i : i + 1]).square().mean())
    return mse


def test_reference_start_matches_the_papers_code_run_directly(target, mnist_eval):
    x, y = mnist_eval
    x = x[:60]
    direct = _direct_reference(target.classifier, x, steps=20)
    ours = [get_evaluator("boundary", steps=20, start="reference", repeats=1, seed=seed).run(
        target.classifier, x, y[:60], "mnist-5k")[0] for seed in (0, 1)]  # fmt: skip
    for report in ours:
        assert report.success[0] == (~np.isnan(direct)).tolist()  # the same images start (and succeed)
        assert [s == "noise" for s in report.start[0]] == report.success[0]
    ours_median = [r.summary.score for r in ours]
    noise = abs(ours_median[0] - ours_median[1])
    assert abs(np.nanmedian(direct) - statistics.fmean(ours_median)) <= max(3 * noise, 0.1 * np.nanmedian(direct))


def test_the_headline_is_the_mean_of_the_repeats_medians():
    def repeat(median, success_rate, started):
        return RepeatSummary(seed=0, success_rate=success_rate, started=started, started_nearest=started,
                             median_mse=median, median_l2=2 * median, median_linf=median / 2)  # fmt: skip

    summary = PerturbationSummary.of(
        [repeat(0.01, 1.0, 10), repeat(0.02, 0.8, 9), repeat(math.nan, 0.0, 0), repeat(0.03, 0.9, 10)], n=10
    )
    assert summary.score == pytest.approx(0.02)  # mean of 0.01, 0.02, 0.03: the repeat without successes is out
    assert summary.score_std == pytest.approx(0.01)  # sample std (n - 1)
    assert summary.repeats == 3 and summary.repeat_median_mse[2] != summary.repeat_median_mse[2]
    assert summary.success_rate == pytest.approx(0.675) and summary.start_rate == pytest.approx(0.725)
    assert summary.median_l2 == pytest.approx(0.04)
    one = PerturbationSummary.of([repeat(0.01, 1.0, 10)], n=10)
    assert one.score == 0.01 and math.isnan(one.score_std)


def test_a_report_round_trips_through_json_with_nulls(target, mnist_eval):
    x, y = mnist_eval
    report = get_evaluator("boundary", steps=5, repeats=2, start="reference").run(target.classifier, x[:30], y[:30],
                                                                                   "mnist-5k")[0]  # fmt: skip
    data = json.loads(json.dumps(report.to_dict()).replace("NaN", "null"))  # what the worker stores
    again = PerturbationReport.from_dict(data)
    assert again.summary.score == report.summary.score and again.start == report.start
    assert np.array_equal(np.array(again.mse), np.array(report.mse), equal_nan=True)
    rows = report.to_csv().splitlines()
    assert rows[0] == "model,evaluator,repeat,index,start,success,l2,linf,mse" and len(rows) == 1 + 2 * 30
    with pytest.raises(ValueError, match="evaluate again"):
        PerturbationSummary.from_dict({"success_rate": 1.0, "median_mse": 0.1, "median_l2": 1, "median_linf": 1})


def _bench_minimal():
    """bench/bench_minimal.py, imported as a module (bench/ is not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "bench" / "bench_minimal.py"
    spec = importlib.util.spec_from_file_location("bench_minimal", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_convergence_check_flags_a_model_whose_score_still_moves(monkeypatch, target, mnist_eval):
    """That the default boundary steps are converged is measured by `bench/bench_minimal.py --check` (both quick
    models, 20 images, 6400 vs 25600 steps: ~17 minutes on this CPU, too long for the suite; its table is in
    bench/README.md). Here: its rule, on made-up medians, and one real run of it on a tiny budget."""
    bench = _bench_minimal()
    medians = {("a", 100): 0.010, ("a", 400): 0.0092, ("b", 100): 0.010, ("b", 400): 0.0080}
    real_cell = bench.cell
    monkeypatch.setattr(bench, "cell", lambda model, attack, start, steps, x, y: {"median_mse": medians[model, steps]})
    failures = bench.check_converged({"a": "a", "b": "b"}, None, None, steps=100)
    assert len(failures) == 1 and failures[0].startswith("b: 4x the steps moved the median ||d||^2/D by -20.0%")
    monkeypatch.setattr(bench, "cell", real_cell)
    x, y = mnist_eval
    assert bench.check_converged({"target": target.classifier}, x[:4], y[:4], steps=2, tolerance=math.inf) == []
