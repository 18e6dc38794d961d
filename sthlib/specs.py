"""Training specs: frozen, typed, JSON round-trippable. Torch-free: the API validates requests with these.

Types, ranges and enums are the fields' annotations (checked by sthlib.validation.parse in from_dict and
replace); validate() checks what types cannot say (thresholds against the variant, datasets).

Every default is the paper's (PAPER.md section 3) unless its comment says otherwise.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import Field

from sthlib.data import DatasetError, DatasetInfo, dataset_info
from sthlib.specjson import spec_hash
from sthlib.validation import SEED_MAX, SPEC_CONFIG, Bool, Float, Int, SpecError, Str, parse, require
from sthlib.variants import Variant, validate_selection

Architecture = Literal["resnet18", "resnet18_narrow", "resnet34", "resnet50", "small_cnn"]
Loss = Literal["arctanh_square", "mse"]
Color = Literal["gray", "rgb"]
InputScale = Literal["auto", "unit", "centered5"]
Augment = Literal["auto", "none", "crop_flip"]
RegAugment = Literal["auto", "none", "frozen"]
Amp = Literal["none", "bf16"]
ARCHITECTURE_NAMES: tuple[str, ...] = get_args(Architecture)  # == sthlib.models.ARCHITECTURES (tested)
LOSS_NAMES: tuple[str, ...] = get_args(Loss)
COLORS: tuple[str, ...] = get_args(Color)
INPUT_SCALES: tuple[str, ...] = get_args(InputScale)
AUGMENTS: tuple[str, ...] = get_args(Augment)
REG_AUGMENTS: tuple[str, ...] = get_args(RegAugment)
AMPS: tuple[str, ...] = get_args(Amp)
DatasetName = Annotated[Str, Field(min_length=1, max_length=200, description="a dataset of GET /v1/datasets: a "
                                   "built-in name, upload:NAME, or (local runs) npz:PATH")]  # fmt: skip


def nest_dotted(changes: dict[str, Any]) -> dict[str, Any]:
    """Dotted spec keys as the nested dict TrainSpec.from_dict reads: {"reg.alpha": 4} -> {"reg": {"alpha": 4}}."""
    nested: dict[str, Any] = {}
    for key, value in changes.items():
        head, _, tail = key.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[key] = value
    return nested


def merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """`base` (a TrainSpec dict) with `changes` applied; a nested object ("reg", "speed") changes field by field."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


# The speed fields that can change what is trained (bf16 rounds differently); channels_last and compile change
# only how fast it runs (float rounding aside), so they never enter a setting.
SPEED_IN_SETTING = ("amp",)


def setting_of(spec: dict[str, Any]) -> dict[str, Any]:
    """A TrainSpec's dict without its seed; unregularized (reg.alpha 0), the regularizer's other fields change
    nothing that is trained, so they are left out: every unregularized twin of a task is one setting.

    "speed" is left out too, except its fields of SPEED_IN_SETTING that differ from their defaults: a spec stored
    before "speed" existed, and one with the default speed, keep the setting they had."""
    setting = {key: value for key, value in spec.items() if key not in ("seed", "speed")}
    reg = setting.get("reg") or {}
    if not reg.get("alpha"):
        setting["reg"] = {"alpha": 0.0}
    defaults = SpeedSpec().__dict__
    speed = {k: v for k, v in (spec.get("speed") or {}).items() if k in SPEED_IN_SETTING and v != defaults[k]}
    if speed:
        setting["speed"] = speed
    return setting


def setting_hash(spec: dict[str, Any]) -> str:
    """The setting id of a TrainSpec dict (migrations/versions/0004 computes the same for stored specs)."""
    return spec_hash(setting_of(spec))[:12]


def _dataset(name: str, field: str) -> DatasetInfo:
    try:
        return dataset_info(name)
    except DatasetError as e:
        raise SpecError(field, str(e)) from None


@dataclass(frozen=True)
class RegSpec:
    """The S^Th regularizer (PAPER.md sections 1 and 3). alpha = 0 trains the unregularized baseline."""

    __pydantic_config__ = SPEC_CONFIG

    alpha: Annotated[Float, Field(ge=0, le=1e4, description="weight of L_reg in L = CE + alpha * L_reg; 0: the "
                                  "unregularized baseline")] = 0.0  # fmt: skip
    dataset: DatasetName | None = None  # regularization images; None: the classification dataset
    n_images: Annotated[Int, Field(ge=2, le=1_000_000, description="N: the first N images of the regularization "
                                   "dataset's train split")] = 5000  # fmt: skip
    threshold: Annotated[Float, Field(gt=0, lt=1, description="Th: T = +1 if S > Th, -1 if S < -Th, else 0")] = 0.8
    variant: Annotated[Variant, Field(description="which pairs are trained (PAPER.md section 1)")] = "all"
    threshold_low: Annotated[Float | None, Field(gt=0, lt=1, description="Th2 < Th, only for variant double")] = None
    pairs_per_step: Annotated[Int, Field(ge=1, le=4096, description="k pairs (2k images) per step")] = 16
    loss: Annotated[Loss, Field(description="L_reg per pair")] = "arctanh_square"
    eps: Annotated[Float, Field(gt=0, lt=0.1, description="inside g(z) = log(1 + z + eps) - log(1 - z + eps)")] = 1e-5
    fused: Annotated[Bool, Field(description="one pass over both halves of the pairs (faster; BatchNorm sees them "
                                 "jointly)")] = False  # fmt: skip
    # The N images: "frozen" = one random crop (reflect pad 4) + h-flip per image, drawn once from the spec's seed
    # before S is computed; S and the training pairs both use these frozen images (the reference's behaviour).
    # "none" = the images as loaded. auto: frozen when the regularization dataset is CIFAR-like, else none.
    augment: Annotated[RegAugment, Field(description="frozen: one seeded crop+flip of the N images before S; auto: "
                                         "frozen for CIFAR-like images")] = "auto"  # fmt: skip

    def validate(self) -> None:
        """The rules types cannot say (SpecError naming the field): the variant's thresholds, the dataset."""
        validate_selection(self.threshold, self.variant, self.threshold_low)
        if self.dataset is not None:
            _dataset(self.dataset, "reg.dataset")

    @property
    def enabled(self) -> bool:
        return self.alpha > 0


@dataclass(frozen=True)
class SpeedSpec:
    """How a run executes on its device (bench/gpu_check.py times each option). channels_last and compile give the
    same training up to float rounding; amp "bf16" rounds the forward passes to bfloat16, so it is part of the
    setting. The defaults are the paper's plain float32 eager run."""

    __pydantic_config__ = SPEC_CONFIG

    amp: Annotated[Amp, Field(description="bf16: the forward passes under torch.autocast in bfloat16 (CUDA; CPU "
                              "runs it, slowly without native bf16); losses, cosines and the optimizer stay "
                              "float32. Part of the setting; its accuracy at the paper's protocol is not "
                              "measured yet")] = "none"  # fmt: skip
    channels_last: Annotated[Bool, Field(description="model weights and input batches in channels_last memory "
                                         "format (faster convolutions on CUDA); the same training up to float "
                                         "rounding, saved weights as usual")] = False  # fmt: skip
    compile: Annotated[Bool, Field(description="torch.compile the forward and similarity passes (needs a working "
                                   "C compiler, and triton on CUDA, checked when training starts; the first steps "
                                   "compile for a while); the same training up to float rounding")] = False  # fmt: skip


@dataclass(frozen=True)
class TrainSpec:
    """One training run. Units: epochs are passes over the training split, lr per step, sizes in images."""

    __pydantic_config__ = SPEC_CONFIG

    dataset: DatasetName = "fashion-mnist"  # classification dataset (sthlib.data registry or npz:PATH)
    arch: Annotated[Architecture, Field(description="the network: a ResNet with the paper's stem, or a small CNN "
                                        "for CPU demos")] = "resnet18"  # fmt: skip
    color: Annotated[Color, Field(description="gray (luma weights, the paper's) or rgb")] = "gray"
    epochs: Annotated[Int, Field(ge=1, le=1000, description="passes over the training split")] = 40
    batch_size: Annotated[Int, Field(ge=1, le=8192, description="classification images per step")] = 64
    lr: Annotated[Float, Field(gt=0, le=10, description="SGD peak learning rate")] = 0.1
    momentum: Annotated[Float, Field(ge=0, lt=1, description="SGD momentum")] = 0.9
    weight_decay: Annotated[Float, Field(ge=0, le=1, description="SGD L2 weight decay")] = 0.0
    # lr = lr * lr_gamma ** floor((e mod lr_cycle) / lr_step), e 0-based
    lr_cycle: Annotated[Int, Field(ge=1, le=1000, description="epochs per learning-rate cycle")] = 20
    lr_step: Annotated[Int, Field(ge=1, le=1000, description="epochs per phase of a cycle")] = 4
    lr_gamma: Annotated[Float, Field(gt=0, le=1, description="lr factor per phase")] = 0.3
    valid_fraction: Annotated[Float, Field(gt=0, lt=0.5, description="random part of the train split held out for "
                                           "checkpoint selection")] = 0.01  # fmt: skip
    train_limit: Annotated[Int | None, Field(ge=1, le=100_000_000, description="use only this many training "
                                             "images (after the split); null: all")] = None  # fmt: skip
    test_limit: Annotated[Int | None, Field(ge=1, le=100_000_000, description="evaluate on the first this many "
                                            "test images; null: all")] = None  # fmt: skip
    input_scale: Annotated[InputScale, Field(description="unit: x in [0,1]; centered5: 5 * (x - 0.5); auto: "
                                             "centered5 for CIFAR")] = "auto"  # fmt: skip
    augment: Annotated[Augment, Field(description="crop_flip: random crop (reflect pad 4) + h-flip; auto: "
                                      "crop_flip for CIFAR")] = "auto"  # fmt: skip
    seed: Annotated[Int, Field(ge=0, le=SEED_MAX, description="weights, shuffling, pairs")] = 0
    reg: RegSpec = field(default_factory=RegSpec)
    speed: SpeedSpec = field(default_factory=SpeedSpec)  # how fast, not what: see SpeedSpec

    def validate(self) -> TrainSpec:
        """The rules types cannot say; raise SpecError naming the field and what to change. Returns self."""
        info = _dataset(self.dataset, "dataset")
        require(info.num_classes > 0, "dataset", f"dataset {self.dataset!r} has no labelled images")
        self.reg.validate()
        return self

    @property
    def in_channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def resolved_input_scale(self) -> str:
        return dataset_info(self.dataset).input_scale if self.input_scale == "auto" else self.input_scale

    def resolved_augment(self) -> str:
        if self.augment != "auto":
            return self.augment
        return "crop_flip" if dataset_info(self.dataset).augment else "none"

    def resolved_reg_augment(self) -> str:
        """reg.augment with auto resolved as the reference does: "frozen" for regularization images of a dataset
        trained with crop and flip (CIFAR), whatever the task; "none" for MNIST-like and uploaded images."""
        if self.reg.augment != "auto":
            return self.reg.augment
        return "frozen" if dataset_info(self.reg.dataset or self.dataset).augment else "none"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def setting(self) -> dict[str, Any]:
        """What was trained, whatever the seed: models of one setting are repeats of one experiment."""
        return setting_of(self.to_dict())

    def setting_hash(self) -> str:
        """A stable short id of the setting (12 hex characters of the sha256 of its canonical JSON)."""
        return setting_hash(self.to_dict())

    def baseline_setting_hash(self) -> str:
        """The setting of this spec's unregularized twin (the same task and training, reg.alpha 0)."""
        return setting_hash({**self.to_dict(), "reg": {"alpha": 0.0}})

    def setting_label(self) -> str:
        """The setting in a few words: arch, task, alpha, Th and epochs, and whatever else differs from the
        defaults of the regularizer's variant and data ("small_cnn mnist-5k a0.1 Th0.2 e3")."""
        reg = self.reg
        words = [self.arch, self.dataset, f"a{reg.alpha:g}"]
        if reg.enabled:
            words.append(f"Th{reg.threshold:g}")
            if reg.variant != "all":
                words.append(reg.variant + (f"{reg.threshold_low:g}" if reg.threshold_low is not None else ""))
            if reg.dataset not in (None, self.dataset):
                words.append(f"reg:{reg.dataset}")
        if self.speed.amp != "none":
            words.append(self.speed.amp)
        words.append(f"e{self.epochs}")
        return " ".join(words)

    def datasets_read(self) -> dict[str, str]:
        """The datasets this training reads, each with the field that names it: the task's, and the regularizer's
        images when they come from another dataset."""
        read = {self.dataset: "dataset"}
        if self.reg.enabled and self.reg.dataset is not None:
            read.setdefault(self.reg.dataset, "reg.dataset")
        return read

    def datasets_named(self) -> dict[str, str]:
        """Every dataset this spec names, with its field: those it reads, and reg.dataset even when alpha is 0 (it
        is validated all the same). What a service vets before validate() opens anything."""
        return {**({self.reg.dataset: "reg.dataset"} if self.reg.dataset is not None else {}), **self.datasets_read()}

    # What every job kind's spec answers (sthlib.jobkinds.JobSpec)

    def label(self) -> Label:
        return Label(f"{self.setting_label()} seed {self.seed}")

    def datasets(self) -> dict[str, str]:
        """Dataset name -> the field of a training request (spec.FIELD) that names it."""
        return {name: f"spec.{field}" for name, field in self.datasets_named().items()}

    def job_setting(self, model_setting: Callable[[str], str | None]) -> str | None:
        """The setting a job of this spec belongs to: its own."""
        return self.setting_hash()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def spec_hash(self) -> str:
        return spec_hash(self.to_dict())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainSpec:
        """Build from JSON-like data, every field's type and range checked (SpecError naming the field); unknown
        keys are an error (a typo must not silently train the default). Meaning: validate()."""
        return parse(cls, data)

    def replace(self, **changes: Any) -> TrainSpec:
        """A checked copy with changes; keys 'reg.FIELD' and 'speed.FIELD' change the nested specs."""
        return TrainSpec.from_dict(merge(self.to_dict(), nest_dotted(changes)))


class Label(NamedTuple):
    """A job in a few words (GET /v1/jobs' label): `text`, after the name of `model_id` when it evaluates one."""

    text: str
    model_id: str | None = None


# The paper's (classification dataset, regularization dataset) -> (alpha, Th) table (PAPER.md section 1).
PAPER_TABLE: dict[tuple[str, str], tuple[float, float]] = {
    ("cifar10", "cifar10"): (10.0, 0.8),
    ("cifar10", "cifar100"): (10.0, 0.8),
    ("cifar100", "cifar10"): (10.0, 0.8),
    ("cifar100", "cifar100"): (10.0, 0.8),
    ("mnist", "mnist"): (4.0, 0.2),
    ("mnist", "fashion-mnist"): (10.0, 0.8),
    ("fashion-mnist", "mnist"): (10.0, 0.4),
    ("fashion-mnist", "fashion-mnist"): (10.0, 0.8),
}


def _presets() -> dict[str, TrainSpec]:
    presets = {
        f"{task}+{reg}": TrainSpec(dataset=task, reg=RegSpec(alpha=alpha, threshold=th, dataset=reg))
        for (task, reg), (alpha, th) in PAPER_TABLE.items()
    }
    # The smallest configuration found where the regularizer's effect shows on this CPU (bench/README.md, "Where
    # the effect appears"): the paper's MNIST alpha 4 and Th 0.2, ResNet18's stem and sections at a quarter of the
    # widths, 12 epochs on 4000 real digits; the mnist-cpu report protocol trains it with 3 seeds.
    presets["quick"] = TrainSpec(
        dataset="mnist-5k",
        arch="resnet18_narrow",
        epochs=12,
        valid_fraction=0.05,
        reg=RegSpec(alpha=4.0, threshold=0.2, n_images=1000),
    )
    # A check that training runs at all, in seconds (tests, smoke checks): a small CNN, 3 epochs, alpha 0.1 so that
    # R0/U0 stays >= 0.9. It shows no robustness gain over its twin (bench/README.md): not a demo of the method.
    presets["smoke"] = TrainSpec(
        dataset="mnist-5k",
        arch="small_cnn",
        epochs=3,
        valid_fraction=0.05,
        reg=RegSpec(alpha=0.1, threshold=0.2, n_images=1000),
    )
    return presets


PRESETS: dict[str, TrainSpec] = _presets()


def preset(name: str, **changes: Any) -> TrainSpec:
    """A named preset, optionally changed ('reg.alpha'=0 gives its unregularized twin)."""
    if name not in PRESETS:
        raise SpecError("preset", f"unknown preset {name!r}", f"choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name].replace(**changes)
