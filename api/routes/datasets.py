"""Datasets: the built-in ones (on disk), uploaded .npz files (in the database), and their pixel similarity."""

from __future__ import annotations

import pathlib
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import SessionDep, UserDep
from api.errors import ApiError, invalid, responses
from api.inputs import Name, Text
from api.schemas import DatasetPublic, SimilarityPublic
from api.similarity import EXACT_IMAGES, summary
from api.specs import resolve_dataset
from api.uploads import copy_limited, pieces
from sthlib.data import (
    UPLOAD_PREFIX,
    DatasetError,
    availability,
    check_upload_name,
    dataset_info,
    dataset_names,
    uploads_dir,
)
from sthlib.data.npz import inspect_npz
from store.blobs import put_blob
from store.datasets import find_dataset
from store.models import Dataset

router = APIRouter(prefix="/v1", tags=["datasets"], responses=responses(401))
DatasetName = Annotated[
    Name,
    Path(
        description="a built-in name or upload:NAME",
        openapi_examples={"mnist-5k": {"summary": "built in", "value": "mnist-5k"}},
    ),
]


def builtin_public(name: str) -> DatasetPublic:
    info, where = dataset_info(name), availability(name)
    return DatasetPublic(name=name, origin="builtin", classes=info.num_classes, channels=info.channels,
                         size=info.size, description=info.description, available=where.available,
                         location=where.location, searched=where.searched,
                         how_to_provide=where.how_to_provide)  # fmt: skip


def upload_public(row: Dataset) -> DatasetPublic:
    i = row.info
    return DatasetPublic(name=f"{UPLOAD_PREFIX}{row.name}", origin="uploaded", classes=i["classes"],
                         channels=i["channels"], size=i["size"], description=i.get("description", ""),
                         available=True, owner=row.owner.name, splits=i["splits"], bytes=i["bytes"],
                         sha256=i["sha256"], created_at=row.created_at)  # fmt: skip


@router.get("/datasets")
def list_datasets(session: SessionDep, _: UserDep) -> list[DatasetPublic]:
    """Built-in datasets (whether their files are on this server, where, how to provide a missing one), then the
    uploaded ones, named upload:NAME in job specs."""
    uploaded = session.scalars(select(Dataset).order_by(Dataset.created_at))
    return [builtin_public(n) for n in dataset_names()] + [upload_public(d) for d in uploaded]


@router.get("/datasets/{name}", responses=responses(404))
def get_dataset(name: DatasetName, session: SessionDep, _: UserDep) -> DatasetPublic:
    """One dataset: a built-in name or upload:NAME."""
    if name.startswith(UPLOAD_PREFIX):
        row = find_dataset(session, name.removeprefix(UPLOAD_PREFIX))
        if row is None:
            raise ApiError(404, "not_found", f"no uploaded dataset {name!r}; GET /v1/datasets lists them")
        return upload_public(row)
    if name not in dataset_names():
        raise ApiError(404, "not_found", f"no dataset {name!r}; choose one of {', '.join(dataset_names())} "
                       "or an upload:NAME of GET /v1/datasets")  # fmt: skip
    return builtin_public(name)


@router.post("/datasets", status_code=201, responses=responses(409, 413))
def upload_dataset(
    session: SessionDep, user: UserDep, request: Request,
    file: Annotated[UploadFile, File(description=".npz with arrays images, labels (optional test_images, "
                                                 "test_labels); uint8 or float in [0,1]; NCHW, NHWC or NHW")],
    name: Annotated[str, Form(description="lowercase letters, digits, - and _; jobs name it upload:NAME",
                              examples=["my-digits"])],
    description: Annotated[Text, Form(max_length=500)] = "",
) -> DatasetPublic:  # fmt: skip
    """Upload a dataset as .npz. It is checked (zip of .npy arrays only, never unpickled, size-limited as sent and
    by every array's header before inflating, shapes and labels consistent), stored in the database, and usable at
    once as upload:NAME in train and eval jobs. Float images are stored as the uint8 that training reads (x * 255,
    rounded; labels as int64): then `bytes` and `sha256` are those of the stored file, not of the one sent."""
    try:
        check_upload_name(name)
    except DatasetError as e:
        raise invalid(str(e), "name") from None
    if find_dataset(session, name) is not None:
        raise _taken(name)
    limit = request.app.state.settings.max_dataset_bytes
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.{uuid.uuid4().hex}.upload"
    uint8_copy = partial.with_suffix(".uint8")
    try:
        with partial.open("wb") as target:
            copy_limited(file.file, target, limit, "STH_MAX_DATASET_BYTES")
        try:
            checked = inspect_npz(partial, f"{UPLOAD_PREFIX}{name}", limit, uint8_copy)
        except DatasetError as e:
            raise invalid(str(e).replace(str(partial), "the file"), "file") from None
        kept = uint8_copy if checked.converted else partial  # float images are kept as the uint8 training reads
        info = checked.info
        row = _store(session, user.id, name, kept, {
            "classes": info.num_classes, "channels": info.channels, "size": info.size, "splits": checked.splits,
            "description": description, "converted_to_uint8": checked.converted})  # fmt: skip
        kept.replace(folder / f"{name}.npz")
    finally:
        partial.unlink(missing_ok=True)
        uint8_copy.unlink(missing_ok=True)
    return upload_public(row)


def _taken(name: str) -> ApiError:
    return ApiError(409, "conflict", f"dataset upload:{name} already exists; uploads are immutable, choose another "
                    "name")  # fmt: skip


def _store(session: Session, owner_id: str, name: str, path: pathlib.Path, info: dict[str, Any]) -> Dataset:
    """The file as a blob (which measures and hashes it) and its row; 409 if another upload took the name first."""
    with path.open("rb") as f:
        blob = put_blob(session, pieces(f))
    row = Dataset(name=name, owner_id=owner_id, blob_id=blob.id, info={**info, "bytes": blob.size,
                                                                       "sha256": blob.sha256})  # fmt: skip
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise _taken(name) from None
    session.refresh(row)
    return row


@router.get("/datasets/{name}/similarity", responses=responses(404))
def dataset_similarity(
    name: DatasetName, session: SessionDep, _: UserDep,
    threshold: Annotated[float, Query(gt=0, lt=1, description="Th")] = 0.8,
    threshold_low: Annotated[float | None, Query(gt=0, lt=1, description="Th2 of variant double")] = None,
    images: Annotated[int, Query(ge=2, le=EXACT_IMAGES, description="N: the first N training images "
                                 "(as the regularizer's reg.n_images)")] = 5000,
    color: Literal["gray", "rgb"] = "gray",
    bins: Annotated[int, Query(ge=1, le=1000)] = 40,
) -> SimilarityPublic:  # fmt: skip
    """Histogram of the pixel similarity S over all pairs of the first N training images, the fraction of pairs
    each variant trains on at Th, and the share of +1 / 0 / -1 targets: choose Th with it."""
    info = resolve_dataset(session, name, "name", missing=404)
    try:
        found = summary(name, color, images, threshold, threshold_low, bins)
    except DatasetError as e:
        raise ApiError(422, "dataset_missing", str(e), {"field": "name"}) from None
    except ValueError as e:
        raise invalid(str(e), "threshold_low") from None
    return SimilarityPublic(dataset=info.name, color=color, **found)
