"""Workers: the Celery worker processes as they last reported themselves (kind, device, last seen, alive, the job
each runs), so that a member can see whether a GPU worker is up before asking for one."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import SessionDep, UserDep
from api.errors import responses
from api.schemas import WorkerPublic
from store.models import Worker, utcnow
from store.settings import get_settings
from store.workers import FORGET_AFTER, is_alive, running_jobs

router = APIRouter(prefix="/v1", tags=["workers"], responses=responses(401))


@router.get("/workers")
def list_workers(session: SessionDep, _: UserDep) -> list[WorkerPublic]:
    """Every worker seen in the last 7 days, alive ones first, then the most recently seen: its kind (gpu or cpu:
    the jobs it claims), device, host, when it was last seen, and the job it runs now. Start one with
    `sth worker --gpus all` (one per GPU) or `sth worker --gpus none` (a CPU worker)."""
    now, timeout = utcnow(), get_settings().heartbeat_timeout_s
    recent = select(Worker).where(Worker.last_seen >= now - FORGET_AFTER).order_by(Worker.last_seen.desc())
    workers = list(session.scalars(recent))
    running = running_jobs(session, [w.name for w in workers])
    items = [WorkerPublic(name=w.name, kind=w.kind, device=w.device, host=w.host, pid=w.pid,
                          started_at=w.started_at, last_seen=w.last_seen, alive=is_alive(w, now, timeout),
                          stopped_at=w.stopped_at, running_job=running.get(w.name)) for w in workers]  # fmt: skip
    return sorted(items, key=lambda w: not w.alive)  # stable: most recently seen first within each
