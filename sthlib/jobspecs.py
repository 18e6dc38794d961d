"""The specs of evaluation and sweep jobs, EvalJobSpec and SweepSpec (a training's is sthlib.specs.TrainSpec, a
report's sthlib.reproduce.protocols.ReportSpec; sthlib.jobkinds maps each job kind to its spec). Torch-free.

Each is built once (the API from a request, the CLI from its options), stored as its to_dict() JSON, and read back
with from_dict() by the worker, the sweep and retry; nobody reads raw keys of a spec dict. from_dict checks types,
ranges and enums (sthlib.validation.parse); validate() checks meaning. Both raise SpecError naming the field path.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sthlib.evalspecs import EVAL_SPECS, SWEEP_SOURCE, CommonParams, EvalSpec, SourceRef, eval_spec
from sthlib.specjson import fraction, json_list, json_object, json_string, seed_list, spec_hash
from sthlib.specs import Label, RegSpec, TrainSpec
from sthlib.validation import SpecError, require, show

MAX_EVALUATORS = 16
MAX_GRID_VALUES = 16
MAX_SWEEP_TRAININGS = 48


@dataclass(frozen=True)
class EvaluatorCall:
    """One evaluator with its checked parameters."""

    name: str
    params: CommonParams

    @property
    def spec(self) -> EvalSpec:
        return EVAL_SPECS[self.name]

    @property
    def source(self) -> SourceRef | None:
        """The source model a transfer attack needs (None for evaluators that need none)."""
        return getattr(self.params, "source", None)

    def with_source(self, source: SourceRef) -> EvaluatorCall:
        return replace(self, params=replace(self.params, source=source))  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": self.params.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, field: str = "") -> EvaluatorCall:
        data = json_object(data, field, ("name", "params"))
        name = json_string(data.get("name"), f"{field}.name".lstrip("."))
        spec = eval_spec(name, f"{field}.name".lstrip("."))
        return cls(name, spec.make_params(data.get("params") or {}, f"{field}.params".lstrip(".")))

    @classmethod
    def make(cls, name: str, **params: Any) -> EvaluatorCall:
        return cls.from_dict({"name": name, "params": params})


def _calls(data: Any, field: str) -> tuple[EvaluatorCall, ...]:
    items = json_list(data, field, MAX_EVALUATORS)
    calls = tuple(EvaluatorCall.from_dict(item, f"{field}.{i}") for i, item in enumerate(items))
    for i, call in enumerate(calls):
        first = next(j for j, c in enumerate(calls) if c.name == call.name)
        require(first == i, f"{field}.{i}.name", f"{call.name} appears twice (also {field}.{first})",
                "a job runs each evaluator once: give it all the strengths in one entry")  # fmt: skip
    return calls


@dataclass(frozen=True)
class EvalJobSpec:
    """Evaluators on one stored model."""

    model_id: str
    evaluators: tuple[EvaluatorCall, ...]

    def validate(self) -> EvalJobSpec:
        for i, call in enumerate(self.evaluators):
            if call.spec.sourced:
                source = call.source
                require(source is not None and source.kind != "sweep", f"evaluators.{i}.params.source",
                        f"{call.name} needs a source model: an unregularized model of the same task",
                        'give source_model_id, or params.source {"kind": "model", "ref": ID}')  # fmt: skip
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, "evaluators": [c.to_dict() for c in self.evaluators]}

    def spec_hash(self) -> str:
        return spec_hash(self.to_dict())

    def label(self) -> Label:
        return Label(", ".join(call.name for call in self.evaluators), self.model_id)

    def datasets(self) -> dict[str, str]:
        """None of its own: the runner fetches its model's dataset (it learns which from the stored model)."""
        return {}

    def job_setting(self, model_setting: Callable[[str], str | None]) -> str | None:
        """The setting of the model it evaluates."""
        return model_setting(self.model_id)

    @classmethod
    def from_dict(cls, data: Any) -> EvalJobSpec:
        data = json_object(data, "", ("model_id", "evaluators"))
        return cls(json_string(data.get("model_id"), "model_id"), _calls(data.get("evaluators"), "evaluators"))


# Grid keys: TrainSpec fields (not seed: seeds are their own list; not reg: its fields are reg.FIELD; of speed only
# speed.amp, the one speed field that changes the setting)
GRID_KEYS = tuple(
    [f for f in TrainSpec.__dataclass_fields__ if f not in ("seed", "reg", "speed")]
    + [f"reg.{f}" for f in RegSpec.__dataclass_fields__]
    + ["speed.amp"]
)


@dataclass(frozen=True)
class Training:
    """One training a sweep plans: its grid point ({} for the baseline and the source), seed and spec."""

    setting: dict[str, Any]
    spec: TrainSpec
    role: str  # "setting", "baseline" or "source" (transfer_fgsm's unregularized source model)

    def blame(self, e: SpecError) -> SpecError:
        """`e`, raised for this training's spec, as an error of the sweep request: at grid.KEY when a grid value
        caused it, else at spec.FIELD, its message saying which training."""
        label = json.dumps(self.setting) if self.setting else f"the {self.role} (reg.alpha 0)"
        point = next((k for k in self.setting if e.field.startswith(k)), None)
        where = f"grid.{point}" if point is not None else f"spec.{e.field}"
        return SpecError(where, f"{label}, seed {self.spec.seed}: {e.message}", e.hint)


@dataclass(frozen=True)
class SweepSpec:
    """Train every grid point for every seed, an unregularized baseline per seed (reg.alpha 0) and, when a
    transfer attack names no source model, its separately trained unregularized source (seed max(seeds) + 1);
    evaluate every model but the source; select the setting with the largest area under `select_by`'s curve among
    those whose clean accuracy keeps R0/U0 >= min_r0_u0 (PAPER.md)."""

    base: TrainSpec
    grid: dict[str, list[Any]]
    seeds: tuple[int, ...]
    evaluators: tuple[EvaluatorCall, ...]
    select_by: str
    min_r0_u0: float = 0.9

    @property
    def source_seed(self) -> int | None:
        """The seed of the source model the sweep trains (None when every transfer attack names its source)."""
        trains = any(c.source == SWEEP_SOURCE for c in self.evaluators)
        return max(self.seeds) + 1 if trains else None

    def points(self) -> list[dict[str, Any]]:
        return [dict(zip(self.grid, combo, strict=True)) for combo in itertools.product(*self.grid.values())]

    def trainings(self) -> list[Training]:
        """Every child training, each spec type-checked (SpecError at grid.KEY for a bad grid value)."""
        planned = [Training(p, self._child(p, seed), "setting") for p in self.points() for seed in self.seeds]
        planned += [Training({}, self._child({"reg.alpha": 0.0}, seed), "baseline") for seed in self.seeds]
        if self.source_seed is not None:
            planned.append(Training({}, self._child({"reg.alpha": 0.0}, self.source_seed), "source"))
        return planned

    def _child(self, point: dict[str, Any], seed: int) -> TrainSpec:
        try:
            return self.base.replace(**point, seed=seed)
        except SpecError as e:
            key = e.field if e.field in point else next((k for k in point if e.field.startswith(k)), None)
            raise (e.at("grid") if key is not None else e.at("spec")) from None

    def validate(self) -> SweepSpec:
        """Everything but the server's own checks (dataset files, pairs): grid keys and values, seeds, the number
        of trainings, each child's meaning, the selection evaluator."""
        for key, values in self.grid.items():
            require(key in GRID_KEYS, f"grid.{key}", "unknown grid key",
                    "use TrainSpec fields (lr, epochs, ...) or reg.FIELD (reg.alpha, reg.threshold, ...); seeds go "
                    "in `seeds`")  # fmt: skip
            require(isinstance(values, list) and 1 <= len(values) <= MAX_GRID_VALUES, f"grid.{key}",
                    f"give 1 to {MAX_GRID_VALUES} values, got {show(values)}")  # fmt: skip
            require(len({json.dumps(v, sort_keys=True) for v in values}) == len(values), f"grid.{key}",
                    f"values repeat: {show(values)}")  # fmt: skip
        for i, alpha in enumerate(self.grid.get("reg.alpha", [])):
            ok = isinstance(alpha, int | float) and not isinstance(alpha, bool) and alpha > 0
            require(ok, f"grid.reg.alpha.{i}", f"must be > 0, got {show(alpha)}",
                    "the sweep trains the unregularized baseline (alpha 0) itself")  # fmt: skip
        require(self.base.reg.enabled or "reg.alpha" in self.grid, "grid",
                "every setting is unregularized", "sweep reg.alpha, or set reg.alpha in spec")  # fmt: skip
        count = (len(self.points()) + 1) * len(self.seeds) + (self.source_seed is not None)
        if count > MAX_SWEEP_TRAININGS:
            source = " and transfer_fgsm's source model" if self.source_seed is not None else ""
            message = (f"the sweep would train {count} models ({len(self.points())} settings and a baseline, "
                       f"{len(self.seeds)} seeds{source}); the limit is {MAX_SWEEP_TRAININGS}")  # fmt: skip
            raise SpecError("grid", message)
        for training in self.trainings():
            try:
                training.spec.validate()
            except SpecError as e:
                raise training.blame(e) from None
        curves = [c.name for c in self.evaluators if c.spec.kind == "curve"]
        require(self.select_by in curves, "select_by",
                f"must name one of the sweep's curve evaluators ({', '.join(curves) or 'none'}), got "
                f"{show(self.select_by)}", "settings are ranked by the area under that curve")  # fmt: skip
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"base": self.base.to_dict(), "grid": self.grid, "seeds": list(self.seeds),
                "evaluators": [c.to_dict() for c in self.evaluators], "select_by": self.select_by,
                "min_r0_u0": self.min_r0_u0, "source_seed": self.source_seed}  # fmt: skip

    def spec_hash(self) -> str:
        return spec_hash(self.to_dict())

    def label(self) -> Label:
        """'small_cnn mnist-5k e1: reg.alpha 0.1|1 x reg.threshold 0.2|0.8, 2 seeds, by gaussian'"""
        base = self.base
        grid = " x ".join(f"{key} {'|'.join(map(_short, values))}" for key, values in self.grid.items())
        seeds = f"seed {self.seeds[0]}" if len(self.seeds) == 1 else f"{len(self.seeds)} seeds"
        return Label(f"{base.arch} {base.dataset} e{base.epochs}: {grid}, {seeds}, by {self.select_by}")

    def datasets(self) -> dict[str, str]:
        """Dataset name -> the field of a sweep request that names it: spec.FIELD for the base's, grid.KEY for the
        names a grid gives (read from the grid as given: its values' types are validate()'s to check)."""
        read = {name: f"spec.{field}" for name, field in self.base.datasets_named().items()}
        for key in ("dataset", "reg.dataset"):
            read.update({name: f"grid.{key}" for name in self.grid.get(key, []) if isinstance(name, str)})
        return read

    def job_setting(self, model_setting: Callable[[str], str | None]) -> str | None:
        """None: a sweep spans settings."""
        return None

    def plan(self) -> SweepSpec:
        """What the parent job trains and evaluates: itself."""
        return self

    def pinned(self) -> SweepSpec:
        return self

    @classmethod
    def from_dict(cls, data: Any) -> SweepSpec:
        # source_seed is derived (seeds, evaluators): stored for readers, read back from what it is derived from
        data = json_object(data, "", ("base", "grid", "seeds", "evaluators", "select_by", "min_r0_u0", "source_seed"))
        base = TrainSpec.from_dict(data.get("base") or {}) if isinstance(data.get("base"), dict | None) else None
        if base is None:
            raise SpecError("base", f"must be an object of TrainSpec fields, got {show(data.get('base'))}")
        return cls(base=base, grid=_grid(data.get("grid")), seeds=seed_list(data.get("seeds", [0])),
                   evaluators=_calls(data.get("evaluators"), "evaluators"),
                   select_by=json_string(data.get("select_by"), "select_by"),
                   min_r0_u0=fraction(data.get("min_r0_u0", 0.9), "min_r0_u0"))  # fmt: skip


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _grid(data: Any) -> dict[str, list[Any]]:
    if not isinstance(data, dict):
        raise SpecError("grid", f"must be an object of field -> values, got {show(data)}")
    grid: dict[str, Any] = data
    require(len(grid) >= 1, "grid", "must name at least one field", 'e.g. {"reg.alpha": [1, 10]}')
    for key, values in grid.items():
        require(key in GRID_KEYS, f"grid.{key}", "unknown grid key",
                "use TrainSpec fields (lr, epochs, ...) or reg.FIELD (reg.alpha, reg.threshold, ...); seeds go in "
                "`seeds`")  # fmt: skip
        json_list(values, f"grid.{key}", MAX_GRID_VALUES)
    return {key: list(values) for key, values in grid.items()}


def build_sweep(base: TrainSpec, grid: Any, seeds: Any, evaluators: list[Any], select_by: str | None,
                min_r0_u0: Any = 0.9, check: bool = True) -> SweepSpec:  # fmt: skip
    """A SweepSpec from a request's parts, its types checked and, with `check`, its meaning (validate(), which
    needs the datasets it names on disk): a transfer attack without a source attacks with the source model the
    sweep trains; select_by defaults to the first curve evaluator."""
    calls = _calls(evaluators, "evaluators")
    calls = tuple(c.with_source(SWEEP_SOURCE) if c.spec.sourced and c.source is None else c for c in calls)
    curves = [c.name for c in calls if c.spec.kind == "curve"]
    chosen = select_by if select_by is not None else (curves[0] if curves else "")
    sweep = SweepSpec(base=base, grid=_grid(grid), seeds=seed_list(seeds), evaluators=calls, select_by=chosen,
                      min_r0_u0=fraction(min_r0_u0, "min_r0_u0"))  # fmt: skip
    return sweep.validate() if check else sweep
