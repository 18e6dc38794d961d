"""Requests turned into typed specs (sthlib.jobkinds) before anything is queued, plus what only this server can
check (PREFLIGHT, by job kind): uploaded datasets fetched and present, the files of built-in datasets, pairs for
the regularizer, source models that exist and fit. Every failure is a SpecError whose field is the request's own
path ("spec.reg.alpha", "evaluators.1.params.strengths.0", "grid.reg.threshold"); api.errors answers it with 422."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from api.errors import ApiError
from api.schemas import EvalJobCreate, EvaluatorRequest, SweepCreate
from api.similarity import check_pairs
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
from sthlib.evalspecs import attacks_with_source
from sthlib.jobkinds import JobKind, JobSpec
from sthlib.jobspecs import EvalJobSpec, EvaluatorCall, SweepSpec, build_sweep
from sthlib.reproduce.protocols import ReportSpec
from sthlib.specs import PRESETS, TrainSpec, merge
from sthlib.validation import SpecError, require
from store.datasets import find_dataset, materialize
from store.models import Model


def resolve_dataset(session: Session, name: str, field: str, missing: int = 422) -> DatasetInfo:
    """The dataset a request names, with an uploaded one (upload:NAME) fetched to this machine's disk first.

    `npz:PATH` (a file on the server) is for local runs only: over the API, datasets are uploaded.
    """
    code = "not_found" if missing == 404 else "invalid"
    if name.startswith(NPZ_PREFIX):
        raise SpecError(field, "npz:PATH names a file on the server and is for local runs",
                        "upload the file with POST /v1/datasets and name it upload:NAME")  # fmt: skip
    try:
        if name.startswith(UPLOAD_PREFIX):
            materialize(session, check_upload_name(name.removeprefix(UPLOAD_PREFIX)), uploads_dir())
        return dataset_info(name)
    except KeyError:
        raise ApiError(missing, code, f"no uploaded dataset {name!r}; upload it with POST /v1/datasets "
                       "(GET /v1/datasets lists the uploaded ones)", {"field": field}) from None  # fmt: skip
    except DatasetError as e:
        raise ApiError(missing, code, str(e), {"field": field}) from None


def preset_spec(preset: str | None) -> TrainSpec:
    require(preset is None or preset in PRESETS, "preset", f"unknown preset {preset!r}",
            f"choose one of {', '.join(sorted(PRESETS))}")  # fmt: skip
    return PRESETS[preset] if preset else TrainSpec()


def typed_train_spec(preset: str | None, changes: dict[str, Any], field: str = "spec") -> TrainSpec:
    """The preset changed by `changes`, every field's type and range checked (meaning: server_checks)."""
    base = preset_spec(preset).to_dict()
    try:
        return TrainSpec.from_dict(merge(base, changes))
    except SpecError as e:
        raise e.at(field) from None


def fetch_datasets(session: Session, names: dict[str, str]) -> None:
    """Each named dataset known here, an uploaded one fetched to this machine (name -> the field naming it)."""
    for name, field in names.items():
        resolve_dataset(session, name, field)


def server_checks(session: Session, spec: TrainSpec, field: str = "spec") -> None:
    """The spec's meaning (TrainSpec.validate), then this server's files and the regularizer's pairs; SpecError
    with `field` in front of the spec's own field."""
    try:
        spec.validate()
        task = spec.dataset
        if task.startswith(UPLOAD_PREFIX):
            row = find_dataset(session, task.removeprefix(UPLOAD_PREFIX))
            require(row is None or "test" in row.info.get("splits", {}), "dataset",
                    f"{task} has no test split, which a classification task needs",
                    "upload a .npz with test_images and test_labels too, or use it as reg.dataset")  # fmt: skip
        for name, where in spec.datasets_read().items():
            _require_files(name, where)
        check_pairs(spec)
    except SpecError as e:
        raise e.at(field) from None


def _require_files(dataset: str, field: str) -> None:
    try:
        where = availability(dataset)
    except DatasetError as e:
        raise SpecError(field, str(e)) from None
    if not where.available:
        raise ApiError(422, "dataset_missing", f"the files of dataset {dataset!r} are not on this server; "
                       f"{where.how_to_provide}", {"field": f"spec.{field}", "searched": where.searched})  # fmt: skip


def _request_calls(requests: list[EvaluatorRequest]) -> list[dict[str, Any]]:
    """The evaluator requests as EvaluatorCall JSON: source_model_id is params.source {"kind": "model"}."""
    calls = []
    for i, request in enumerate(requests):
        params = dict(request.params)
        if request.source_model_id is not None:
            where = f"evaluators.{i}.source_model_id"
            require(attacks_with_source(request.name), where, f"{request.name} takes no source model")
            require("source" not in params, f"evaluators.{i}.source_model_id",
                    "give the source model once: source_model_id or params.source")  # fmt: skip
            params["source"] = {"kind": "model", "ref": request.source_model_id}
        calls.append({"name": request.name, "params": params})
    return calls


def check_sources(session: Session, calls: tuple[EvaluatorCall, ...], shape: tuple[int, int], target: str) -> None:
    """Each transfer attack's source is a stored model of the same task (`shape`: classes, channels)."""
    for i, call in enumerate(calls):
        source = call.source
        if source is None or source.kind == "sweep":
            continue
        field = f"evaluators.{i}.params.source"
        require(source.kind == "model", f"{field}.kind", "checkpoint sources are for local runs (sth evaluate)",
                "upload the checkpoint with POST /v1/models and give its id")  # fmt: skip
        model = session.get(Model, source.ref)
        require(model is not None, f"{field}.ref", f"no model {source.ref!r}",
                "give an unregularized model of the same task (GET /v1/models)")  # fmt: skip
        assert model is not None
        require((model.num_classes, model.in_channels) == shape, f"{field}.ref",
                f"source model {model.id} has {model.num_classes} classes and {model.in_channels} channels; "
                f"{target} {shape[0]} and {shape[1]}")  # fmt: skip


def eval_job_spec(session: Session, body: EvalJobCreate) -> EvalJobSpec:
    """The evaluation a request asks for (404 for an unknown model; the rest is PREFLIGHT's)."""
    model = session.get(Model, body.model_id)
    if model is None:
        raise ApiError(404, "not_found", f"no model {body.model_id!r}", {"field": "model_id"})
    return EvalJobSpec.from_dict({"model_id": model.id, "evaluators": _request_calls(body.evaluators)})


def sweep_spec(body: SweepCreate) -> SweepSpec:
    """The sweep a request asks for, its types checked (its meaning and this server's checks: PREFLIGHT);
    transfer_fgsm without a source model attacks with an unregularized source model the sweep trains (seed
    max(seeds) + 1)."""
    base = typed_train_spec(body.preset, body.spec)
    return build_sweep(base, body.grid, body.seeds, _request_calls(body.evaluators), body.select_by,
                       body.min_r0_u0, check=False)  # fmt: skip


def _check_evaluation(session: Session, spec: EvalJobSpec) -> None:
    model = session.get(Model, spec.model_id)
    if model is None:
        raise ApiError(422, "invalid", f"model {spec.model_id} no longer exists", {"field": "model_id"})
    check_sources(session, spec.validate().evaluators, (model.num_classes, model.in_channels), "the model has")


def check_sweep(session: Session, sweep: SweepSpec) -> None:
    """The sweep's meaning, then this server's checks for every training of it and its evaluators' source models."""
    trainings = sweep.validate().trainings()
    for training in trainings:
        try:
            server_checks(session, training.spec, "")
        except SpecError as e:
            raise training.blame(e) from None
    task = trainings[0].spec
    shape = (dataset_info(task.dataset).num_classes, task.in_channels)
    check_sources(session, sweep.evaluators, shape, "the sweep's task has")


def _check_report(session: Session, spec: ReportSpec) -> None:
    check_sweep(session, spec.sweep())  # SpecError at protocol, seeds.N or changes.FIELD: a 422 naming it


def _check_training(session: Session, spec: TrainSpec) -> None:
    server_checks(session, spec, "spec")


# What this server checks before a job of each kind is queued, and again before one is retried (datasets, their
# files and source models may be gone since), after the uploaded datasets its spec reads are fetched
# (tests/test_jobkinds.py: one entry per kind)
PREFLIGHT: dict[JobKind, Callable[[Session, Any], None]] = {
    JobKind.train: _check_training,
    JobKind.evaluate: _check_evaluation,
    JobKind.sweep: check_sweep,
    JobKind.report: _check_report,
}


def preflight(session: Session, kind: JobKind, spec: JobSpec) -> None:
    """Every check before a job of `kind` is queued: the uploaded datasets its spec reads fetched to this machine
    (404/422 naming the field for a missing one), then its kind's PREFLIGHT."""
    fetch_datasets(session, spec.datasets())
    PREFLIGHT[kind](session, spec)
