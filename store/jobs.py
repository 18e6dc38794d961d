"""The job state machine, in one place: queued -> running -> succeeded | failed | cancelled, nothing else.

A running job whose worker died is claimed again (running -> running, attempts + 1): a re-claim, not a new state.
Which job a free worker claims is the queue's order (store.queue); the broker's messages only wake workers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from sthlib.jobkinds import WORKER_KINDS
from store.models import DeviceKind, Job, JobKind, JobLog, JobStatus, utcnow
from store.queue import next_job
from store.settings import wake_queue

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


def claim_next(session: Session, worker: str, device: str, kinds: Collection[JobKind] = WORKER_KINDS,
               heartbeat_timeout_s: float = 120.0) -> Job | None:  # fmt: skip
    """A woken worker takes the next job of the queue's order (store.queue) that it can run on `device` (a cuda
    device takes jobs asking for a gpu or any device, any other device those asking for a cpu or any): a running
    job whose worker went silent (attempts + 1: it resumes from its last checkpoint), else the first queued one
    (queued -> running). None when nothing waits: the message that woke the worker is dropped.

    Two workers never take one job: on PostgreSQL the row is locked (FOR UPDATE SKIP LOCKED, so the other claimer
    takes the next job instead of waiting); on SQLite, which has no row locks, the taking UPDATE only changes a row
    still in the state that was read, and a loser tries the next job."""
    taken: list[str] = []
    devices = DeviceKind.of(device).takes
    for _ in range(CLAIM_TRIES):
        job = next_job(session, kinds, heartbeat_timeout_s, skip=taken, devices=devices)
        if job is None:
            return None
        if _take(session, job, worker, device):
            return job
        taken.append(job.id)  # another worker was faster
    return None


CLAIM_TRIES = 16  # jobs tried in one claim before giving up (each loss means another worker started a job)


def _take(session: Session, job: Job, worker: str, device: str) -> bool:
    """Compare and set: True if `job` still has the status and attempt it was read with (this transaction then
    holds its row, on SQLite the whole database, until it ends), and it is now this worker's."""
    unchanged = update(Job).where(Job.id == job.id, Job.status == job.status, Job.attempts == job.attempts)
    if job.status is JobStatus.running:  # and still silent: no heartbeat since it was read
        unchanged = unchanged.where(Job.updated_at == job.updated_at)
    unchanged = unchanged.values(worker=worker).execution_options(synchronize_session=False)
    if session.execute(unchanged).rowcount != 1:  # type: ignore[attr-defined]
        return False
    if job.status is JobStatus.queued:
        transition(session, job, JobStatus.running, worker=worker, device=device)
        return True
    job.attempts += 1  # the previous worker died: continue from its last checkpoint
    job.worker, job.device = worker, device
    log_line(session, job.id, f"resumed on {worker} (attempt {job.attempts})")
    session.flush()
    return True


def log_line(session: Session, job_id: str, message: str, level: str = "info") -> None:
    session.add(JobLog(job_id=job_id, message=message, level=level))


class BrokerUnavailable(Exception):
    """The broker refused the first message of a submission: its jobs were taken back (nothing was created)."""


Send = Callable[[str, str], object]  # send(job_id, queue): one wake-up message on that Celery queue


def enqueue(session: Session, send: Send, jobs: list[Job], parent: Job | None = None,
            take_back: bool = False) -> int:  # fmt: skip
    """Send a message for each of the committed `jobs`; the number sent. The one way jobs reach the broker: the
    API's submissions, a sweep's evaluations and the reconciler's re-sends. A message names its job but only wakes
    a worker, which claims the next job of the queue's order (claim_next), so one message per job is enough. It
    goes to the queue of the workers that can run the job (store.settings.wake_queue: a job asking for a gpu wakes
    only gpu workers; one for any device wakes whichever listens first).

    A job the broker did not hear of stays queued, and the workers' reconciler re-sends it within seconds. With
    `take_back` (a submission the client waits for) a broker that refuses the first message makes the submission
    undone: the jobs (and their `parent`, a sweep or report) are deleted again and BrokerUnavailable raised, so the
    client's retry makes a fresh one. After some were sent a parent cannot be half taken back: the rest stay
    queued."""
    for sent, job in enumerate(jobs):
        try:
            send(job.id, wake_queue(job.device_kind))
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
