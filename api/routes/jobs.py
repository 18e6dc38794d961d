"""Jobs: submit trainings, evaluations and sweeps (through api.submission), list, inspect, cancel, retry, follow
their logs."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from api.deps import QueueDep, SessionDep, UserDep, get_job_or_404, require_owner
from api.errors import invalid, responses
from api.inputs import INT32_MAX, Name, check_name
from api.job_labels import job_labels
from api.job_views import JobId, job_public, model_ids_of, workers_now
from api.schemas import (
    EvalJobCreate,
    JobPage,
    JobPublic,
    LogLine,
    SweepCreate,
    TrainJobCreate,
)
from api.specs import eval_job_spec, sweep_spec, typed_train_spec
from api.submission import submit
from sthlib.jobkinds import read_spec
from store.jobs import log_line, transition
from store.models import Job, JobKind, JobLog, JobStatus, User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["jobs"], responses=responses(401))
PAGE_TOKEN_CHARS = 256  # a token this server issues (a timestamp and an id, JSON in base64) is about 110
JSON = "application/json"
RECONNECT_MS = 1000  # sent when the server drains: clients reconnect after this long


@router.post("/train-jobs", status_code=201)
def create_train_job(body: TrainJobCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Queue a training run: a preset changed by `spec` (validated before anything is queued)."""
    spec = typed_train_spec(body.preset, body.spec)
    return job_public(session, submit(session, queue, user, JobKind.train, spec, body.idempotency_key, body.device))


@router.post("/eval-jobs", status_code=201, responses=responses(404))
def create_eval_job(body: EvalJobCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Queue evaluators on a model (transfer_fgsm names its source model)."""
    spec = eval_job_spec(session, body)
    job = submit(session, queue, user, JobKind.evaluate, spec, body.idempotency_key, body.device)
    return job_public(session, job)


@router.post("/sweeps", status_code=201)
def create_sweep(body: SweepCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Train every combination of `grid` for every seed, plus an unregularized baseline per seed, evaluate each model,
    and select the most robust setting (by `select_by`'s area under the curve) whose clean accuracy keeps
    R0/U0 >= min_r0_u0 (PAPER.md). The sweep is a job that owns its children (GET /v1/jobs?parent_id=ID); its
    `result` holds the table and the selection. Every child spec is validated before anything is queued."""
    job = submit(session, queue, user, JobKind.sweep, sweep_spec(body), body.idempotency_key, body.device)
    return job_public(session, job)


def _page_token(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _after(token: str) -> Any:
    """Jobs after the (created_at, id) a page token holds; 422 for a token of any other shape."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not (isinstance(decoded, list) and len(decoded) == 2 and all(isinstance(v, str) for v in decoded)):
            raise ValueError("not [created_at, id]")
        created, ident = decoded
        when = datetime.fromisoformat(created)
        check_name(ident)
    except (ValueError, RecursionError):
        message = "page_token is not one this server issued; pass next_page_token as it came"
        raise invalid(message, "page_token") from None
    return or_(Job.created_at < when, and_(Job.created_at == when, Job.id < ident))


@router.get("/jobs", response_model=JobPage)
def list_jobs(
    request: Request, session: SessionDep, _: UserDep,
    status: JobStatus | None = None, kind: JobKind | None = None,
    owner: Annotated[Name | None, Query(description="a user name")] = None,
    parent_id: Annotated[Name | None, Query(description="a sweep's id: its trainings and evaluations")] = None,
    setting: Annotated[Name | None, Query(description="a setting id: the trainings of its seeds and their "
                                          "evaluations")] = None,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    page_token: Annotated[str | None, Query(max_length=PAGE_TOKEN_CHARS, description="next_page_token")] = None,
) -> Response:  # fmt: skip
    """The team's jobs, newest first (each API process reuses a page for up to STH_API_CACHE_S, 1 s)."""
    key = (status, kind, owner, parent_id, setting, page_size, page_token)
    return Response(request.app.state.recent_pages.get(key, lambda: _page(session, *key)), media_type=JSON)


def _page(session: Session, status: JobStatus | None, kind: JobKind | None, owner: str | None, parent_id: str | None,
          setting: str | None, page_size: int, page_token: str | None) -> bytes:  # fmt: skip
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(page_size + 1)
    if status:
        query = query.where(Job.status == status)
    if kind:
        query = query.where(Job.kind == kind)
    if owner:
        query = query.join(User, Job.owner_id == User.id).where(User.name == owner)
    if parent_id:
        query = query.where(Job.parent_id == parent_id)
    if setting:
        query = query.where(Job.setting == setting)
    if page_token:
        query = query.where(_after(page_token))
    jobs = list(session.scalars(query).unique())
    more = len(jobs) > page_size
    jobs = jobs[:page_size]
    model_ids, labels = model_ids_of(session, [j.id for j in jobs]), job_labels(session, jobs)
    workers = workers_now(session) if any(not j.status.finished for j in jobs) else None
    return JobPage(items=[job_public(session, j, model_ids, labels, workers) for j in jobs],
                   next_page_token=_page_token(jobs[-1]) if more else None).model_dump_json().encode()  # fmt: skip


@router.get("/jobs/{job_id}", responses=responses(404))
def get_job(job_id: JobId, session: SessionDep, _: UserDep) -> JobPublic:
    return job_public(session, get_job_or_404(session, job_id))


@router.post("/jobs/{job_id}/cancel", responses=responses(403, 404))
def cancel_job(job_id: JobId, session: SessionDep, user: UserDep) -> JobPublic:
    """A queued job is cancelled at once; a running one stops at its next batch."""
    job = get_job_or_404(session, job_id)
    require_owner(user, job.owner_id, "job")
    if job.status.finished:
        raise invalid(f"job {job_id} is {job.status.value}; only queued or running jobs can be cancelled")
    if job.kind.parent:  # no worker runs a sweep or report itself: it ends now, with its unfinished children
        for child in session.scalars(select(Job).where(Job.parent_id == job.id)):
            _cancel(session, child)
        transition(session, job, JobStatus.cancelled)
        log_line(session, job.id, f"cancelled by {user.name}")
    else:
        _cancel(session, job)
    return job_public(session, job)


def _cancel(session: Session, job: Job) -> None:
    """A queued job is cancelled at once; a running one is asked to stop at its next batch."""
    if job.status is JobStatus.queued:
        transition(session, job, JobStatus.cancelled)
    elif job.status is JobStatus.running:
        job.cancel_requested = True


@router.post("/jobs/{job_id}/retry", status_code=201, responses=responses(403, 404))
def retry_job(job_id: JobId, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """A new job with the same spec as a failed or cancelled one (asking for the same kind of device); a sweep or
    report gets new children."""
    job = get_job_or_404(session, job_id)
    require_owner(user, job.owner_id, "job")
    if job.status not in (JobStatus.failed, JobStatus.cancelled):
        raise invalid(f"job {job_id} is {job.status.value}; only failed or cancelled jobs can be retried")
    spec = read_spec(job.kind.value, job.spec)  # checked again: datasets, pairs and source models may be gone
    return job_public(session, submit(session, queue, user, job.kind, spec, None, job.device_kind))


@router.get("/jobs/{job_id}/logs", responses=responses(404))
def job_logs(
    job_id: JobId, session: SessionDep, _: UserDep,
    after: Annotated[int, Query(ge=0, le=INT32_MAX, description="lines after this id (the last one seen)")] = 0,
) -> list[LogLine]:  # fmt: skip
    get_job_or_404(session, job_id)
    lines = session.scalars(select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after).order_by(JobLog.id))
    return [LogLine(id=x.id, created_at=x.created_at, level=x.level, message=x.message) for x in lines]


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse, responses=responses(404))
async def job_events(
    job_id: JobId, request: Request, session: SessionDep, _: UserDep,
    poll_s: Annotated[float, Query(ge=0.1, le=10)] = 0.5,
    last_event_id: Annotated[int | None, Header(ge=0, le=INT32_MAX, description="resume after this log line id "
                                                "(browsers send it when they reconnect)")] = None,
) -> StreamingResponse:  # fmt: skip
    """Server-sent events: `progress` (status and progress when they change), `log` (each new line, with its id
    as the event id, so Last-Event-ID resumes), and `end` when the job has finished."""
    get_job_or_404(session, job_id)
    session.commit()  # end the request's transaction now: a stream must not hold a lock for its lifetime
    sessions, drain, polls = request.app.state.sessions, request.app.state.drain, request.app.state.stream_polls
    last_log = last_event_id or 0

    def fetch(after: int) -> tuple[dict[str, Any], list[JobLog]]:
        with sessions() as s:
            job = s.get(Job, job_id)
            state = {"status": job.status.value, "progress": job.progress, "attempts": job.attempts}
            lines = list(s.scalars(select(JobLog).where(JobLog.job_id == job_id, JobLog.id > after)
                                   .order_by(JobLog.id)))  # fmt: skip
            return state, lines

    async def stream() -> AsyncIterator[str]:
        nonlocal last_log
        previous = None
        while True:
            state, lines = await anyio.to_thread.run_sync(fetch, last_log, limiter=polls)
            for line in lines:
                payload = {"level": line.level, "message": line.message, "at": line.created_at.isoformat()}
                yield f"event: log\nid: {line.id}\ndata: {json.dumps(payload)}\n\n"
                last_log = line.id
            if state != previous:
                yield f"event: progress\ndata: {json.dumps(state)}\n\n"
                previous = state
            if JobStatus(state["status"]).finished:
                yield f"event: end\ndata: {json.dumps({'status': state['status']})}\n\n"
                return
            if await request.is_disconnected():
                return
            if await drain.sleep(poll_s):  # the server is stopping: the client reconnects with Last-Event-ID
                yield f"retry: {RECONNECT_MS}\n\n"
                return

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
