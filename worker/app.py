"""The Celery app: one worker per GPU (CUDA_VISIBLE_DEVICES), pool solo, prefetch 1, late acks, reject on
worker lost, so a job whose worker dies goes back to the broker and resumes from its last epoch checkpoint.

    celery -A worker.app worker --pool solo --queues sth --hostname gpu0@%h
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery
from celery.signals import worker_ready
from sqlalchemy.exc import OperationalError

from store.settings import JOB_QUEUE, RUN_JOB_TASK, broker_transport_options, celery_broker_url, get_settings

log = logging.getLogger(__name__)
settings = get_settings()

app = Celery("sth-worker", broker=celery_broker_url(settings.broker_url))
app.conf.update(
    broker_transport_options=broker_transport_options(settings.broker_url, settings.broker_visibility_timeout_s),
    broker_connection_retry_on_startup=True,
    task_default_queue=JOB_QUEUE,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_concurrency=1,
    worker_pool="solo",
    worker_hijack_root_logger=False,
    task_ignore_result=True,
)


@app.task(
    name=RUN_JOB_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_kwargs={"max_retries": 8},
)  # a briefly unreachable or locked database is retried; the reconciler covers anything longer
def run_job_task(self, job_id: str) -> None:  # type: ignore[no-untyped-def]
    from worker.tasks import run_job

    run_job(job_id, worker_name=self.request.hostname or "worker")


@worker_ready.connect
def _reconcile(sender: object = None, **_: object) -> None:
    """At start: migrate, re-send this worker's own orphans at once, then look for lost jobs periodically."""
    from store.db import migrate

    migrate(settings.database_url)
    hostname = str(getattr(sender, "hostname", "") or "")
    reconcile_once(restarted_worker=hostname or None)
    threading.Thread(target=_reconcile_forever, daemon=True, name="sth-reconciler").start()


def reconcile_once(restarted_worker: str | None = None) -> None:
    from worker.broker import waiting_job_ids
    from worker.reconcile import requeue_orphans
    from worker.scratch import remove_orphans

    try:
        remove_orphans()
        sent = requeue_orphans(settings.database_url, lambda job_id: run_job_task.apply_async(args=[job_id]),
                               waiting=waiting_job_ids(settings.broker_url),
                               heartbeat_timeout_s=settings.heartbeat_timeout_s,
                               restarted_worker=restarted_worker)  # fmt: skip
    except Exception:
        log.warning("reconciler failed", exc_info=True)
        return
    if sent:
        log.info("reconciler re-sent %d job(s)", sent)
    from store.db import session_scope
    from store.sweeps import running_sweeps
    from worker.tasks import advance_sweep

    try:
        with session_scope(settings.database_url) as session:
            running = running_sweeps(session)
        for sweep_id in running:  # a child may have ended without advancing it
            advance_sweep(settings.database_url, sweep_id)
    except Exception:
        log.warning("advancing sweeps failed", exc_info=True)


def _reconcile_forever() -> None:
    while True:
        time.sleep(settings.reconcile_every_s)
        reconcile_once()
