"""Turning requests into validated specs before anything is queued (422 with a message that says what to change)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import ApiError, invalid, not_found
from api.schemas import EvalJobCreate
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
from sthlib.evalspecs import EVAL_SPECS
from sthlib.specs import PRESETS, TrainSpec
from store.datasets import materialize
from store.models import Dataset, Model


def _merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if key == "reg" and isinstance(value, dict):
            merged["reg"] = {**base.get("reg", {}), **value}
        else:
            merged[key] = value
    return merged


def _field_of(message: str) -> str | None:
    match = re.match(r"(?:unknown )?([a-z_.]+)", message)
    return match.group(1) if match else None


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
    base = (PRESETS[preset] if preset else TrainSpec()).to_dict()
    merged = _merge(base, changes)
    for name, field in ((merged.get("dataset"), "dataset"), ((merged.get("reg") or {}).get("dataset"), "reg.dataset")):
        if isinstance(name, str):
            resolve_dataset(session, name, field)
    task = merged.get("dataset")
    if isinstance(task, str) and task.startswith(UPLOAD_PREFIX):
        row = session.scalars(select(Dataset).where(Dataset.name == task.removeprefix(UPLOAD_PREFIX))).one()
        if "test" not in row.info.get("splits", {}):
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
    evaluators = []
    for index, request in enumerate(body.evaluators):
        where = f"evaluators.{index}"
        if request.name not in EVAL_SPECS:
            raise invalid(f"unknown evaluator {request.name!r}; choose one of {', '.join(EVAL_SPECS)}", where)
        params = dict(request.params)
        if request.name == "transfer_fgsm":
            source = session.get(Model, request.source_model_id or "")
            if source is None:
                raise invalid("transfer_fgsm needs source_model_id: an unregularized model of the same task", where)
            if (source.num_classes, source.in_channels) != (model.num_classes, model.in_channels):
                raise invalid(f"source model {source.id} has {source.num_classes} classes and "
                              f"{source.in_channels} channels; the model has {model.num_classes} and "
                              f"{model.in_channels}", where)  # fmt: skip
            params["source"] = source.id
        try:
            checked = EVAL_SPECS[request.name].make_params(params).to_dict()
        except (TypeError, ValueError) as e:
            raise invalid(str(e), where) from None
        evaluators.append({"name": request.name, "params": checked})
    spec = {"model_id": model.id, "evaluators": evaluators}
    return spec, hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
