"""The job state machine, in one place: queued -> running -> succeeded | failed | cancelled, nothing else.

A running job whose worker died is claimed again (running -> running, attempts + 1): a re-claim, not a new state.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from store.models import Job, JobLog, JobStatus, aware, utcnow

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.queued: frozenset({JobStatus.running, JobStatus.cancelled}),
    JobStatus.running: frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled}),
    JobStatus.succeeded: frozenset(),
    JobStatus.failed: frozenset(),
    JobStatus.cancelled: frozenset(),
}

# transfer_fgsm's params["source"] inside a sweep that trains its own unregularized source model: the sweep puts the
# model's id in its place when it queues the evaluations
SWEEP_SOURCE = "sweep"


def spec_hash(spec: dict[str, Any]) -> str:
    """The sha256 of a job spec's canonical JSON (idempotency keys compare it)."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


class TransitionError(ValueError):
    """A job cannot move to the requested status from the one it is in."""


def transition(session: Session, job: Job, to: JobStatus, **fields: Any) -> Job:
    """Move `job` to `to`, stamping the times; raise TransitionError for anything the machine forbids."""
    if to not in ALLOWED[job.status]:
        raise TransitionError(f"job {job.id} is {job.status.value}; it cannot become {to.value}")
    job.status = to
    now = utcnow()
    if to is JobStatus.running:
        job.started_at = now
        job.attempts += 1
    if to.finished:
        job.finished_at = now
    for name, value in fields.items():
        setattr(job, name, value)
    session.flush()
    return job


class JobBusy(Exception):
    """The job runs on a live worker (its heartbeat is fresh): this message is a duplicate."""


def claim(session: Session, job_id: str, worker: str, device: str, heartbeat_timeout_s: float = 120.0) -> Job | None:
    """A worker takes a job: queued -> running, or re-claims a running job whose worker went silent.

    Returns None when the job is finished (or gone): the message is stale and must be dropped. Raises JobBusy
    when another worker is alive on it. The row is locked (SELECT ... FOR UPDATE where the database supports it)
    so two workers cannot both start it.
    """
    job = session.scalars(
        select(Job).where(Job.id == job_id).options(lazyload(Job.owner)).with_for_update()
    ).one_or_none()
    if job is None or job.status.finished:
        return None
    if job.status is JobStatus.queued:
        return transition(session, job, JobStatus.running, worker=worker, device=device)
    silent = (utcnow() - aware(job.updated_at)).total_seconds()
    if silent < heartbeat_timeout_s and job.worker != worker:
        raise JobBusy(f"job {job_id} runs on {job.worker} (heard from {silent:.0f} s ago)")
    job.attempts += 1  # the previous worker died: continue from its last checkpoint
    job.worker, job.device = worker, device
    log_line(session, job.id, f"resumed on {worker} (attempt {job.attempts})")
    session.flush()
    return job


def log_line(session: Session, job_id: str, message: str, level: str = "info") -> None:
    session.add(JobLog(job_id=job_id, message=message, level=level))
