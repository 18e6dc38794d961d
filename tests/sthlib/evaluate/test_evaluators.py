import math

import pytest
import torch

from sthlib.evalspecs import EVAL_SPECS
from sthlib.evaluate import EVALUATORS, evaluate, get_evaluator
from sthlib.evaluate.classifier import Classifier
from sthlib.evaluate.minimal import Boundary
from sthlib.evaluate.noise import gaussian_noise
from sthlib.evaluate.results import PerturbationReport, RobustnessCurve, result_from_dict
from sthlib.models import build_model

# A small table of parameters that keeps every evaluator fast on CPU.
FAST = {
    "gaussian": {"strengths": [0.0, 0.2, 0.4]},
    "uniform": {"strengths": [0.0, 0.3]},
    "salt_pepper": {"strengths": [0.0, 0.1], "clamp": "image"},
    "transfer_fgsm": {"strengths": [0.0, 0.1, 0.3]},
    "fgsm": {"strengths": [0.0, 0.1]},
    "pgd": {"strengths": [0.0, 0.1], "steps": 3},
    "boundary": {"steps": 10, "n_images": 60, "repeats": 2},
    "hopskipjump": {"steps": 1, "n_images": 30, "repeats": 1},
    "corruption": {"corruptions": ["gaussian_noise", "fog", "pixelate"], "severities": [1, 5]},
}


def make(name, source):
    params = {**FAST[name]}
    if name == "transfer_fgsm":
        return get_evaluator(name, source_model=source.classifier, **params)
    return get_evaluator(name, **params)


def test_every_spec_has_an_evaluator_and_back():
    assert set(EVALUATORS) == set(EVAL_SPECS) == set(FAST)


@pytest.mark.parametrize("name", sorted(FAST))
def test_every_evaluator_returns_a_well_formed_result(name, target, source, mnist_eval):
    x, y = mnist_eval
    results = make(name, source).run(target.classifier, x, y, "mnist-5k")
    assert results
    for result in results:
        again = result_from_dict(__import__("json").loads(result.to_json()))
        assert again == result or name in ("boundary", "hopskipjump")  # nan != nan in per-image lists
        assert result.to_csv().count("\n") >= 2
        if isinstance(result, RobustnessCurve):
            assert result.points[0].strength == 0 and all(0 <= p.accuracy <= 1 for p in result.points)
            assert all(p.n == len(x) for p in result.points)
        else:
            assert isinstance(result, PerturbationReport)
            repeats = result.params["repeats"]
            assert len(result.success) == len(result.start) == len(result.mse) == result.summary.repeats == repeats
            assert all(len(row) == result.n == len(x) for row in result.success)  # n_images: evaluate() subsets
            assert 0 <= result.summary.success_rate <= 1


@pytest.mark.parametrize("name", [n for n, s in EVAL_SPECS.items() if s.kind == "curve"])
def test_strength_zero_gives_exactly_the_clean_accuracy(name, target, source, mnist_eval):
    x, y = mnist_eval
    clean = int((target.classifier.predict(x) == y).sum()) / len(y)
    for result in make(name, source).run(target.classifier, x, y, "mnist-5k"):
        assert result.points[0].accuracy == clean
        assert result.points[0].accuracy_on_correct == 1.0


def test_gaussian_noise_has_the_requested_standard_deviation():
    g = torch.Generator().manual_seed(0)
    noise = gaussian_noise(torch.Size((64, 1, 28, 28)), 0.3, g, torch.device("cpu"))
    assert noise.std().item() == pytest.approx(0.3, rel=0.01)
    assert noise.mean().item() == pytest.approx(0.0, abs=0.005)


def test_noise_curves_are_reproducible_and_fall(target, mnist_eval):
    x, y = mnist_eval
    a = get_evaluator("gaussian", strengths=[0.0, 0.5, 1.0]).run(target.classifier, x, y, "mnist-5k")[0]
    b = get_evaluator("gaussian", strengths=[0.0, 0.5, 1.0]).run(target.classifier, x, y, "mnist-5k")[0]
    assert a == b
    assert a.accuracies[2] < a.accuracies[0]


def test_default_grids_follow_the_paper():
    assert EVAL_SPECS["gaussian"].default_strengths("mnist-5k")[-1] == 0.5
    assert EVAL_SPECS["salt_pepper"].default_strengths("fashion-mnist")[-1] == 0.3
    assert EVAL_SPECS["gaussian"].default_strengths("cifar10")[-1] == 0.1
    assert EVAL_SPECS["transfer_fgsm"].default_strengths("cifar100")[-1] == 0.005
    assert len(EVAL_SPECS["uniform"].default_strengths("mnist")) == 10


def test_boundary_adversarials_are_misclassified_and_valid_images(target, mnist_eval):
    x, _ = mnist_eval
    attack = Boundary(**FAST["boundary"])
    out = attack.run_once(target.classifier, x, seed=0, progress=None)
    ok = out["success"]
    assert ok.float().mean() > 0.9  # every image has a start from another class
    x_adv = out["x_adv"][ok]
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (target.classifier.predict(x_adv) != target.classifier.predict(x[ok])).all()
    assert torch.allclose(out["mse"][ok], (x_adv - x[ok]).square().flatten(1).mean(1))


def test_boundary_repeats_and_channel_zero_score(target, mnist_eval):
    x, y = mnist_eval
    report = get_evaluator("boundary", steps=5, n_images=40, repeats=2, score_channel="first").run(
        target.classifier, x[:40], y[:40], "mnist-5k"
    )[0]
    summary = report.summary
    assert len(summary.repeat_median_mse) == 2 and not math.isnan(summary.score_std)
    assert summary.score == pytest.approx(sum(summary.repeat_median_mse) / 2)
    assert report.spectrum is not None and 0 < report.spectrum["half_power_frequency"] <= 0.5


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("pixel_shuffle", {}, "unknown evaluator 'pixel_shuffle'; choose one of"),
        ("gaussian", {"strengths": [0.1, -0.2]}, r"gaussian\.strengths\.1: must be >= 0"),
        ("gaussian", {"sigma": 0.1}, r"gaussian\.sigma: unknown field; known: n_images, seed, strengths, clamp"),
        ("gaussian", {"clamp": "wrap"}, "gaussian.clamp: unknown value \"wrap\"; choose one of 'range' or 'image'"),
        ("gaussian", {"n_images": 2.5}, r"gaussian\.n_images: must be an integer, got 2\.5"),
        ("transfer_fgsm", {}, "transfer_fgsm.source: transfer_fgsm needs a source model"),
        ("boundary", {"steps": 0}, r"boundary\.steps: must be >= 1, got 0"),
        ("corruption", {"corruptions": ["rain"]}, 'corruption.corruptions.0: unknown value "rain"'),
        ("corruption", {"severities": [1, 1]}, "corruption.severities: severities must not repeat"),
    ],
)
def test_bad_evaluator_inputs_are_clear_errors(name, params, message):
    with pytest.raises(ValueError, match=message):
        get_evaluator(name, **params)


def test_a_source_model_of_another_task_is_refused(target, mnist_eval):
    x, y = mnist_eval
    other_classes = Classifier(build_model("small_cnn", 1, 7), "unit", 7, "seven-classes")
    with pytest.raises(ValueError, match="has 7 classes"):
        make_transfer(other_classes).run(target.classifier, x, y, "mnist-5k")
    rgb = Classifier(build_model("small_cnn", 3, 10), "unit", 10, "rgb")
    with pytest.raises(ValueError, match="3-channel images"):
        make_transfer(rgb).run(target.classifier, x, y, "mnist-5k")


def make_transfer(source_classifier):
    return get_evaluator("transfer_fgsm", source_model=source_classifier, strengths=[0.0, 0.1])


def test_evaluate_uses_the_models_task_and_colour(target):
    results = evaluate(target, get_evaluator("uniform", strengths=[0.0, 0.2], n_images=50))
    assert results[0].points[0].n == 50 and results[0].model == "reg"


@pytest.fixture(scope="module")
def cifar_model():
    """A small RGB CNN fitted to foolbox's 20 real CIFAR-10 samples (enough to predict several classes)."""
    from sthlib.data import foolbox_samples

    x_np, y_np = foolbox_samples("cifar10")
    x, y = torch.from_numpy(x_np).float() / 255, torch.from_numpy(y_np)
    torch.manual_seed(0)
    model = Classifier(build_model("small_cnn", 3, 10), "centered5", 10, "cifar-samples")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model, x, y


@pytest.mark.parametrize("name", ["gaussian", "salt_pepper", "fgsm", "boundary", "corruption"])
def test_evaluators_on_real_cifar10_samples(cifar_model, name):
    model, x, y = cifar_model
    assert len(set(model.predict(x).tolist())) > 2
    params = {"steps": 10, "repeats": 1} if name == "boundary" else FAST[name] if name == "corruption" else {}
    result = get_evaluator(name, **params).run(model, x, y, "cifar10")[0]
    if isinstance(result, RobustnessCurve):
        if name in ("gaussian", "fgsm"):
            assert result.strengths[-1] == pytest.approx(0.1 if name == "gaussian" else 0.02)  # CIFAR grids
        assert result.points[0].accuracy == int((model.predict(x) == y).sum()) / len(y)
    else:
        assert result.summary.success_rate > 0.5 and result.spectrum is not None


def test_a_checkpoint_that_does_not_fit_its_architecture_is_refused(tmp_path):
    from sthlib.checkpoint import CheckpointError, save_model
    from sthlib.evaluate import load_classifier

    path = tmp_path / "lying.safetensors"
    save_model(path, build_model("small_cnn", 1, 10), "resnet18", 10, spec=None)
    with pytest.raises(CheckpointError, match="do not fit the architecture"):
        load_classifier(path)
