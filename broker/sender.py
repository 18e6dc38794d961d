"""The one sender of wake-up messages: by task name, so that neither the API nor a worker process imports the
other (nor the API torch). The API sends its submissions; a worker its sweeps' evaluations and the reconciler's
re-sends."""

from __future__ import annotations

from celery import Celery

from store.settings import JOB_QUEUE, RUN_JOB_TASK, broker_transport_options, celery_broker_url


class JobQueue:
    def __init__(self, broker_url: str) -> None:
        # fixups=[]: Celery's built-in Django fix-up imports celery.worker (the WorkController) into the API process
        self.app = Celery("sth-sender", broker=celery_broker_url(broker_url), fixups=[])
        self.app.conf.broker_transport_options = broker_transport_options(broker_url)
        self.app.conf.broker_connection_retry_on_startup = True
        # an unreachable broker fails a send within about a second (a submission is then taken back: store.jobs.enqueue)
        self.app.conf.task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2,
                                                   "interval_max": 0.5}  # fmt: skip

    def send(self, job_id: str, queue: str = JOB_QUEUE) -> None:
        """A wake-up for the workers of `queue` (store.settings.wake_queue: the job's device kind)."""
        self.app.send_task(RUN_JOB_TASK, args=[job_id], queue=queue, task_id=f"{job_id}-{_nonce()}")

    def ping(self) -> None:
        """Raise if the broker cannot be reached."""
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=2)


def _nonce() -> str:
    import secrets

    return secrets.token_hex(4)
