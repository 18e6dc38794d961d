"""The queue: the queued jobs in the order free workers will start them (fair share, store.queue), and why; admins
set a job's priority."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from api.deps import SessionDep, UserDep, get_job_or_404
from api.errors import forbidden, invalid, responses
from api.job_labels import job_labels
from api.job_views import JobId, job_public, workers_now
from api.schemas import JobPublic, JobUpdate, QueuePage, QueuePlace
from store.jobs import log_line
from store.models import PARENT_KINDS, Job, JobStatus, Role
from store.queue import queued_in_order

router = APIRouter(prefix="/v1", tags=["jobs"], responses=responses(401))


@router.get("/queue")
def get_queue(
    session: SessionDep, _: UserDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="the first jobs in line")] = 100,
) -> QueuePage:  # fmt: skip
    """The queued jobs in the order they would start if the standings stayed as they are now: priority (higher
    first), then the owner's device time over the last 24 h (least first), then age (oldest first). Every claim
    decides afresh: each job that runs adds to its owner's time. Each job says `why` it stands where it does, and
    `waiting_for` when no live worker can run it (it asks for a gpu and no gpu worker is alive); a worker takes the
    first job it can run, so a job asking for a cpu may start before a gpu job ahead of it."""
    places = queued_in_order(session, limit, workers_now(session))
    labels = job_labels(session, [p.job for p in places])
    total = session.scalar(select(func.count()).where(Job.status == JobStatus.queued, Job.kind.not_in(PARENT_KINDS)))
    items = [QueuePlace(position=i + 1, id=p.job.id, kind=p.job.kind, owner=p.job.owner.name,
                        label=labels.get(p.job.id), parent_id=p.job.parent_id, priority=p.job.priority,
                        owner_device_s=p.owner_device_s, created_at=p.job.created_at, why=p.why,
                        device_kind=p.job.device_kind, waiting_for=p.waiting_for)
             for i, p in enumerate(places)]  # fmt: skip
    return QueuePage(items=items, total=total or 0)


@router.patch("/jobs/{job_id}", responses=responses(403, 404))
def update_job(job_id: JobId, body: JobUpdate, session: SessionDep, user: UserDep) -> JobPublic:
    """Set a queued job's priority (admins only): higher runs first, whoever's device time (GET /v1/queue)."""
    if user.role is not Role.admin:
        raise forbidden("only an admin can set a job's priority")
    job = get_job_or_404(session, job_id)
    if job.status is not JobStatus.queued:
        raise invalid(f"job {job_id} is {job.status.value}; only a queued job's priority can be set", "priority")
    if body.priority != job.priority:
        log_line(session, job.id, f"priority {job.priority} -> {body.priority} (set by {user.name})")
        job.priority = body.priority
        session.flush()
    return job_public(session, job)
