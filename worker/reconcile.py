"""Keeps a wake-up waiting in the broker for every job a worker could start, whatever the broker lost.

A message only wakes a worker, which claims the next job of the queue's order (store.queue): what matters is how
many messages wait in each queue (one per device kind: store.settings.wake_queue), not which job each names. Jobs
that need one: queued jobs, and running jobs whose worker went silent (they are resumed by the next claim)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy import and_, or_, select

from store.db import session_scope
from store.jobs import Send, enqueue
from store.models import PARENT_KINDS, Job, JobStatus, utcnow
from store.settings import wake_queue

STALE_AFTER = timedelta(minutes=2)  # without a view of the broker: a queued job untouched this long lost its message
GRACE = timedelta(seconds=5)  # a message may be on its way (the API commits, then sends) or in a worker's hands


def requeue_orphans(
    database_url: str, send: Send, waiting: Mapping[str, list[str]] | None = None,
    heartbeat_timeout_s: float = 120.0, restarted_worker: str | None = None, stale_after: timedelta = STALE_AFTER,
) -> int:  # fmt: skip
    """Send wake-ups until as many messages wait in each queue as its jobs need; the number sent. `waiting`: per
    queue, the job ids the broker's waiting messages name, one per message. Jobs that need one: queued jobs older
    than GRACE, running jobs whose heartbeat is silent for `heartbeat_timeout_s`, and running jobs of
    `restarted_worker` (this worker's own name: it just started, so they are orphans; made claimable at once). When
    the broker cannot be read (`waiting` is None) the queued jobs untouched for `stale_after` are sent again, and
    touched. An extra wake-up is harmless: the worker it wakes finds nothing to claim and drops it."""
    now = utcnow()
    silent = and_(Job.status == JobStatus.running, Job.updated_at < now - timedelta(seconds=heartbeat_timeout_s))
    if restarted_worker:
        silent = or_(silent, and_(Job.status == JobStatus.running, Job.worker == restarted_worker))
    age = GRACE if waiting is not None else stale_after
    queued = and_(Job.status == JobStatus.queued, Job.updated_at < now - age)
    with session_scope(database_url) as session:
        runnable = select(Job).where(Job.kind.not_in(PARENT_KINDS)).order_by(Job.created_at)  # no worker runs a parent
        orphans = list(session.scalars(runnable.where(silent)))
        for job in orphans:
            job.updated_at = now - timedelta(seconds=heartbeat_timeout_s + 1)  # claimable at once
        waiting_jobs = list(session.scalars(runnable.where(queued)))
        jobs = orphans + waiting_jobs
        if waiting is None:
            for job in waiting_jobs:
                job.updated_at = now
        else:
            jobs = _short(jobs, waiting)
        session.commit()
        return enqueue(session, send, jobs)


def _short(jobs: list[Job], waiting: Mapping[str, list[str]]) -> list[Job]:
    """Per queue, the jobs beyond the messages waiting there, those no waiting message names first."""
    by_queue: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_queue[wake_queue(job.device_kind)].append(job)
    short = []
    for queue, mine in by_queue.items():
        named = waiting.get(queue, [])
        ids = set(named)
        short += sorted(mine, key=lambda j: j.id in ids)[: max(len(mine) - len(named), 0)]
    return short
