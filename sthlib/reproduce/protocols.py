"""Named reproduction protocols: what is trained (the S^Th setting; its unregularized baseline and the transfer
source come with it), what is evaluated, on which seeds, and how long it takes. A protocol becomes a SweepSpec with
one setting, so the service plans and advances a report's trainings and evaluations as it does a sweep's.
Torch-free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sthlib.jobspecs import EvaluatorCall, SweepSpec
from sthlib.specjson import json_object, json_string, seed_list, spec_hash
from sthlib.specs import PRESETS, Label, TrainSpec, merge
from sthlib.validation import SpecError, show


def _claims(**boundary: Any) -> tuple[EvaluatorCall, ...]:
    """PAPER.md section 4 on MNIST-like data: noise, transferred FGSM from a separately trained unregularized source,
    the boundary attack (with the spectrum of its perturbations) with `boundary`'s parameters, the corruptions."""
    return (
        EvaluatorCall.make("gaussian"),
        EvaluatorCall.make("uniform"),
        EvaluatorCall.make("salt_pepper"),
        EvaluatorCall.make("transfer_fgsm", source={"kind": "sweep"}),
        EvaluatorCall.make("boundary", **boundary),
        EvaluatorCall.make("corruption"),
    )


PAPER_EVALUATORS = _claims(n_images=1000, repeats=5)  # the paper's: 1000 images, 5 repeats
# mnist-cpu: every test digit of mnist-5k but for the boundary attack, which keeps its converged steps
# (bench/README.md) on 50 digits, one repeat: about 3 of the protocol's 5 minutes per model on 2 CPU cores.
CPU_EVALUATORS = _claims(n_images=50, repeats=1)


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    spec: TrainSpec  # the S^Th setting (each seed replaces its seed)
    evaluators: tuple[EvaluatorCall, ...]
    seeds: tuple[int, ...]
    duration: str  # measured wall time on this project's CPU machine and on one GPU, or that it is not measured
    test_only: bool = False  # for the test suite: seconds, not a result

    def sweep(self, seeds: list[int] | tuple[int, ...] | None = None,
              changes: dict[str, Any] | None = None) -> SweepSpec:  # fmt: skip
        """The protocol as a one-setting sweep (baseline per seed, transfer source, every model evaluated);
        `changes` (nested, like a training request's spec) amend the S^Th setting: SpecError at changes.FIELD."""
        base = self.setting(changes)
        try:
            base.validate()
        except SpecError as e:
            raise e.at("changes") from None
        if not base.reg.enabled:
            raise SpecError("changes.reg.alpha", "a report compares S^Th with its baseline: alpha must be > 0")
        sweep = SweepSpec(base=base, grid={"reg.alpha": [base.reg.alpha]}, seeds=tuple(seeds or self.seeds),
                          evaluators=self.evaluators, select_by="gaussian")  # fmt: skip
        return sweep.validate()

    def setting(self, changes: dict[str, Any] | None = None) -> TrainSpec:
        """The S^Th setting with `changes`, its types checked (SpecError at changes.FIELD); no file is opened."""
        try:
            return TrainSpec.from_dict(merge(self.spec.to_dict(), changes)) if changes else self.spec
        except SpecError as e:
            raise e.at("changes") from None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "spec": self.spec.to_dict(),
                "evaluators": [c.to_dict() for c in self.evaluators], "seeds": list(self.seeds),
                "duration": self.duration, "test_only": self.test_only}  # fmt: skip


def _paper(task: str, reg: str | None = None) -> TrainSpec:
    return PRESETS[f"{task}+{reg or task}"]


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            "tiny",
            "test-only: a 2-epoch small CNN on 1000 digits, every claim measured on a few images; says nothing",
            PRESETS["smoke"].replace(epochs=2, train_limit=1000, test_limit=100, **{"reg.n_images": 200}),
            (
                EvaluatorCall.make("gaussian", n_images=100, strengths=[0.0, 0.3]),
                EvaluatorCall.make("transfer_fgsm", n_images=100, strengths=[0.0, 0.2], source={"kind": "sweep"}),
                EvaluatorCall.make("boundary", n_images=8, steps=20, repeats=2),
                EvaluatorCall.make(
                    "corruption", n_images=50, corruptions=["gaussian_noise", "fog", "defocus_blur"], severities=[1, 3]
                ),
            ),
            (0, 1),
            "seconds",
            test_only=True,
        ),
        Protocol(
            "mnist-cpu",
            "the paper's MNIST setting sized for 2 CPU cores: real MNIST digits (mnist-5k: 4000 train, 1000 test), "
            "ResNet18 with the paper's stem at a quarter of its widths (resnet18_narrow, the quick preset), 12 "
            "epochs, alpha 4, Th 0.2 on N = 1000 images; noise, transferred FGSM and the corruptions on the 1000 test "
            "digits; the boundary attack at its converged default steps on 50 digits with one repeat (the paper: "
            "1000 digits, 5 repeats)",
            PRESETS["quick"],
            CPU_EVALUATORS,
            (0, 1, 2),
            "28 minutes on 2 CPU cores (measured 2026-12-03: 7 trainings in 8 minutes, then about 3 minutes of "
            "evaluation per model); not measured on a GPU",
        ),
        Protocol(
            "fashion-mnist",
            "the paper's protocol on Fashion-MNIST: ResNet18, 40 epochs, N = 5000, k = 16, alpha 10, Th 0.8, every "
            "evaluation of PAPER.md section 4 on the whole test set (boundary: 1000 images, 5 repeats)",
            _paper("fashion-mnist"),
            PAPER_EVALUATORS,
            (0, 1, 2),
            "7 trainings of 40 epochs on 60000 images plus the evaluations: for a GPU server, too long for 2 CPU "
            "cores; not measured yet (no GPU has been lent to this project)",
        ),
        Protocol(
            "mnist",
            "the paper's protocol on MNIST (needs the full MNIST files): ResNet18, 40 epochs, N = 5000, k = 16, "
            "alpha 4, Th 0.2, every evaluation of PAPER.md section 4",
            _paper("mnist"),
            PAPER_EVALUATORS,
            (0, 1, 2),
            "as fashion-mnist: for a GPU server; not measured yet (no GPU has been lent to this project)",
        ),
        Protocol(
            "cifar10-gray",
            "the paper's protocol on grayscale CIFAR-10 (needs the CIFAR-10 files): ResNet18, 40 epochs, N = 5000, "
            "k = 16, alpha 10, Th 0.8, crop+flip augmentation; noise up to 0.1 and FGSM up to 0.02 (the paper's "
            "CIFAR ranges, the evaluators' defaults for this dataset)",
            _paper("cifar10"),
            PAPER_EVALUATORS,
            (0, 1, 2),
            "for a GPU server (50000 32x32 images); not measured yet (no GPU has been lent to this project)",
        ),
    )
}


def _given(changes: dict[str, Any], field: str) -> bool:
    """Whether nested `changes` set the dotted `field` ("reg.dataset")."""
    head, _, rest = field.partition(".")
    value = changes.get(head)
    return value is not None and (not rest or (isinstance(value, dict) and _given(value, rest)))


def get_protocol(name: str, test_only_ok: bool = False) -> Protocol:
    """The named protocol; SpecError at `protocol` for an unknown one (test-only ones only when allowed)."""
    protocol = PROTOCOLS.get(name)
    if protocol is None or (protocol.test_only and not test_only_ok):
        shown = sorted(n for n, p in PROTOCOLS.items() if test_only_ok or not p.test_only)
        raise SpecError("protocol", f"unknown protocol {name!r}", f"choose one of {', '.join(shown)}")
    return protocol


@dataclass(frozen=True)
class ReportSpec:
    """A report job: a protocol, its seeds (default: the protocol's) and changes to its S^Th setting. `planned` is
    the sweep its children were planned from, pinned when the job is created: a protocol changed later does not
    change what a stored report waits for (nor what its retry trains)."""

    protocol: str
    seeds: tuple[int, ...]
    changes: dict[str, Any]
    planned: SweepSpec | None = None

    @property
    def named_protocol(self) -> Protocol:
        return get_protocol(self.protocol, test_only_ok=True)

    def sweep(self) -> SweepSpec:
        """What the report trains and evaluates: the pinned plan, else the protocol's one-setting sweep (SpecError
        naming the field)."""
        if self.planned is not None:
            return self.planned
        return self.named_protocol.sweep(self.seeds, self.changes)

    def pinned(self) -> ReportSpec:
        """This report with its plan pinned (what a report job stores)."""
        return replace(self, planned=self.sweep())

    def plan(self) -> SweepSpec:
        """What the parent job trains and evaluates: the pinned plan, else its protocol's one-setting sweep."""
        return self.sweep()

    def label(self) -> Label:
        seeds = ",".join(map(str, self.seeds))
        return Label(f"{self.protocol}: {self.sweep().base.setting_label()} vs alpha 0, seeds {seeds}")

    def datasets(self) -> dict[str, str]:
        """Its pinned plan's (SweepSpec.datasets), else those its setting names (changes.FIELD where a change names
        one, else protocol), found without validating the setting: a service vets them before anything is opened."""
        if self.planned is not None:
            return self.planned.datasets()
        named = self.named_protocol.setting(self.changes).datasets_named()
        return {
            name: f"changes.{field}" if _given(self.changes, field) else "protocol" for name, field in named.items()
        }

    def job_setting(self, model_setting: Callable[[str], str | None]) -> str | None:
        """None: a report spans its setting and the baseline."""
        return None

    def validate(self) -> ReportSpec:
        self.sweep()
        return self

    def request(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "seeds": list(self.seeds), "changes": self.changes}

    def to_dict(self) -> dict[str, Any]:
        return self.request() | ({"plan": self.planned.to_dict()} if self.planned is not None else {})

    def spec_hash(self) -> str:
        """Of the request (protocol, seeds, changes): the same submission has the same hash, pinned or not."""
        return spec_hash(self.request())

    @classmethod
    def from_dict(cls, data: Any) -> ReportSpec:
        data = json_object(data, "", ("protocol", "seeds", "changes", "plan"))
        name = json_string(data.get("protocol"), "protocol")
        protocol = get_protocol(name, test_only_ok=True)
        seeds = seed_list(data["seeds"]) if data.get("seeds") is not None else protocol.seeds
        changes = data.get("changes") or {}
        if not isinstance(changes, dict):
            raise SpecError("changes", f"must be an object (training spec fields), got {show(changes)}")
        planned = None
        if data.get("plan") is not None:
            try:
                planned = SweepSpec.from_dict(data["plan"])
            except SpecError as e:
                raise e.at("plan") from None
        return cls(name, seeds, changes, planned)
