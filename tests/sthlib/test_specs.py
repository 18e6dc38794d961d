import pytest

from sthlib.specs import PAPER_TABLE, PRESETS, RegSpec, TrainSpec, preset
from sthlib.validation import SpecError


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reg.threshold": 1.2}, "reg.threshold", "must be < 1.0, got 1.2"),
        ({"reg.threshold": 0.0}, "reg.threshold", "must be > 0.0, got 0.0"),
        ({"reg.alpha": -1.0}, "reg.alpha", "must be >= 0"),
        ({"reg.variant": "double", "reg.threshold_low": 0.9}, "reg.threshold_low", "threshold_low must be in"),
        ({"reg.variant": "double"}, "reg.threshold_low", "variant 'double' needs threshold_low"),
        ({"reg.threshold_low": 0.1}, "reg.threshold_low", "only used by variant 'double'"),
        ({"reg.variant": "diagonal"}, "reg.variant", "unknown value \"diagonal\"; choose one of 'all'"),
        ({"arch": "vgg16"}, "arch", "unknown value \"vgg16\"; choose one of 'resnet18'"),
        ({"dataset": "imagenet"}, "dataset", "unknown dataset 'imagenet'"),
        ({"reg.dataset": "imagenet"}, "reg.dataset", "unknown dataset 'imagenet'"),
        ({"epochs": 0}, "epochs", "must be >= 1, got 0"),
        ({"epochs": 2.5}, "epochs", "must be an integer, got 2.5"),
        ({"epochs": "3"}, "epochs", 'must be an integer, got "3"'),
        ({"batch_size": True}, "batch_size", "must be an integer, got true"),
        ({"seed": -1}, "seed", "must be >= 0"),
        ({"seed": 2**64}, "seed", "must be <= 2147483647"),
        ({"lr": None}, "lr", "must be a number, got null"),
        ({"lr": 1e308}, "lr", "must be <= 10"),
        ({"lr": float("nan")}, "lr", "must be a finite number"),
        ({"valid_fraction": 0.0}, "valid_fraction", "must be > 0"),
        ({"lr": -0.1}, "lr", "must be > 0"),
        ({"reg.pairs_per_step": 0}, "reg.pairs_per_step", "must be >= 1"),
        ({"reg.loss": "l1"}, "reg.loss", 'unknown value "l1"'),
        ({"reg.fused": 1}, "reg.fused", "must be true or false, got 1"),
        ({"color": "cmyk"}, "color", "unknown value"),
        ({"reg.augment": "random"}, "reg.augment", "choose one of 'auto', 'none' or 'frozen'"),
    ],
)
def test_bad_specs_name_the_field_and_say_what_to_change(changes, field, message):
    with pytest.raises(SpecError) as caught:
        preset("quick", **changes).validate()
    assert caught.value.field == field
    assert message in str(caught.value) and str(caught.value).startswith(f"{field}: ")


def test_whole_floats_are_integers_where_no_meaning_is_lost():
    spec = preset("quick", epochs=2.0, seed=7.0)
    assert spec.epochs == 2 and isinstance(spec.epochs, int) and spec.seed == 7
    assert spec.spec_hash() == preset("quick", epochs=2, seed=7).spec_hash()
    assert isinstance(preset("quick", **{"reg.alpha": 1}).reg.alpha, float)  # an integer is a number


def test_unknown_fields_are_errors_not_silent_defaults():
    with pytest.raises(SpecError, match="epoch: unknown field; known: dataset, arch") as caught:
        TrainSpec.from_dict({"epoch": 3})
    assert caught.value.field == "epoch"
    with pytest.raises(SpecError, match=r"reg\.alfa: unknown field; known: alpha, dataset"):
        preset("quick", **{"reg.alfa": 1.0})
    with pytest.raises(SpecError, match=r"^reg: must be an object, got 3$"):
        TrainSpec.from_dict({"reg": 3})


def test_json_round_trip_and_hash():
    spec = preset("fashion-mnist+mnist", epochs=2)
    again = TrainSpec.from_dict(spec.to_dict())
    assert again == spec and again.spec_hash() == spec.spec_hash()
    assert spec.replace(seed=1).spec_hash() != spec.spec_hash()


def test_presets_follow_the_paper_table():
    for (task, reg), (alpha, th) in PAPER_TABLE.items():
        spec = PRESETS[f"{task}+{reg}"]
        assert (spec.dataset, spec.reg.dataset, spec.reg.alpha, spec.reg.threshold) == (task, reg, alpha, th)
        assert (spec.epochs, spec.batch_size, spec.lr, spec.reg.pairs_per_step, spec.reg.n_images) == (
            40,
            64,
            0.1,
            16,
            5000,
        )
    assert RegSpec().threshold == 0.8  # the README table's default, not the parser's 0.6


def test_paper_defaults_per_family():
    assert preset("cifar10+cifar10").resolved_input_scale() == "centered5"
    assert preset("cifar10+cifar10").resolved_augment() == "crop_flip"
    assert preset("mnist+mnist").resolved_input_scale() == "unit"
    assert preset("mnist+mnist").resolved_augment() == "none"


def test_regularization_images_are_frozen_by_default_when_they_are_cifar_like():
    assert RegSpec().augment == "auto"
    assert preset("cifar10+cifar10").resolved_reg_augment() == "frozen"
    assert preset("mnist+mnist", **{"reg.dataset": "cifar100"}).resolved_reg_augment() == "frozen"
    assert preset("cifar10+cifar10", **{"reg.dataset": "mnist"}).resolved_reg_augment() == "none"
    assert preset("mnist+mnist").resolved_reg_augment() == "none"
    assert preset("cifar10+cifar10", augment="none").resolved_reg_augment() == "frozen"  # the reg images' own rule
    assert preset("cifar10+cifar10", **{"reg.augment": "none"}).resolved_reg_augment() == "none"
    assert preset("quick", **{"reg.augment": "frozen"}).resolved_reg_augment() == "frozen"
    saved_before = preset("cifar10+cifar10").to_dict()
    del saved_before["reg"]["augment"]
    assert TrainSpec.from_dict(saved_before).reg.augment == "auto"


def test_the_api_side_of_sthlib_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sthlib.specs, sthlib.data; sthlib.data.availability('mnist-5k'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
