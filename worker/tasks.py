"""Runs one job from the database: claim the next one by the queue's order (a message only wakes the worker), read
its typed spec (sthlib.jobkinds), fetch the uploaded datasets it reads, run it with the runner of its kind
(RUNNERS), record how it ended; a child of a sweep or report that ends advances its parent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from broker.sender import JobQueue
from sthlib.jobkinds import JobSpec, read_spec
from sthlib.train import TrainingStopped, resolve_device
from store import sweeps
from store.db import session_scope
from store.jobs import Send, claim_next, enqueue, transition
from store.models import Blob, Job, JobKind, JobStatus
from store.settings import get_settings
from worker.context import JobCancelled, JobContext
from worker.evaluate import run_evaluation
from worker.train import run_train

log = logging.getLogger(__name__)

# The runner of each kind a worker runs (tests/test_jobkinds.py: exactly sthlib.jobkinds.WORKER_KINDS). The parent
# kinds have none: they advance when their children end (store.sweeps).
RUNNERS: dict[JobKind, Callable[[JobContext, Any], None]] = {
    JobKind.train: run_train,
    JobKind.evaluate: run_evaluation,
}


@cache
def _queue() -> JobQueue:
    return JobQueue(get_settings().broker_url)


def send(job_id: str, queue: str) -> None:
    """A wake-up for job `job_id` on Celery queue `queue`, through the one sender (broker.sender)."""
    _queue().send(job_id, queue)


def advance_sweep(url: str, sweep_id: str, send: Send = send) -> None:
    """Queue the evaluations a sweep or report can start now (store.sweeps.advance), then send them."""
    with session_scope(url) as session:
        queued = sweeps.advance(session, sweep_id)
        session.commit()
        enqueue(session, send, queued)


def run_job(woken_by: str, worker_name: str) -> None:
    """A message woke this worker: claim the next job of the queue's order (store.queue), which need not be the
    job `woken_by` (the one whose submission sent the message), and run it."""
    settings = get_settings()
    url, device = settings.database_url, str(resolve_device())
    with session_scope(url) as session:
        job = claim_next(session, worker_name, device, heartbeat_timeout_s=settings.heartbeat_timeout_s)
        if job is None:
            log.info("woken by job %s's message: no job waits, message dropped", woken_by)
            return
        job_id, kind, data, resume, parent = job.id, job.kind, dict(job.spec), job.resume_blob_id, job.parent_id
        attempt = job.attempts
    with JobContext(url, job_id, settings.heartbeat_s, worker_name, attempt, device=device,
                    resume_blob=resume) as ctx:  # fmt: skip
        ctx.log(f"started on {worker_name} ({device})")
        try:
            spec = read_spec(kind.value, data)
            fetch_uploaded_datasets(ctx, spec)
            RUNNERS[kind](ctx, spec)
        except (TrainingStopped, JobCancelled):
            if ctx.lost:  # another worker runs it now: this attempt records nothing more
                ctx.log(f"attempt {attempt} on {worker_name} stopped: the job was taken over", level="warning")
                return
            finish(ctx, JobStatus.cancelled)
            ctx.log("cancelled")
        except Exception as e:
            log.exception("job %s failed", job_id)
            if finish(ctx, JobStatus.failed, error_code=type(e).__name__, error_message=str(e)):
                ctx.log(f"failed: {type(e).__name__}: {e}", level="error")
        else:
            if finish(ctx, JobStatus.succeeded):
                ctx.log("succeeded")
    if parent is not None:
        advance_sweep(url, parent)


def fetch_uploaded_datasets(ctx: JobContext, spec: JobSpec) -> None:
    """Put the uploaded datasets (upload:NAME) a job's spec reads on this machine's disk, verified, from the database
    (an evaluation fetches its model's when it loads the model: worker.evaluate)."""
    ctx.fetch_uploads(list(spec.datasets()))


def finish(ctx: JobContext, status: JobStatus, **fields: Any) -> bool:
    """Record how the attempt ended, if the job is still this attempt's (fenced by worker and attempt number)."""
    with ctx.session() as session:
        job = session.get(Job, ctx.job_id)
        mine = job is not None and (job.worker, job.attempts) == (ctx.worker, ctx.attempt)
        if job is None or job.status is not JobStatus.running or not mine:
            return False
        if status is JobStatus.succeeded:
            fields["progress"] = {**job.progress, "fraction": 1.0, "eta_s": 0}
            drop_resume_state(session, job)
        transition(session, job, status, **fields)
        return True


def drop_resume_state(session: Session, job: Job) -> None:
    """A succeeded training's last epoch state (kept while the job could still resume from it): deleted in the
    transaction that records the success, so a worker that dies before that commit still resumes from it."""
    if job.resume_blob_id is not None:
        blob = session.get(Blob, job.resume_blob_id)
        job.resume_blob_id = None
        session.flush()
        if blob is not None:
            session.delete(blob)
