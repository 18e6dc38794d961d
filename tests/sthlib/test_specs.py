import pytest

from sthlib.specs import PAPER_TABLE, PRESETS, RegSpec, SpeedSpec, TrainSpec, preset, setting_hash
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
        ({"speed.amp": "fp16"}, "speed.amp", "unknown value \"fp16\"; choose one of 'none' or 'bf16'"),
        ({"speed.channels_last": "yes"}, "speed.channels_last", 'must be true or false, got "yes"'),
        ({"speed.compile": 1}, "speed.compile", "must be true or false, got 1"),
        ({"speed.fast": True}, "speed.fast", "unknown field; known: amp, channels_last, compile"),
    ],
)
def test_bad_specs_name_the_field_and_say_what_to_change(changes, field, message):
    with pytest.raises(SpecError) as caught:
        preset("smoke", **changes).validate()
    assert caught.value.field == field
    assert message in str(caught.value) and str(caught.value).startswith(f"{field}: ")


def test_whole_floats_are_integers_where_no_meaning_is_lost():
    spec = preset("smoke", epochs=2.0, seed=7.0)
    assert spec.epochs == 2 and isinstance(spec.epochs, int) and spec.seed == 7
    assert spec.spec_hash() == preset("smoke", epochs=2, seed=7).spec_hash()
    assert isinstance(preset("smoke", **{"reg.alpha": 1}).reg.alpha, float)  # an integer is a number


def test_unknown_fields_are_errors_not_silent_defaults():
    with pytest.raises(SpecError, match="epoch: unknown field; known: dataset, arch") as caught:
        TrainSpec.from_dict({"epoch": 3})
    assert caught.value.field == "epoch"
    with pytest.raises(SpecError, match=r"reg\.alfa: unknown field; known: alpha, dataset"):
        preset("smoke", **{"reg.alfa": 1.0})
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
    assert preset("smoke", **{"reg.augment": "frozen"}).resolved_reg_augment() == "frozen"
    saved_before = preset("cifar10+cifar10").to_dict()
    del saved_before["reg"]["augment"]
    assert TrainSpec.from_dict(saved_before).reg.augment == "auto"


def test_the_api_side_of_sthlib_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, sthlib.specs, sthlib.data; sthlib.data.availability('mnist-5k'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# The quick preset's dict as stored before TrainSpec had "speed", and its setting hash then (computed by the code
# of commit 400fe76): stored models keep their setting.
QUICK_BEFORE_SPEED = {
    "dataset": "mnist-5k", "arch": "small_cnn", "color": "gray", "epochs": 3, "batch_size": 64, "lr": 0.1,
    "momentum": 0.9, "weight_decay": 0.0, "lr_cycle": 20, "lr_step": 4, "lr_gamma": 0.3, "valid_fraction": 0.05,
    "train_limit": None, "test_limit": None, "input_scale": "auto", "augment": "auto", "seed": 0,
    "reg": {"alpha": 0.1, "dataset": None, "n_images": 1000, "threshold": 0.2, "variant": "all",
            "threshold_low": None, "pairs_per_step": 16, "loss": "arctanh_square", "eps": 1e-05, "fused": False,
            "augment": "auto"},
}  # fmt: skip


def test_a_spec_without_speed_keeps_its_setting_and_gets_the_default_speed():
    assert setting_hash(QUICK_BEFORE_SPEED) == "00645b430f4a"
    spec = TrainSpec.from_dict(QUICK_BEFORE_SPEED)
    assert spec.speed == SpeedSpec() and spec == preset("smoke")
    assert spec.setting_hash() == "00645b430f4a" and spec.to_dict()["speed"] == {
        "amp": "none", "channels_last": False, "compile": False}  # fmt: skip
    assert preset("smoke", **{"reg.alpha": 0}).setting_hash() == "0a034ac8f9c3"  # the unregularized twin, as before
    assert "speed" not in spec.setting()


def test_bf16_is_part_of_the_setting_channels_last_and_compile_are_not():
    base = preset("smoke")
    bf16 = base.replace(**{"speed.amp": "bf16"})
    assert bf16.setting_hash() != base.setting_hash() and bf16.setting()["speed"] == {"amp": "bf16"}
    assert bf16.baseline_setting_hash() != base.baseline_setting_hash()  # its twin is trained in bf16 too
    assert "bf16" in bf16.setting_label() and "bf16" not in base.setting_label()
    for fast in ({"speed.channels_last": True}, {"speed.compile": True}):
        spec = base.replace(**fast)
        assert spec.setting_hash() == base.setting_hash() and spec.spec_hash() != base.spec_hash()
    both = bf16.replace(**{"speed.channels_last": True, "speed.compile": True})
    assert both.setting_hash() == bf16.setting_hash()


def test_a_speed_change_keeps_the_other_speed_fields():
    spec = preset("smoke", **{"speed.channels_last": True}).replace(**{"speed.amp": "bf16"})
    assert spec.speed == SpeedSpec(amp="bf16", channels_last=True)
    assert TrainSpec.from_dict(spec.to_dict()) == spec
