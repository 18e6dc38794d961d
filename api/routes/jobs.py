"""Jobs: submit training and evaluation jobs, list, inspect, cancel, retry, follow their logs."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import QueueDep, SessionDep, UserDep, require_owner
from api.errors import ApiError, invalid, not_found, responses
from api.inputs import INT32_MAX, Name, check_name
from api.job_labels import job_labels
from api.queue import JobQueue
from api.routes.workers import workers_now
from api.schemas import (
    EvalJobCreate,
    JobError,
    JobPage,
    JobPublic,
    LogLine,
    SweepCreate,
    TrainJobCreate,
)
from api.specs import eval_job_spec, recheck, sweep_spec, train_spec
from sthlib.jobspecs import EvalJobSpec, SweepSpec, read_spec
from sthlib.reproduce.protocols import ReportSpec
from sthlib.specs import TrainSpec
from store import sweeps
from store.jobs import BrokerUnavailable, log_line, transition
from store.jobs import enqueue as store_enqueue
from store.models import DeviceKind, Job, JobKind, JobLog, JobStatus, Model, User
from store.workers import Liveness

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["jobs"], responses=responses(401))
JobId = Annotated[Name, Path(description="a job's id (GET /v1/jobs)")]
PAGE_TOKEN_CHARS = 256  # a token this server issues (a timestamp and an id, JSON in base64) is about 110
JSON = "application/json"
RECONNECT_MS = 1000  # sent when the server drains: clients reconnect after this long


def job_public(session: Session, job: Job, model_ids: dict[str, str] | None = None,
               labels: dict[str, str] | None = None, workers: Liveness | None = None) -> JobPublic:  # fmt: skip
    """`model_ids` (job id -> model id), `labels` (job id -> label) and `workers` (who is alive) let a list answer
    from one query each instead of one per job."""
    if model_ids is None:
        model_ids = _model_ids(session, [job.id])
    if labels is None:
        labels = job_labels(session, [job])
    waiting_for = None if job.status.finished else (workers or workers_now(session)).job_waits_for(job)
    model_id = model_ids.get(job.id)
    error = JobError(code=job.error_code, message=job.error_message) if job.error_code else None
    return JobPublic(id=job.id, kind=job.kind, status=job.status, owner=job.owner.name, spec=job.spec,
                     progress=job.progress, cancel_requested=job.cancel_requested, attempts=job.attempts,
                     worker=job.worker, device=job.device, device_kind=job.device_kind, waiting_for=waiting_for,
                     error=error, priority=job.priority, model_id=model_id,
                     label=labels.get(job.id), parent_id=job.parent_id, setting=job.setting, result=job.result,
                     created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at)  # fmt: skip


def _model_ids(session: Session, job_ids: list[str]) -> dict[str, str]:
    rows = session.execute(select(Model.job_id, Model.id).where(Model.job_id.in_(job_ids)))
    return {job_id: model_id for job_id, model_id in rows if job_id}


def _same_submission(session: Session, user: User, idempotency_key: str | None, spec_hash: str) -> JobPublic | None:
    """The job this idempotency key already made (None if none); 422 if the key was used for another spec."""
    if not idempotency_key:
        return None
    existing = session.scalars(
        select(Job).where(Job.owner_id == user.id, Job.idempotency_key == idempotency_key)
    ).first()
    if existing is not None and existing.spec_hash != spec_hash:
        raise invalid("idempotency_key was used for a different job; use a new key", "idempotency_key")
    return None if existing is None else job_public(session, existing)


def _submit(session: Session, queue: QueueDep, user: User, spec: TrainSpec | EvalJobSpec,
            idempotency_key: str | None, device: DeviceKind) -> JobPublic:  # fmt: skip
    spec_hash = spec.spec_hash()
    existing = _same_submission(session, user, idempotency_key, spec_hash)
    if existing is not None:
        return existing
    setting: str | None
    if isinstance(spec, TrainSpec):
        kind, setting = JobKind.train, spec.setting_hash()
    else:
        model = session.get(Model, spec.model_id)
        kind, setting = JobKind.evaluate, model.setting if model is not None else None
    job = Job(kind=kind, owner_id=user.id, spec=spec.to_dict(), spec_hash=spec_hash, setting=setting,
              idempotency_key=idempotency_key, device_kind=device)  # fmt: skip
    session.add(job)
    try:
        session.commit()  # the database holds the job before the broker hears of it
    except IntegrityError:  # a concurrent request with the same idempotency key committed first: that is the job
        session.rollback()
        existing = _same_submission(session, user, idempotency_key, spec_hash)
        if existing is None:
            raise
        return existing
    enqueue(session, queue, [job])
    return job_public(session, job)


def enqueue(session: Session, queue: JobQueue, jobs: list[Job], parent: Job | None = None) -> None:
    """Send a submission's committed jobs; 503 (with the jobs taken back) when the broker cannot be reached."""
    try:
        store_enqueue(session, queue.send, jobs, parent, take_back=True)
    except BrokerUnavailable as e:
        raise ApiError(503, "broker_unavailable", f"the job queue cannot be reached ({e}); no job was created: "
                       "retry in a moment", None) from None  # fmt: skip


@router.post("/train-jobs", status_code=201)
def create_train_job(body: TrainJobCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Queue a training run: a preset changed by `spec` (validated before anything is queued)."""
    spec = train_spec(session, body.preset, body.spec)
    return _submit(session, queue, user, spec, body.idempotency_key, body.device)


@router.post("/eval-jobs", status_code=201, responses=responses(404))
def create_eval_job(body: EvalJobCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Queue evaluators on a model (transfer_fgsm names its source model)."""
    spec = eval_job_spec(session, body)
    return _submit(session, queue, user, spec, body.idempotency_key, body.device)


@router.post("/sweeps", status_code=201)
def create_sweep(body: SweepCreate, session: SessionDep, user: UserDep, queue: QueueDep) -> JobPublic:
    """Train every combination of `grid` for every seed, plus an unregularized baseline per seed, evaluate each model,
    and select the most robust setting (by `select_by`'s area under the curve) whose clean accuracy keeps
    R0/U0 >= min_r0_u0 (PAPER.md). The sweep is a job that owns its children (GET /v1/jobs?parent_id=ID); its
    `result` holds the table and the selection. Every child spec is validated before anything is queued."""
    return _submit_sweep(session, queue, user, sweep_spec(session, body), body.idempotency_key, body.device)


def _submit_sweep(session: Session, queue: QueueDep, user: User, sweep: SweepSpec,
                  idempotency_key: str | None, device: DeviceKind) -> JobPublic:  # fmt: skip
    existing = _same_submission(session, user, idempotency_key, sweep.spec_hash())
    if existing is not None:
        return existing
    parent, jobs = sweeps.create(session, user.id, sweep, idempotency_key, device=device)
    enqueue(session, queue, jobs, parent=parent)
    return job_public(session, parent)


def submit_report(session: Session, queue: QueueDep, user: User, spec: ReportSpec, idempotency_key: str | None,
                  device: DeviceKind = DeviceKind.any) -> JobPublic:  # fmt: skip
    """A checked report: its parent job and its trainings, sent (the report's own spec is what it stores)."""
    existing = _same_submission(session, user, idempotency_key, spec.spec_hash())
    if existing is not None:
        return existing
    parent, jobs = sweeps.create(session, user.id, spec.sweep(), idempotency_key, report=spec, device=device)
    enqueue(session, queue, jobs, parent=parent)
    return job_public(session, parent)


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
    model_ids, labels = _model_ids(session, [j.id for j in jobs]), job_labels(session, jobs)
    workers = workers_now(session) if any(not j.status.finished for j in jobs) else None
    return JobPage(items=[job_public(session, j, model_ids, labels, workers) for j in jobs],
                   next_page_token=_page_token(jobs[-1]) if more else None).model_dump_json().encode()  # fmt: skip


def get_job_or_404(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found("job", job_id)
    return job


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
    """A new job with the same spec as a failed or cancelled one (asking for the same kind of device)."""
    job = get_job_or_404(session, job_id)
    require_owner(user, job.owner_id, "job")
    if job.status not in (JobStatus.failed, JobStatus.cancelled):
        raise invalid(f"job {job_id} is {job.status.value}; only failed or cancelled jobs can be retried")
    stored = read_spec(job.kind.value, job.spec)
    if isinstance(stored, ReportSpec):  # a new report from the same spec: new children
        recheck(session, stored.sweep())
        return submit_report(session, queue, user, stored, None, job.device_kind)
    spec = recheck(session, stored)  # datasets, pairs and source models may be gone
    if isinstance(spec, SweepSpec):  # a new sweep from the same spec: new children
        return _submit_sweep(session, queue, user, spec, None, job.device_kind)
    return _submit(session, queue, user, spec, None, job.device_kind)


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
