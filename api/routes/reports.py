"""Reproduction reports: a protocol re-run by the service (baseline and S^Th per seed, the transfer source, every
evaluation), waited for as a sweep is (no worker held), ending with a report: a verdict per claim of the paper,
the evidence, the results it cites, figures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.deps import QueueDep, SessionDep, UserDep, get_job_or_404
from api.errors import ApiError, not_found, responses
from api.job_views import job_public
from api.schemas import STRICT, Device, IdempotencyKey, JobPublic, Seeds, TrainChanges
from api.submission import submit
from sthlib.reproduce.protocols import PROTOCOLS, ReportSpec
from store.blobs import read_blob
from store.models import DeviceKind, Job, JobKind, JobStatus

router = APIRouter(prefix="/v1", tags=["reports"], responses=responses(401))

# The page holds only our own escaped text and matplotlib's SVG: nothing may load or run, whoever opens it.
PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


class ReportCreate(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [{"protocol": "tiny", "seeds": [0, 1]}]})
    protocol: str = Field(description="a protocol of GET /v1/protocols", json_schema_extra={"enum": [*PROTOCOLS]})
    seeds: Seeds | None = Field(None, description="default: the protocol's")
    changes: TrainChanges = Field(default_factory=dict, description="changes to the protocol's S^Th setting")
    device: Device = DeviceKind.any
    idempotency_key: IdempotencyKey = None


@router.get("/protocols")
def list_protocols(_: UserDep) -> list[dict[str, Any]]:
    """The protocols a report can run: what each trains and evaluates, its seeds, and how long it takes."""
    return [p.to_dict() for p in PROTOCOLS.values()]


@router.post("/reports", status_code=201, responses=responses(422))
def create_report(body: ReportCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Queue a reproduction report: its trainings now, each model's evaluations once it is trained, the report
    when all have ended (GET /v1/reports/{id}). Everything is checked before anything is queued."""
    spec = ReportSpec.from_dict(body.model_dump(exclude={"idempotency_key", "device"}, exclude_none=True))
    job = submit(session, queue, user, JobKind.report, spec, body.idempotency_key, body.device)
    return job_public(session, job)


ReportId = Annotated[str, Path(min_length=1, max_length=64)]


def _finished_report(session: Session, report_id: str) -> Job:
    job = get_job_or_404(session, report_id)
    if job.kind is not JobKind.report:
        raise not_found("report", report_id)
    if job.status is not JobStatus.succeeded or not job.result:
        raise ApiError(409, "not_ready", f"report {report_id} is {job.status.value}: no report yet",
                       {"status": job.status.value, "progress": job.progress})  # fmt: skip
    return job


@router.get("/reports/{report_id}", responses=responses(404, 409))
def get_report(report_id: ReportId, session: SessionDep, _: UserDep) -> dict[str, Any]:
    """The report as data: header (protocol, setting hashes, seeds, versions, data checksums, device, wall time),
    each claim's per-seed values with the ids of the stored results they come from, the evidence and verdict."""
    return dict(_finished_report(session, report_id).result or {})


@router.get("/reports/{report_id}/html", response_class=Response, responses=responses(404, 409))
def get_report_page(report_id: ReportId, session: SessionDep, _: UserDep, download: bool = False) -> Response:
    """The report as one self-contained HTML page (inline SVG figures; nothing is fetched from anywhere)."""
    job = _finished_report(session, report_id)
    page = read_blob(session, (job.result or {})["html_blob"])
    headers = {"Content-Security-Policy": PAGE_POLICY, "X-Content-Type-Options": "nosniff"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="report-{report_id[:8]}.html"'
    return Response(page, media_type="text/html; charset=utf-8", headers=headers)
