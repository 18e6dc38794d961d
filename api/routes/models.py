"""Models and their results: list, inspect, rename and tag, upload, download the checkpoint (streamed, with its
sha256), their results and training history; compare.py sets them side by side."""

from __future__ import annotations

import urllib.parse
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import SessionDep, UserDep, get_model_or_404, require_owner
from api.errors import invalid, responses, too_large
from api.inputs import Name, Name128
from api.schemas import ModelDetail, ModelPublic, ModelUpdate, ResultPublic, ResultSummary
from api.specs import resolve_dataset
from api.uploads import file_size, inspect_safetensors, pieces, sthlib_metadata
from sthlib.evaluate.metrics import normalized_auc
from sthlib.evaluate.results import PerturbationSummary, RobustnessCurve
from sthlib.specs import ARCHITECTURE_NAMES, TrainSpec
from store.blobs import put_blob, stream_blob
from store.models import EvalResult, Job, Model, json_safe

router = APIRouter(prefix="/v1", tags=["models"], responses=responses(401))
ModelId = Annotated[Name, Path(description="a model's id (GET /v1/models)")]
MAX_CLASSES = 100_000  # far above any classification task here; keeps num_classes in its Integer column


def model_public(model: Model, sweep_id: str | None = None) -> ModelPublic:
    spec = model.train_spec()
    return ModelPublic(id=model.id, name=model.name, owner=model.owner.name, origin=model.origin, job_id=model.job_id,
                       arch=model.arch, dataset=model.dataset, color=model.color, in_channels=model.in_channels,
                       num_classes=model.num_classes, input_scale=model.input_scale, metrics=model.metrics,
                       spec=model.spec, setting=model.setting, setting_label=spec.setting_label() if spec else None,
                       seed=spec.seed if spec else None, sweep_id=sweep_id, tags=list(model.tags or []),
                       notes=model.notes or "", sha256=model.blob.sha256, size=model.blob.size,
                       created_at=model.created_at)  # fmt: skip


def _sweep_ids(session: Session, models: list[Model]) -> dict[str, str]:
    """model id -> the sweep that trained it, from one query."""
    job_ids = [m.job_id for m in models if m.job_id]
    rows = session.execute(select(Job.id, Job.parent_id).where(Job.id.in_(job_ids), Job.parent_id.is_not(None)))
    parents = {job_id: str(parent) for job_id, parent in rows}
    return {m.id: parents[m.job_id] for m in models if m.job_id in parents}


def result_summary(r: EvalResult) -> ResultSummary:
    headline: dict[str, Any]
    try:
        if r.kind == "curve":
            curve = RobustnessCurve.from_dict(r.data)
            headline = {"clean_accuracy": curve.clean_accuracy, "normalized_auc": normalized_auc(curve)}
        else:
            summary = PerturbationSummary.from_dict(r.data["summary"])
            headline = {"score": summary.score, "score_std": summary.score_std, "repeats": summary.repeats,
                        "success_rate": summary.success_rate}  # fmt: skip
    except (KeyError, TypeError, ValueError) as e:  # a result stored in a format of before: says so
        headline = {"error": str(e)}
    return ResultSummary(id=r.id, evaluator=r.evaluator, label=r.label, kind=r.kind, job_id=r.job_id,
                         created_at=r.created_at, headline=json_safe(headline))  # fmt: skip


def result_public(r: EvalResult) -> ResultPublic:
    return ResultPublic(id=r.id, model_id=r.model_id, job_id=r.job_id, evaluator=r.evaluator, label=r.label,
                        kind=r.kind, group=r.group, data=r.data, created_at=r.created_at)  # fmt: skip


@router.get("/models")
def list_models(
    session: SessionDep, _: UserDep,
    dataset: Name | None = None,
    setting: Annotated[Name | None, Query(description="a setting id: the seeds of one experiment")] = None,
    sweep_id: Annotated[Name | None, Query(description="the models a sweep trained")] = None,
    tag: Annotated[Name | None, Query(description="models with this tag")] = None,
) -> list[ModelPublic]:  # fmt: skip
    query = select(Model).order_by(Model.created_at.desc())
    if dataset:
        query = query.where(Model.dataset == dataset)
    if setting:
        query = query.where(Model.setting == setting)
    if sweep_id:
        query = query.join(Job, Model.job_id == Job.id).where(Job.parent_id == sweep_id)
    models = [m for m in session.scalars(query).unique() if tag is None or tag in (m.tags or [])]
    sweeps = _sweep_ids(session, models)
    return [model_public(m, sweeps.get(m.id)) for m in models]


@router.get("/models/{model_id}", responses=responses(404))
def get_model(model_id: ModelId, session: SessionDep, _: UserDep) -> ModelDetail:
    """A model with its spec, every epoch's metrics, the epoch kept, provenance (its job and sweep, the libraries
    that trained it) and a line per stored result."""
    model = get_model_or_404(session, model_id)
    public = model_public(model, _sweep_ids(session, [model]).get(model.id))
    results = session.scalars(select(EvalResult).where(EvalResult.model_id == model.id).order_by(EvalResult.created_at))
    best = model.metrics.get("epoch") if isinstance(model.metrics, dict) else None
    return ModelDetail(**public.model_dump(), history=model.history or [], versions=model.versions,
                       best_epoch=best if isinstance(best, int) else None,
                       results=[result_summary(r) for r in results])  # fmt: skip


@router.patch("/models/{model_id}", responses=responses(403, 404))
def update_model(model_id: ModelId, body: ModelUpdate, session: SessionDep, user: UserDep) -> ModelPublic:
    """Rename a model, replace its tags or its notes (its owner or an admin)."""
    model = get_model_or_404(session, model_id)
    require_owner(user, model.owner_id, "model")
    if body.name is not None:
        model.name = body.name
    if body.tags is not None:
        model.tags = list(dict.fromkeys(body.tags))
    if body.notes is not None:
        model.notes = body.notes
    session.flush()
    return model_public(model, _sweep_ids(session, [model]).get(model.id))


@router.get("/models/{model_id}/checkpoint", response_class=StreamingResponse, responses=responses(404))
def download_checkpoint(model_id: ModelId, session: SessionDep, _: UserDep, request: Request) -> StreamingResponse:
    """The safetensors checkpoint, streamed chunk by chunk; X-Checksum-SHA256 carries its sha256."""
    model = get_model_or_404(session, model_id)
    blob = model.blob
    headers = {"X-Checksum-SHA256": blob.sha256, "Content-Length": str(blob.size),
               "Content-Disposition": attachment(f"{model.name}.safetensors")}  # fmt: skip
    chunks = stream_blob(request.app.state.sessions, blob.id, blob.chunks)  # no connection held between chunks
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


def attachment(filename: str) -> str:
    """Content-Disposition for any name (RFC 6266): an ASCII `filename` for old clients, with anything outside
    printable ASCII and quotes and backslashes replaced, and the exact name as RFC 5987 `filename*` (headers are
    Latin-1, and a CR or LF would end the header: names stored before uploads were checked still download)."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in filename)
    exact = urllib.parse.quote(filename.encode("utf-8", "replace"), safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


@router.get("/models/{model_id}/results", responses=responses(404))
def model_results(model_id: ModelId, session: SessionDep, _: UserDep,
                  evaluator: Name | None = None) -> list[ResultPublic]:  # fmt: skip
    get_model_or_404(session, model_id)
    query = select(EvalResult).where(EvalResult.model_id == model_id).order_by(EvalResult.created_at)
    if evaluator:
        query = query.where(EvalResult.evaluator == evaluator)
    return [result_public(r) for r in session.scalars(query)]


@router.get("/models/{model_id}/history", response_model=None, responses=responses(404))
def model_history(model_id: ModelId, session: SessionDep, _: UserDep,
                  format: Literal["json", "png", "svg"] = "json") -> Any:  # fmt: skip
    """How a model learned, per epoch: as JSON, or as a figure (losses, accuracies, L_reg, similarity correlation,
    the kept epoch marked)."""
    model = get_model_or_404(session, model_id)
    history = model.history or []
    if format == "json":
        return history
    if not history:
        raise invalid(f"model {model_id} has no per-epoch history (uploaded without one)", "format")
    from sthlib.evaluate.plots import figure_bytes, plot_history

    best = (model.metrics or {}).get("epoch")
    figure = plot_history(history, title=model.name, best_epoch=best if isinstance(best, int) else None)
    return Response(figure_bytes(figure, format), media_type="image/png" if format == "png" else "image/svg+xml")


@router.post("/models", status_code=201, responses=responses(413))
def upload_model(
    session: SessionDep, user: UserDep, request: Request,
    file: Annotated[UploadFile, File(description="a .safetensors checkpoint (pickles are refused)")],
    name: Annotated[Name128, Form(description="any script; no control characters")],
    arch: Annotated[Name | None, Form(description="resnet18, resnet18_narrow, resnet34, resnet50 or small_cnn")] = None,
    dataset: Annotated[Name | None, Form(description="the task's dataset (test images come from it)")] = None,
    color: Annotated[Name | None, Form(description="gray or rgb")] = None,
    input_scale: Annotated[Name | None, Form(description="unit ([0,1]) or centered5 (5*(x-0.5))")] = None,
) -> ModelPublic:  # fmt: skip
    """Upload a model. Fields missing from the form come from an sthlib checkpoint's metadata; the weights are
    checked against the architecture when a job first loads them."""
    size, limit = file_size(file.file), request.app.state.settings.max_upload_bytes
    if size > limit:
        raise too_large(limit, "STH_MAX_UPLOAD_BYTES")
    tensors, metadata = inspect_safetensors(file.file, size)
    meta = sthlib_metadata(metadata)
    spec: TrainSpec | None = meta.get("spec")
    arch = arch or meta.get("arch")
    dataset = dataset or (spec.dataset if spec else None)
    if arch not in ARCHITECTURE_NAMES:
        raise invalid(f"arch must be one of {', '.join(ARCHITECTURE_NAMES)}, got {arch!r}", "arch")
    if not dataset:
        raise invalid("dataset is required (which task the model solves)", "dataset")
    info = resolve_dataset(session, dataset, "dataset")
    in_channels, num_classes = _task_shape(tensors)
    color = color or (spec.color if spec else None) or ("gray" if in_channels == 1 else "rgb")
    if (color, in_channels) not in (("gray", 1), ("rgb", 3)):
        raise invalid(f"color {color!r} does not match the {in_channels}-channel first layer", "color")
    scale = input_scale or meta.get("input_scale") or info.input_scale
    if scale not in ("unit", "centered5"):
        raise invalid("input_scale must be unit or centered5", "input_scale")
    blob = put_blob(session, pieces(file.file))
    model = Model(owner_id=user.id, name=name, origin="uploaded", arch=arch, dataset=dataset, color=color,
                  in_channels=in_channels, num_classes=num_classes, input_scale=scale, blob_id=blob.id,
                  spec=spec.to_dict() if spec else None, setting=spec.setting_hash() if spec else None,
                  metrics=meta.get("metrics") or {}, history=_listed(meta.get("history")),
                  versions=meta.get("versions") if isinstance(meta.get("versions"), dict) else None)  # fmt: skip
    session.add(model)
    session.flush()
    session.refresh(model)
    return model_public(model)


def _listed(history: Any) -> list[dict[str, Any]] | None:
    """A checkpoint's per-epoch history, when it is a list of objects (anything else is not kept)."""
    ok = isinstance(history, list) and all(isinstance(epoch, dict) for epoch in history)
    return history if ok else None


def _task_shape(tensors: dict[str, Any]) -> tuple[int, int]:
    """(input channels, classes) of an sthlib model's weights: its stem convolution and its final linear layer."""
    stem, linear = tensors.get("stem.0.weight"), tensors.get("linear.weight")
    if stem is None or linear is None:
        raise invalid("the weights are not an sthlib model (no stem.0.weight / linear.weight)", "file")
    if len(stem["shape"]) != 4 or len(linear["shape"]) != 2:
        raise invalid("the weights are not an sthlib model: stem.0.weight must be 4-D, linear.weight 2-D", "file")
    num_classes = linear["shape"][0]
    if not 1 <= num_classes <= MAX_CLASSES:
        raise invalid(f"linear.weight has {num_classes} rows: a model has 1 to {MAX_CLASSES} classes", "file")
    return stem["shape"][1], num_classes
