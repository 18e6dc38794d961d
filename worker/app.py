"""The Celery app: one worker per GPU (CUDA_VISIBLE_DEVICES), pool solo, prefetch 1, late acks. A message only
wakes a worker, which claims the next job of the queue's order from the database (worker.tasks.run_job); a job
whose worker dies stays running in the database, and once its heartbeat is late a woken worker claims it again and
resumes it from its last epoch checkpoint (the reconciler sends the wake-up).

    sth worker --gpus all     # or by hand: CUDA_VISIBLE_DEVICES=0 celery -A worker.app worker --pool solo \
                              #   --queues sth,sth.gpu --hostname gpu0@%h

A worker knows its kind (gpu when torch sees CUDA in its process, else cpu) and always listens to the any-device
queue (sth) and its kind's (sth.gpu or sth.cpu), whatever --queues says; it records itself in the workers table at
start and every STH_HEARTBEAT_S (worker.liveness).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery
from celery.signals import celeryd_after_setup, worker_ready, worker_shutdown
from sqlalchemy.exc import OperationalError

from store.settings import (
    DEVICE_QUEUES,
    JOB_QUEUE,
    RUN_JOB_TASK,
    WAKE_QUEUES,
    broker_transport_options,
    celery_broker_url,
    get_settings,
    worker_queues,
)

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


@celeryd_after_setup.connect
def _listen_by_kind(sender: str, instance: object, **_: object) -> None:
    """Listen to the any-device queue and this worker's kind's, not the other kind's (whatever --queues said)."""
    from worker.liveness import worker_kind

    kind = worker_kind()
    queues = instance.app.amqp.queues  # type: ignore[attr-defined]
    for name in worker_queues(kind.value):
        queues.select_add(name)
    for other in set(DEVICE_QUEUES.values()) - set(worker_queues(kind.value)):
        if other in queues.consume_from:
            log.warning("%s is a %s worker: it does not listen to %s", sender, kind.value, other)
            queues.deselect([other])
    log.info("%s: a %s worker, listening to %s", sender, kind.value, ", ".join(sorted(queues.consume_from)))


_stop = threading.Event()


@worker_ready.connect
def _reconcile(sender: object = None, **_: object) -> None:
    """At start: migrate, record this worker (and keep it seen), re-send its own orphans at once, then look for
    lost jobs periodically."""
    from store.db import migrate
    from worker.liveness import keep_alive, register

    migrate(settings.database_url)
    hostname = str(getattr(sender, "hostname", "") or "")
    if hostname:
        try:
            register(settings.database_url, hostname)
        except Exception:  # the heartbeat records it once the database answers
            log.warning("could not record worker %s", hostname, exc_info=True)
        threading.Thread(target=keep_alive, args=(settings.database_url, hostname, settings.heartbeat_s, _stop),
                         daemon=True, name="sth-liveness").start()  # fmt: skip
    reconcile_once(restarted_worker=hostname or None)
    threading.Thread(target=_reconcile_forever, daemon=True, name="sth-reconciler").start()


@worker_shutdown.connect
def _stopped(sender: object = None, **_: object) -> None:
    """A clean shutdown: not alive from now on (a killed worker is no longer alive once its heartbeat is late)."""
    from worker.liveness import unregister

    _stop.set()
    hostname = str(getattr(sender, "hostname", "") or "")
    if hostname:
        unregister(settings.database_url, hostname)


def reconcile_once(restarted_worker: str | None = None) -> None:
    from broker.waiting import waiting_job_ids
    from worker.reconcile import requeue_orphans
    from worker.scratch import remove_orphans
    from worker.tasks import advance_sweep, send

    try:
        remove_orphans()
        waiting = {queue: waiting_job_ids(settings.broker_url, queue) for queue in WAKE_QUEUES}
        sent = requeue_orphans(settings.database_url, send,
                               waiting=None if None in waiting.values() else waiting,  # type: ignore[arg-type]
                               heartbeat_timeout_s=settings.heartbeat_timeout_s,
                               restarted_worker=restarted_worker)  # fmt: skip
    except Exception:
        log.warning("reconciler failed", exc_info=True)
        return
    if sent:
        log.info("reconciler re-sent %d job(s)", sent)
    from store.db import session_scope
    from store.sweeps import running_sweeps

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
