"""Re-sends jobs that the database holds as queued (or running on a lost worker) once their message is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import and_, or_, select

from store.db import session_scope
from store.jobs import enqueue
from store.models import Job, JobKind, JobStatus, utcnow

STALE_AFTER = timedelta(minutes=2)  # without a view of the broker: a queued job untouched this long lost its message
GRACE = timedelta(seconds=5)  # a message may be on its way (the API commits, then sends) or in a worker's hands


def requeue_orphans(
    database_url: str, send: Callable[[str], object], waiting: set[str] | None = None,
    heartbeat_timeout_s: float = 120.0, restarted_worker: str | None = None, stale_after: timedelta = STALE_AFTER,
) -> int:  # fmt: skip
    """Send again: queued jobs whose message is not `waiting` in the broker (older than GRACE; when the broker
    cannot be read, `waiting` is None and queued jobs untouched for `stale_after` are sent), running jobs whose
    heartbeat is silent for `heartbeat_timeout_s`, and running jobs of `restarted_worker` (this worker's own name:
    it just started, so they are orphans). A duplicate message is harmless: claim() drops or defers messages for
    jobs that are finished or alive elsewhere."""
    now = utcnow()
    if waiting is None:
        queued = and_(Job.status == JobStatus.queued, Job.updated_at < now - stale_after)
    else:
        queued = and_(Job.status == JobStatus.queued, Job.updated_at < now - GRACE, Job.id.not_in(waiting))
    orphaned = or_(
        queued,
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
        session.commit()
        return enqueue(session, send, jobs)
