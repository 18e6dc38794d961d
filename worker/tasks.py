"""Runs one job from the database: claim it, dispatch by kind, record how it ended."""

from __future__ import annotations

import logging
from typing import Any

from sthlib.data import uploaded_names, uploads_dir
from sthlib.train import TrainingStopped, resolve_device
from store.datasets import materialize
from store.db import session_scope
from store.jobs import JobBusy, claim, transition
from store.models import Job, JobKind, JobStatus, Model
from store.settings import get_settings
from worker.context import JobCancelled, JobContext
from worker.evaluate import run_evaluation
from worker.sweep import advance
from worker.train import run_train

log = logging.getLogger(__name__)


def send_job(job_id: str) -> None:
    from worker.app import run_job_task

    run_job_task.apply_async(args=[job_id])


def run_job(job_id: str, worker_name: str) -> None:
    settings = get_settings()
    url, device = settings.database_url, str(resolve_device())
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        is_sweep = job is not None and job.kind is JobKind.sweep
    if is_sweep:  # nothing to run: a sweep advances when its children end
        advance(url, job_id, send_job)
        return
    try:
        with session_scope(url) as session:
            job = claim(session, job_id, worker_name, device, settings.heartbeat_timeout_s)
            if job is None:
                log.info("job %s is finished or gone: message dropped", job_id)
                return
            kind, spec, resume, parent = job.kind, dict(job.spec), job.resume_blob_id, job.parent_id
            attempt = job.attempts
    except JobBusy as busy:
        log.info("%s: message dropped", busy)
        return
    with JobContext(url, job_id, settings.heartbeat_s, worker_name, attempt) as ctx:
        ctx.log(f"started on {worker_name} ({device})")
        try:
            fetch_uploaded_datasets(url, kind, spec)
            if kind is JobKind.train:
                run_train(ctx, url, job_id, spec, resume, device)
            elif kind is JobKind.evaluate:
                run_evaluation(ctx, url, job_id, spec, device)
            else:
                raise ValueError(f"a {kind.value} job is not run by a worker")
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
        advance(url, parent, send_job)


def fetch_uploaded_datasets(url: str, kind: JobKind, spec: dict[str, Any]) -> None:
    """Put the uploaded datasets (upload:NAME) a job reads on this machine's disk, verified, from the database."""
    with session_scope(url) as session:
        if kind is JobKind.train:
            names = [spec.get("dataset"), (spec.get("reg") or {}).get("dataset")]
        else:
            model = session.get(Model, spec.get("model_id", ""))
            names = [model.dataset] if model is not None else []
        for name in uploaded_names(names):
            materialize(session, name, uploads_dir())


def finish(ctx: JobContext, status: JobStatus, **fields: Any) -> bool:
    """Record how the attempt ended, if the job is still this attempt's (fenced by worker and attempt number)."""
    with session_scope(ctx.url) as session:
        job = session.get(Job, ctx.job_id)
        mine = job is not None and (job.worker, job.attempts) == (ctx.worker, ctx.attempt)
        if job is None or job.status is not JobStatus.running or not mine:
            return False
        if status is JobStatus.succeeded:
            fields["progress"] = {**job.progress, "fraction": 1.0, "eta_s": 0}
        transition(session, job, status, **fields)
        return True
