"""Re-sends jobs that the database holds as queued (or running on a lost worker) once their message may be lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import and_, or_, select

from store.db import session_scope
from store.models import Job, JobKind, JobStatus, utcnow

STALE_AFTER = timedelta(minutes=2)  # a queued job untouched this long has probably lost its message


def requeue_orphans(
    database_url: str, send: Callable[[str], object], stale_after: timedelta = STALE_AFTER,
    heartbeat_timeout_s: float = 120.0, restarted_worker: str | None = None,
) -> int:  # fmt: skip
    """Send again: queued jobs untouched for `stale_after`, running jobs silent for `heartbeat_timeout_s`, and
    running jobs of `restarted_worker` (this worker's own name: it just started, so they are orphans). A duplicate
    message is harmless: claim() drops or defers messages for jobs that are finished or alive elsewhere."""
    now = utcnow()
    orphaned = or_(
        and_(Job.status == JobStatus.queued, Job.updated_at < now - stale_after),
        and_(Job.status == JobStatus.running, Job.updated_at < now - timedelta(seconds=heartbeat_timeout_s)),
    )
    if restarted_worker:
        orphaned = or_(orphaned, and_(Job.status == JobStatus.running, Job.worker == restarted_worker))
    with session_scope(database_url) as session:
        jobs = list(session.scalars(select(Job).where(orphaned, Job.kind != JobKind.sweep)))  # no worker runs those
        for job in jobs:
            job.updated_at = now
            if job.status is JobStatus.running:
                job.updated_at = now - timedelta(seconds=heartbeat_timeout_s + 1)  # claimable at once
        ids = [job.id for job in jobs]
    for job_id in ids:
        send(job_id)
    return len(ids)
