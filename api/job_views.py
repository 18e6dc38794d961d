"""A job as the API answers it (JobPublic): its model, label and what it waits for, looked up in bulk for lists;
and who is alive now. Shared by the jobs, queue and reports routes (routes never import each other)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.inputs import Name
from api.job_labels import job_labels
from api.schemas import JobError, JobPublic
from store.models import Job, Model
from store.settings import get_settings
from store.workers import Liveness, liveness

JobId = Annotated[Name, Path(description="a job's id (GET /v1/jobs)")]


def workers_now(session: Session) -> Liveness:
    """Which kinds of worker are alive (seen within the API's STH_HEARTBEAT_TIMEOUT_S, as the workers use it)."""
    return liveness(session, get_settings().heartbeat_timeout_s)


def job_public(session: Session, job: Job, model_ids: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, workers: Liveness | None = None) -> JobPublic:  # fmt: skip
    """`model_ids` (job id -> model id), `labels` (job id -> label) and `workers` (who is alive) let a list answer
    from one query each instead of one per job."""
    if model_ids is None:
        model_ids = model_ids_of(session, [job.id])
    if labels is None:
        labels = job_labels(session, [job])
    waiting_for = None if job.status.finished else (workers or workers_now(session)).job_waits_for(job)
    model_id = model_ids.get(job.id)
    error = JobError(code=job.error_code, message=job.error_message) if job.error_code else None
    return JobPublic(id=job.id, kind=job.kind, status=job.status, owner=job.owner.name, spec=job.spec,
                     progress=job.progress, cancel_requested=job.cancel_requested, attempts=job.attempts,
                     worker=job.worker, device=job.device, device_kind=job.device_kind, waiting_for=waiting_for,
                     error=error, priority=job.priority, model_id=model_id,
                     label=labels.get(job.id), parent_id=job.parent_id, setting=job.setting, result=job.result,
                     created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at)  # fmt: skip


def model_ids_of(session: Session, job_ids: list[str]) -> dict[str, str]:
    rows = session.execute(select(Model.job_id, Model.id).where(Model.job_id.in_(job_ids)))
    return {job_id: model_id for job_id, model_id in rows if job_id}
