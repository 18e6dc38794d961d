"""Every valid spec round-trips through its JSON (same object, same hash) and through validation; the typed
job specs read back what the API stores, and refuse what it must not queue, naming the field."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sthlib.evalspecs import CORRUPTION_NAMES, EVAL_SPECS, SWEEP_SOURCE, SourceRef
from sthlib.jobkinds import read_spec
from sthlib.jobspecs import EvalJobSpec, EvaluatorCall, SweepSpec, build_sweep
from sthlib.specs import ARCHITECTURE_NAMES, AUGMENTS, INPUT_SCALES, LOSS_NAMES, REG_AUGMENTS, TrainSpec
from sthlib.validation import SEED_MAX, SpecError
from sthlib.variants import VARIANTS

DATASETS = ["mnist-5k", "fashion-mnist", "mnist", "cifar10", "cifar100"]  # dataset_info needs no files
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
seeds = st.integers(0, SEED_MAX - 1)


@st.composite
def reg_specs(draw):
    variant = draw(st.sampled_from(VARIANTS))
    threshold = draw(st.floats(min_value=0.01, max_value=0.99))
    low = draw(st.floats(min_value=0.001, max_value=threshold * 0.99)) if variant == "double" else None
    return {"alpha": draw(st.floats(min_value=0.0, max_value=1e4)), "variant": variant, "threshold": threshold,
            "threshold_low": low, "dataset": draw(st.none() | st.sampled_from(DATASETS)),
            "n_images": draw(st.integers(2, 1_000_000)), "pairs_per_step": draw(st.integers(1, 4096)),
            "loss": draw(st.sampled_from(LOSS_NAMES)), "eps": draw(st.floats(min_value=1e-9, max_value=0.099)),
            "fused": draw(st.booleans()), "augment": draw(st.sampled_from(REG_AUGMENTS))}  # fmt: skip


@st.composite
def train_specs(draw):
    data = {"dataset": draw(st.sampled_from(DATASETS)), "arch": draw(st.sampled_from(ARCHITECTURE_NAMES)),
            "color": draw(st.sampled_from(["gray", "rgb"])), "epochs": draw(st.integers(1, 1000)),
            "batch_size": draw(st.integers(1, 8192)), "lr": draw(st.floats(min_value=1e-8, max_value=10.0)),
            "momentum": draw(st.floats(min_value=0.0, max_value=0.999)), "weight_decay": draw(unit),
            "lr_cycle": draw(st.integers(1, 1000)), "lr_step": draw(st.integers(1, 1000)),
            "lr_gamma": draw(st.floats(min_value=1e-6, max_value=1.0)),
            "valid_fraction": draw(st.floats(min_value=1e-4, max_value=0.49)),
            "train_limit": draw(st.none() | st.integers(1, 10**8)),
            "test_limit": draw(st.none() | st.integers(1, 10**8)),
            "input_scale": draw(st.sampled_from(INPUT_SCALES)), "augment": draw(st.sampled_from(AUGMENTS)),
            "seed": draw(seeds), "reg": draw(reg_specs())}  # fmt: skip
    return TrainSpec.from_dict(data)


def _params(name: str):
    """Valid parameters of one evaluator, as JSON."""
    fields = EVAL_SPECS[name].parameters_schema()["properties"]
    options = {
        "n_images": st.none() | st.integers(1, 10_000_000), "seed": seeds,
        "strengths": st.none() | st.lists(unit, min_size=1, max_size=64),
        "clamp": st.sampled_from(["range", "image"]), "steps": st.integers(1, 10_000),
        "rel_stepsize": st.floats(min_value=1e-6, max_value=1.0),
        "start": st.sampled_from(["best", "nearest", "reference"]),
        "repeats": st.integers(1, 100), "score_channel": st.sampled_from(["all", "first"]),
        "spectrum_bins": st.integers(2, 1024), "batch_size": st.integers(1, 65_536),
        "corruptions": st.none() | st.lists(st.sampled_from(CORRUPTION_NAMES), min_size=1, unique=True),
        "severities": st.lists(st.integers(1, 5), min_size=1, max_size=5, unique=True),
        "source": st.builds(lambda ref: {"kind": "model", "ref": ref}, st.text("abcdef0123456789", min_size=1)),
    }  # fmt: skip
    return st.fixed_dictionaries({}, optional={key: options[key] for key in fields})


calls = st.sampled_from(list(EVAL_SPECS)).flatmap(
    lambda name: _params(name).map(lambda params: EvaluatorCall.from_dict({"name": name, "params": params}))
)


def _unique(items):
    return list({c.name: c for c in items}.values())


def _with_source(call):
    return call.with_source(SourceRef.model("src")) if call.spec.sourced and call.source is None else call


@settings(max_examples=150, deadline=None)
@given(train_specs())
def test_every_valid_train_spec_round_trips_and_validates(spec):
    again = TrainSpec.from_dict(json.loads(spec.to_json()))
    assert again == spec and again.spec_hash() == spec.spec_hash()
    assert read_spec("train", spec.to_dict()) == spec
    assert spec.validate() is spec


@settings(max_examples=150, deadline=None)
@given(st.lists(calls, min_size=1, max_size=9).map(_unique), st.text(min_size=1, max_size=40))
def test_every_valid_evaluation_spec_round_trips_and_validates(evaluators, model_id):
    spec = EvalJobSpec(model_id, tuple(_with_source(c) for c in evaluators))
    stored = json.loads(json.dumps(spec.to_dict()))
    again = EvalJobSpec.from_dict(stored)
    assert again == spec and again.spec_hash() == spec.spec_hash()
    assert read_spec("evaluate", stored).validate() == spec


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(train_specs(), st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=3, unique=True),
       st.lists(st.integers(0, 1000), min_size=1, max_size=3, unique=True),
       st.lists(calls, min_size=0, max_size=4).map(_unique), st.floats(min_value=0.01, max_value=1.0))  # fmt: skip
def test_every_valid_sweep_spec_round_trips_and_validates(base, alphas, seed_list, extra, minimum):
    evaluators = [{"name": "gaussian", "params": {}}, *[c.to_dict() for c in extra if c.name != "gaussian"]]
    sweep = build_sweep(base, {"reg.alpha": alphas}, seed_list, evaluators, None, minimum)
    stored = json.loads(json.dumps(sweep.to_dict()))
    again = SweepSpec.from_dict(stored)
    assert again == sweep and again.spec_hash() == sweep.spec_hash()
    assert read_spec("sweep", stored).validate() == sweep
    trainings = sweep.trainings()
    assert len(trainings) == (len(alphas) + 1) * len(seed_list) + (sweep.source_seed is not None)
    assert {t.spec.reg.alpha for t in trainings if t.role == "setting"} == set(alphas)


def test_a_transfer_attack_without_a_source_attacks_with_the_model_the_sweep_trains():
    base = TrainSpec.from_dict({"dataset": "mnist-5k", "arch": "small_cnn"})
    sweep = build_sweep(base, {"reg.alpha": [1.0]}, [3, 5], [{"name": "transfer_fgsm"}], None)
    assert sweep.evaluators[0].source == SWEEP_SOURCE and sweep.select_by == "transfer_fgsm"
    assert sweep.source_seed == 6 and [t.role for t in sweep.trainings()].count("source") == 1
    named = build_sweep(base, {"reg.alpha": [1.0]}, [0], [{"name": "transfer_fgsm", "params": {"source": {
        "kind": "model", "ref": "m1"}}}], None)  # fmt: skip
    assert named.source_seed is None and named.evaluators[0].source == SourceRef.model("m1")


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("evaluate", {"model_id": "m", "evaluators": [{"name": "gaussian", "params": {"n_images": 2.5}}]},
         "evaluators.0.params.n_images"),
        ("evaluate", {"model_id": "m", "evaluators": [{"name": "fog"}]}, "evaluators.0.name"),
        ("evaluate", {"model_id": "m", "evaluators": []}, "evaluators"),
        ("evaluate", {"model_id": "m", "evaluators": [{"name": "gaussian", "param": {}}]}, "evaluators.0.param"),
        ("evaluate", {"model": "m", "evaluators": [{"name": "gaussian"}]}, "model"),
        ("evaluate", {"model_id": "m", "evaluators": [{"name": "transfer_fgsm", "params": {"source": {
            "kind": "model"}}}]}, "evaluators.0.params.source.ref"),
        ("sweep", {"base": {}, "grid": {"reg.alpha": [1.0]}, "seeds": [0], "evaluators": [{"name": "gaussian"}],
                   "select_by": "gaussian", "min_r0_u0": 2}, "min_r0_u0"),
        ("sweep", {"base": {"epochs": 0}, "grid": {"reg.alpha": [1.0]}, "evaluators": [{"name": "gaussian"}],
                   "select_by": "gaussian"}, "epochs"),
        ("train", {"reg": {"threshold_low": "0.1"}}, "reg.threshold_low"),
        ("job", {}, "kind"),
    ],
)  # fmt: skip
def test_stored_specs_that_do_not_type_check_are_refused_by_field(kind, data, field):
    with pytest.raises(SpecError) as caught:
        read_spec(kind, data)
    assert caught.value.field == field, caught.value
