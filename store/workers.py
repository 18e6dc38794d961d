"""Worker liveness: each worker process records itself (name, kind, device) at start and on a heartbeat
(worker.liveness), so that the API can list the workers and say why a queued job waits when no live worker can
take it (a job asking for a gpu while only cpu workers run).

A worker is alive while it was seen within the timeout (STH_HEARTBEAT_TIMEOUT_S, as for running jobs) and has not
stopped cleanly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.models import DeviceKind, Job, JobStatus, Worker, aware, utcnow

FORGET_AFTER = timedelta(days=7)  # rows of workers unseen this long are removed when a worker starts
START_HINT = {DeviceKind.gpu: "sth worker --gpus all", DeviceKind.cpu: "sth worker --gpus none",
              DeviceKind.any: "sth worker"}  # fmt: skip


def record(session: Session, name: str, kind: DeviceKind, device: str, host: str, pid: int) -> None:
    """A worker starts (or starts again under its old name): its row, seen now and not stopped."""
    now = utcnow()
    session.execute(delete(Worker).where(Worker.last_seen < now - FORGET_AFTER, Worker.name != name))
    fields = {"kind": kind, "device": device[:128], "host": host[:128], "pid": pid, "started_at": now,
              "last_seen": now, "stopped_at": None}  # fmt: skip
    updated = session.execute(update(Worker).where(Worker.name == name).values(**fields))
    if not updated.rowcount:  # type: ignore[attr-defined]
        session.add(Worker(name=name, **fields))  # two processes of one name at once: one fails, and retries
    session.flush()


def beat(session: Session, name: str) -> bool:
    """The heartbeat: False if the worker has no row (removed meanwhile): the caller records it again."""
    done = session.execute(update(Worker).where(Worker.name == name).values(last_seen=utcnow(), stopped_at=None))
    return bool(done.rowcount)  # type: ignore[attr-defined]


def stopped(session: Session, name: str) -> None:
    """A clean shutdown: the worker is not alive from now on."""
    now = utcnow()
    session.execute(update(Worker).where(Worker.name == name).values(last_seen=now, stopped_at=now))


def is_alive(worker: Worker, now: datetime, timeout_s: float) -> bool:
    return worker.stopped_at is None and aware(worker.last_seen) >= now - timedelta(seconds=timeout_s)


@dataclass(frozen=True)
class Liveness:
    """Which kinds of worker are alive now, and when each kind was last seen (None: never)."""

    alive: frozenset[DeviceKind]
    last_seen: dict[DeviceKind, datetime | None]
    now: datetime
    timeout_s: float  # seen within this long: alive

    def waiting_for(self, job_kind: DeviceKind) -> str | None:
        """Why a queued job asking for `job_kind` cannot start, or None when a live worker can take it."""
        if (job_kind is DeviceKind.any and self.alive) or job_kind in self.alive:
            return None
        what = "no live worker" if job_kind is DeviceKind.any else f"no live {job_kind.value} worker"
        seen = self.last_seen.get(job_kind)
        when = "never seen" if seen is None else (
            f"last seen {seen:%Y-%m-%d %H:%M:%S} UTC, {(self.now - seen).total_seconds():.0f} s ago")  # fmt: skip
        return f"{what}: {when} (start one: {START_HINT[job_kind]})"

    def job_waits_for(self, job: Job) -> str | None:
        """Why `job` cannot go on now, or None: a queued job (or an unfinished sweep's or report's jobs) that no
        live worker can take, or a running job whose worker went silent and that no live worker can resume."""
        if job.status is JobStatus.queued or (job.kind.parent and job.status is JobStatus.running):
            return self.waiting_for(job.device_kind)
        silent = aware(job.updated_at) < self.now - timedelta(seconds=self.timeout_s)
        if job.status is JobStatus.running and silent and (reason := self.waiting_for(job.device_kind)):
            return f"its worker {job.worker} went silent; {reason}"
        return None


def liveness(session: Session, timeout_s: float, now: datetime | None = None) -> Liveness:
    now = now or utcnow()
    workers = list(session.scalars(select(Worker)))
    alive = frozenset(w.kind for w in workers if is_alive(w, now, timeout_s))
    last_seen: dict[DeviceKind, datetime | None] = {}
    for kind in DeviceKind:
        seen = [aware(w.last_seen) for w in workers if kind is DeviceKind.any or w.kind is kind]
        last_seen[kind] = max(seen, default=None)
    return Liveness(alive, last_seen, now, timeout_s)


def running_jobs(session: Session, names: Iterable[str]) -> dict[str, str]:
    """Worker name -> the id of the job it runs now."""
    rows = session.execute(select(Job.worker, Job.id).where(Job.status == JobStatus.running,
                                                            Job.worker.in_(list(names))))  # fmt: skip
    return {worker: job_id for worker, job_id in rows if worker}
