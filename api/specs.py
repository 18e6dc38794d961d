"""Turning requests into validated specs before anything is queued (422 with a message that says what to change)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from typing import Any

from sqlalchemy.orm import Session

from api.errors import ApiError, invalid, not_found
from api.schemas import EvalJobCreate, EvaluatorRequest, SweepCreate
from api.similarity import check_pairs
from api.spectypes import check_fields
from sthlib.data import (
    UPLOAD_PREFIX,
    DatasetError,
    DatasetInfo,
    availability,
    check_upload_name,
    dataset_info,
    uploads_dir,
)
from sthlib.data.registry import NPZ_PREFIX
from sthlib.evalspecs import EVAL_SPECS
from sthlib.specs import PRESETS, RegSpec, TrainSpec, nest_dotted
from store.datasets import find_dataset, materialize
from store.jobs import SWEEP_SOURCE, spec_hash
from store.models import Model


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if key == "reg" and isinstance(value, dict):
            merged["reg"] = {**(base.get("reg") or {}), **value}
        else:
            merged[key] = value
    return merged


def _field_of(message: str) -> str | None:
    """The field a validation message is about (its first word); regularizer fields get their reg. prefix."""
    match = re.match(r"(?:unknown )?([a-z_.]+)", message)
    if match is None:
        return None
    name = match.group(1)
    return f"reg.{name}" if f"reg.{name}" in _REG_FIELDS and name not in _TRAIN_FIELDS else name


def resolve_dataset(session: Session, name: str, field: str, missing: int = 422) -> DatasetInfo:
    """The dataset a request names, with an uploaded one (upload:NAME) fetched to this machine's disk first.

    `npz:PATH` (a file on the server) is for local runs only: over the API, datasets are uploaded.
    """
    code = "not_found" if missing == 404 else "invalid"
    if name.startswith(NPZ_PREFIX):
        raise invalid("npz:PATH names a file on the server and is for local runs; upload the file with "
                      "POST /v1/datasets and name it upload:NAME", field)  # fmt: skip
    try:
        if name.startswith(UPLOAD_PREFIX):
            materialize(session, check_upload_name(name.removeprefix(UPLOAD_PREFIX)), uploads_dir())
        return dataset_info(name)
    except KeyError:
        raise ApiError(missing, code, f"no uploaded dataset {name!r}; upload it with POST /v1/datasets "
                       "(GET /v1/datasets lists the uploaded ones)", {"field": field}) from None  # fmt: skip
    except DatasetError as e:
        raise ApiError(missing, code, str(e), {"field": field}) from None


def train_spec(session: Session, preset: str | None, changes: dict[str, Any]) -> TrainSpec:
    if preset is not None and preset not in PRESETS:
        raise invalid(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}", "preset")
    check_fields(changes, TrainSpec)  # reg an object, numbers numbers: what follows may compare and merge them
    base = (PRESETS[preset] if preset else TrainSpec()).to_dict()
    merged = _merge(base, changes)
    for name, field in ((merged.get("dataset"), "dataset"), ((merged.get("reg") or {}).get("dataset"), "reg.dataset")):
        if isinstance(name, str):
            resolve_dataset(session, name, field)
    task = merged.get("dataset")
    if isinstance(task, str) and task.startswith(UPLOAD_PREFIX):
        row = find_dataset(session, task.removeprefix(UPLOAD_PREFIX))
        if row is not None and "test" not in row.info.get("splits", {}):
            raise invalid(f"{task} has no test split, which a classification task needs: upload a .npz with "
                          "test_images and test_labels too, or use it as reg.dataset", "dataset")  # fmt: skip
    try:
        spec = TrainSpec.from_dict(merged).validate()
    except (TypeError, ValueError) as e:
        raise invalid(str(e), _field_of(str(e))) from None
    for name in {spec.dataset, spec.reg.dataset or spec.dataset} if spec.reg.enabled else {spec.dataset}:
        _require_files(name)
    check_pairs(spec)
    return spec


def _require_files(dataset: str) -> None:
    try:
        where = availability(dataset)
    except DatasetError as e:
        raise invalid(str(e), "dataset") from None
    if not where.available:
        raise ApiError(422, "dataset_missing", f"the files of dataset {dataset!r} are not on this server; "
                       f"{where.how_to_provide}", {"field": "dataset", "searched": where.searched})  # fmt: skip


def eval_job_spec(session: Session, body: EvalJobCreate) -> tuple[dict[str, Any], str]:
    model = session.get(Model, body.model_id)
    if model is None:
        raise not_found("model", body.model_id)
    spec = {"model_id": model.id, "evaluators": checked_evaluators(session, body.evaluators, model)}
    return spec, spec_hash(spec)


def checked_evaluators(session: Session, requests: list[EvaluatorRequest], model: Model | None,
                       task: tuple[int, int] | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """[{name, params}] with every parameter validated. `model` None: for the models a sweep has yet to train, whose
    (classes, channels) is `task`; there a transfer_fgsm without a source model gets SWEEP_SOURCE (the sweep
    trains one)."""
    evaluators = []
    for index, request in enumerate(requests):
        where = f"evaluators.{index}"
        if request.name not in EVAL_SPECS:
            raise invalid(f"unknown evaluator {request.name!r}; choose one of {', '.join(EVAL_SPECS)}", where)
        params = dict(request.params)
        check_fields(params, EVAL_SPECS[request.name].params, f"{where}.params.")
        if request.name == "transfer_fgsm":
            params["source"] = _transfer_source(session, request, model, task, where)
        try:
            checked = EVAL_SPECS[request.name].make_params(params).to_dict()
        except (TypeError, ValueError) as e:
            raise invalid(str(e), where) from None
        evaluators.append({"name": request.name, "params": checked})
    return evaluators


def _transfer_source(session: Session, request: EvaluatorRequest, model: Model | None, task: tuple[int, int] | None,
                     where: str) -> str:  # fmt: skip
    """The id of transfer_fgsm's source model, checked against the attacked model's (or the sweep's) task."""
    if _sweep_trains_source(request, model):
        return SWEEP_SOURCE
    named = _named_source(request)
    source = session.get(Model, named)
    if source is None:
        raise invalid("transfer_fgsm needs source_model_id: an unregularized model of the same task"
                      + (f"; no model {named!r}" if named else ""), where)  # fmt: skip
    shape = (model.num_classes, model.in_channels) if model is not None else task
    assert shape is not None, "a sweep's evaluators are checked against its task"
    if (source.num_classes, source.in_channels) != shape:
        target = "the model has" if model is not None else "the sweep's task has"
        raise invalid(f"source model {source.id} has {source.num_classes} classes and {source.in_channels} "
                      f"channels; {target} {shape[0]} and {shape[1]}", where)  # fmt: skip
    return source.id


def _named_source(request: EvaluatorRequest) -> str:
    return request.source_model_id or str(request.params.get("source") or "")


def _sweep_trains_source(request: EvaluatorRequest, model: Model | None) -> bool:
    """A sweep's transfer_fgsm that names no source model: the sweep trains an unregularized one."""
    return request.name == "transfer_fgsm" and model is None and _named_source(request) in ("", SWEEP_SOURCE)


MAX_SWEEP_TRAININGS = 48
_TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainSpec)} - {"reg", "seed"}
_REG_FIELDS = {f"reg.{f.name}" for f in dataclasses.fields(RegSpec)}


def sweep_plan(session: Session, body: SweepCreate) -> tuple[dict[str, Any], list[tuple[dict[str, Any], TrainSpec]]]:
    """(the sweep's stored spec, [(setting, child TrainSpec)]): every grid point for every seed, then one
    unregularized baseline per seed (reg.alpha = 0, setting {}), each validated as a train job would be; last, when
    transfer_fgsm names no source model, the unregularized source it attacks with (PAPER.md: a separately trained
    model), seed max(seeds) + 1, stored as `source_seed`."""
    check_fields(body.spec, TrainSpec)  # every child merges its grid point into it
    unknown = sorted(set(body.grid) - _TRAIN_FIELDS - _REG_FIELDS)
    if unknown:
        raise invalid(f"grid: unknown key(s) {', '.join(unknown)}; use TrainSpec fields (lr, epochs, ...) or "
                      "reg.FIELD (reg.alpha, reg.threshold, ...); seeds go in `seeds`", "grid")  # fmt: skip
    for key, values in body.grid.items():
        if not values or len(values) > 16 or len({json.dumps(v) for v in values}) != len(values):
            raise invalid(f"grid.{key}: give 1 to 16 distinct values", f"grid.{key}")
    if any(not isinstance(a, int | float) or a <= 0 for a in body.grid.get("reg.alpha", [])):
        raise invalid("grid.reg.alpha: values must be > 0; the sweep trains the unregularized baseline (alpha 0) "
                      "itself", "grid.reg.alpha")  # fmt: skip
    points = [dict(zip(body.grid, combo, strict=True)) for combo in itertools.product(*body.grid.values())]
    seeds = list(dict.fromkeys(body.seeds))
    source_seed = max(seeds) + 1 if any(_sweep_trains_source(r, None) for r in body.evaluators) else None
    trainings = (len(points) + 1) * len(seeds) + (source_seed is not None)
    if trainings > MAX_SWEEP_TRAININGS:
        source = " and transfer_fgsm's source model" if source_seed is not None else ""
        raise invalid(f"the sweep would train {trainings} models ({len(points)} settings and a baseline, "
                      f"{len(seeds)} seeds{source}); the limit is {MAX_SWEEP_TRAININGS}", "grid")  # fmt: skip
    runs = [(setting, seed) for setting in [*points, {}] for seed in seeds]
    children: list[tuple[dict[str, Any], TrainSpec]] = []
    for setting, seed in runs + ([({}, source_seed)] if source_seed is not None else []):
        extra = nest_dotted({**setting, "seed": seed, **({} if setting else {"reg.alpha": 0.0})})
        changes = _merge(body.spec, extra)
        try:
            spec = train_spec(session, body.preset, changes)
        except ApiError as e:
            label = json.dumps(setting) if setting else "the baseline (reg.alpha 0)"
            raise ApiError(e.status, e.code, f"{label}, seed {seed}: {e.message}", e.details) from None
        children.append((setting, spec))
    if all(spec.reg.alpha == 0 for _, spec in children):
        raise invalid("every setting is unregularized: sweep reg.alpha, or set reg.alpha in spec", "grid")
    task = children[0][1]
    shape = (dataset_info(task.dataset).num_classes, task.in_channels)
    evaluators = checked_evaluators(session, body.evaluators, None, shape)
    curves = [e["name"] for e in evaluators if EVAL_SPECS[e["name"]].kind == "curve"]
    select_by = body.select_by or (curves[0] if curves else None)
    if select_by not in curves:
        raise invalid(f"select_by must name one of the sweep's curve evaluators ({', '.join(curves) or 'none'}): "
                      "settings are ranked by the area under that curve", "select_by")  # fmt: skip
    stored = {"preset": body.preset, "spec": body.spec, "grid": body.grid, "seeds": seeds,
              "evaluators": evaluators, "select_by": select_by, "min_r0_u0": body.min_r0_u0,
              "source_seed": source_seed}  # fmt: skip
    return stored, children
