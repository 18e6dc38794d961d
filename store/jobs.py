"""The job state machine, in one place: queued -> running -> succeeded | failed | cancelled, nothing else.

A running job whose worker died is claimed again (running -> running, attempts + 1): a re-claim, not a new state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, lazyload

from store.models import Job, JobLog, JobStatus, aware, utcnow

log = logging.getLogger(__name__)

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.queued: frozenset({JobStatus.running, JobStatus.cancelled}),
    JobStatus.running: frozenset({JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled}),
    JobStatus.succeeded: frozenset(),
    JobStatus.failed: frozenset(),
    JobStatus.cancelled: frozenset(),
}


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


class BrokerUnavailable(Exception):
    """The broker refused the first message of a submission: its jobs were taken back (nothing was created)."""


def enqueue(session: Session, send: Callable[[str], object], jobs: list[Job], parent: Job | None = None,
            take_back: bool = False) -> int:  # fmt: skip
    """Send the committed `jobs` to the workers; the number sent. The one way jobs reach the broker: the API's
    submissions, a sweep's evaluations and the reconciler's re-sends.

    A job the broker did not hear of stays queued, and the workers' reconciler re-sends it within seconds. With
    `take_back` (a submission the client waits for) a broker that refuses the first message makes the submission
    undone: the jobs (and their sweep `parent`) are deleted again and BrokerUnavailable raised, so the client's
    retry makes a fresh one. After some were sent a sweep cannot be half taken back: the rest stay queued."""
    for sent, job in enumerate(jobs):
        try:
            send(job.id)
        except Exception as e:  # kombu and redis raise their own kinds for an unreachable broker
            if sent or not take_back:
                log.warning("broker failed after %d of %d jobs (%s); the reconciler re-sends the rest", sent,
                            len(jobs), type(e).__name__)  # fmt: skip
                return sent
            ids = [j.id for j in jobs]
            session.execute(delete(JobLog).where(JobLog.job_id.in_([*ids, *([parent.id] if parent else [])])))
            session.execute(delete(Job).where(Job.id.in_(ids)))
            if parent is not None:
                session.execute(delete(Job).where(Job.id == parent.id))
            session.commit()
            raise BrokerUnavailable(type(e).__name__) from None
    return len(jobs)
