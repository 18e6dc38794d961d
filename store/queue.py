"""The queue's order, in one place: which job a free worker starts next (fair share). Used by the claim
(store.jobs.claim_next) and by GET /v1/queue.

A running job whose worker went silent comes first (it resumes from its last checkpoint). Then the queued jobs by
  1. priority, set by an admin (higher first; 0 by default),
  2. their owner's device time over the last 24 h (least first): each job's run time inside the window, a running
     job's time so far included; a parent's (sweep or report) own row runs nothing and counts nothing,
  3. age (oldest first), then id.
The order is decided afresh at every claim: each job that runs adds to its owner's device time. A worker claims only
jobs it can run (a job's device_kind: any, or the worker's own kind, gpu or cpu), in this order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, literal, or_, select
from sqlalchemy.orm import Session, lazyload

from sthlib.jobkinds import PARENT_KINDS
from store.models import DeviceKind, Job, JobKind, JobStatus, aware, utcnow
from store.workers import Liveness

WINDOW = timedelta(hours=24)  # device time is counted over this window
PRIORITY_MIN, PRIORITY_MAX = -100, 100  # what an admin may set


def device_seconds(session: Session, now: datetime | None = None) -> dict[str, float]:
    """Each owner's device time (seconds) over the last WINDOW: every job's span from its start to its end (or to
    `now` while it runs), clipped to the window. Owners without any are absent (0)."""
    now = now or utcnow()
    since = now - WINDOW
    rows = session.execute(
        select(Job.owner_id, Job.started_at, Job.finished_at).where(
            Job.kind.not_in(PARENT_KINDS),
            Job.started_at.is_not(None),
            or_(Job.status == JobStatus.running, Job.finished_at > since),
        )
    )
    used: dict[str, float] = defaultdict(float)
    for owner_id, started, finished in rows:
        end = aware(finished) if finished is not None else now
        seconds = (min(end, now) - max(aware(started or now), since)).total_seconds()
        used[owner_id] += max(seconds, 0.0)
    return dict(used)


def queue_order(used: dict[str, float]) -> list[Any]:
    """ORDER BY terms for queued jobs: priority, then the owner's device time `used`, then age."""
    owner_time = case(used, value=Job.owner_id, else_=0.0) if used else literal(0.0)
    return [Job.priority.desc(), owner_time.asc(), Job.created_at.asc(), Job.id.asc()]


def next_job(session: Session, kinds: Collection[JobKind], heartbeat_timeout_s: float, skip: Collection[str] = (),
             devices: Collection[DeviceKind] = tuple(DeviceKind)) -> Job | None:  # fmt: skip
    """The first job of the order (not in `skip`) whose device kind is one of `devices` (what the claiming worker
    can run), its row locked where the database can (FOR UPDATE SKIP LOCKED: another claimer's row is passed over,
    not waited for); None when no job waits."""
    now = utcnow()
    silent = and_(Job.status == JobStatus.running, Job.updated_at < now - timedelta(seconds=heartbeat_timeout_s))
    mine = and_(Job.kind.in_(kinds), Job.device_kind.in_(devices), Job.id.not_in(skip))
    orphan = select(Job).where(silent, mine).order_by(Job.updated_at)
    job = session.scalars(_locked_first(orphan)).one_or_none()
    if job is not None:
        return job
    waiting = select(Job).where(Job.status == JobStatus.queued, mine)
    return session.scalars(_locked_first(waiting.order_by(*queue_order(device_seconds(session, now))))).one_or_none()


def _locked_first(query: Select[Job]) -> Select[Job]:
    # lazyload: the owner's joined load would lock the nullable side of an outer join, which PostgreSQL refuses
    return (query.limit(1).options(lazyload(Job.owner)).with_for_update(skip_locked=True, of=Job)
            .execution_options(populate_existing=True))  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A queued job's place in line: its owner's device time, why it stands where it does, and what it waits for
    when no live worker can take it (None: a worker of its kind is alive)."""

    job: Job
    owner_device_s: float
    why: str
    waiting_for: str | None = None


def queued_in_order(session: Session, limit: int | None = None, workers: Liveness | None = None) -> list[Place]:
    """The queued jobs in the order they would start if the standings stayed as they are now (each worker takes
    the first it can run: a cpu worker passes over the jobs that ask for a gpu)."""
    now = utcnow()
    used = device_seconds(session, now)
    query = (
        select(Job).where(Job.status == JobStatus.queued, Job.kind.not_in(PARENT_KINDS)).order_by(*queue_order(used))
    )
    jobs = list(session.scalars(query.limit(limit)).unique())
    return [Place(job, round(used.get(job.owner_id, 0.0), 1), _why(job, jobs[i - 1] if i else None, used),
                  workers.waiting_for(job.device_kind) if workers is not None else None)
            for i, job in enumerate(jobs)]  # fmt: skip


def _why(job: Job, ahead: Job | None, used: dict[str, float]) -> str:
    mine = used.get(job.owner_id, 0.0)
    standing = f"priority {job.priority}; {job.owner.name} used {mine:.0f} s of device time in 24 h"
    if ahead is None:
        return f"first in line: {standing}"
    theirs = used.get(ahead.owner_id, 0.0)
    if ahead.priority > job.priority:
        return f"after a job of higher priority ({ahead.priority}): {standing}"
    if theirs < mine:
        return f"after {ahead.owner.name}'s job ({ahead.owner.name} used {theirs:.0f} s, less): {standing}"
    return f"after an older job of the same standing: {standing}"
