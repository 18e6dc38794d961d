import pytest

from sthlib.specs import PAPER_TABLE, PRESETS, RegSpec, TrainSpec, preset


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reg.threshold": 1.2}, r"threshold must be in \(0, 1\)"),
        ({"reg.threshold": 0.0}, r"threshold must be in \(0, 1\)"),
        ({"reg.alpha": -1.0}, "alpha must be >= 0"),
        ({"reg.variant": "double", "reg.threshold_low": 0.9}, "threshold_low must be in"),
        ({"reg.variant": "diagonal"}, "unknown variant 'diagonal'; choose one of all"),
        ({"arch": "vgg16"}, "unknown architecture 'vgg16'; choose one of resnet18"),
        ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
        ({"reg.dataset": "imagenet"}, "unknown dataset 'imagenet'"),
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"valid_fraction": 0.0}, "checkpoints are selected on it"),
        ({"lr": -0.1}, "lr must be > 0"),
        ({"reg.pairs_per_step": 0}, "pairs_per_step must be at least 1"),
        ({"reg.loss": "l1"}, "unknown loss 'l1'"),
        ({"color": "cmyk"}, "unknown color"),
        ({"reg.augment": "random"}, "unknown reg.augment 'random'; choose one of auto, none, frozen"),
    ],
)
def test_bad_specs_say_what_to_change(changes, message):
    with pytest.raises(ValueError, match=message):
        preset("quick", **changes).validate()


def test_unknown_fields_are_errors_not_silent_defaults():
    with pytest.raises(ValueError, match="unknown train spec field"):
        TrainSpec.from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="unknown reg spec field"):
        preset("quick", **{"reg.alfa": 1.0})


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
