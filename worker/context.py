"""What a running job can do with the database: report progress, log, notice cancellation, keep a heartbeat, fetch
the uploaded datasets it reads."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.orm import Session

from sthlib.data import uploaded_names, uploads_dir
from store.datasets import materialize
from store.db import session_scope
from store.jobs import log_line
from store.models import Job, utcnow

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """The job's owner asked to cancel it."""


class JobContext:
    """Throttled writes (at most one per `min_interval_s`) so progress never slows a training step.

    Fenced by (worker, attempt): if another worker claimed the job (this one was silent too long, e.g. paused, and a
    woken worker's store.jobs.claim_next took it over), this attempt finds out at its next heartbeat or cancellation
    check, stops as if cancelled and records nothing more: the job never runs twice at once, and a stale attempt
    never sets its final status.
    """

    def __init__(self, database_url: str, job_id: str, heartbeat_s: float, worker: str = "", attempt: int = 0,
                 min_interval_s: float = 1.0, device: str = "cpu", resume_blob: str | None = None) -> None:  # fmt: skip
        self.url, self.job_id, self.min_interval_s = database_url, job_id, min_interval_s
        self.worker, self.attempt = worker, attempt
        self.device = device  # where the job runs ("cpu", "cuda")
        self.resume_blob = resume_blob  # a training's last epoch state, when an earlier attempt saved one
        self._last_write = 0.0
        self._cancel_checked = 0.0
        self._cancelled = False
        self.lost = False  # another worker holds the job now
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, args=(heartbeat_s,), daemon=True)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the job's database, committed when the block ends (rolled back on an exception)."""
        with session_scope(self.url) as session:
            yield session

    def __enter__(self) -> JobContext:
        self._beat.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._beat.join(timeout=5)

    def _mine(self) -> ColumnElement[bool]:
        return and_(Job.id == self.job_id, Job.worker == self.worker, Job.attempts == self.attempt)

    def _heartbeat(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                with self.session() as session:
                    done = session.execute(update(Job).where(self._mine()).values(updated_at=utcnow()))
                    if not done.rowcount:  # type: ignore[attr-defined]
                        self._lose()
            except Exception:
                log.warning("heartbeat for job %s failed", self.job_id, exc_info=True)

    def _lose(self) -> None:
        if not self.lost:
            log.warning("job %s: attempt %d on %s was taken over by another worker; stopping", self.job_id,
                        self.attempt, self.worker)  # fmt: skip
        self.lost = True

    def progress(self, force: bool = False, **fields: Any) -> None:
        now = time.monotonic()
        if self.lost or (not force and now - self._last_write < self.min_interval_s):
            return
        self._last_write = now
        with self.session() as session:
            job = session.scalars(select(Job).where(self._mine())).first()
            if job is not None:
                job.progress = {**job.progress, **fields}

    def fetch_uploads(self, names: list[str]) -> None:
        """Put the uploaded datasets (upload:NAME) among `names` on this machine's disk, verified, from the
        database; other names are built-in datasets, found on disk when loaded."""
        with self.session() as session:
            for name in uploaded_names(names):
                materialize(session, name, uploads_dir())

    def log(self, message: str, level: str = "info") -> None:
        log.info("job %s: %s", self.job_id, message)
        with self.session() as session:
            log_line(session, self.job_id, message, level)

    def cancel_requested(self) -> bool:
        """Polled between batches; reads the database at most once a second. True also when the job was taken
        over by another worker."""
        now = time.monotonic()
        if not (self._cancelled or self.lost) and now - self._cancel_checked >= self.min_interval_s:
            self._cancel_checked = now
            with self.session() as session:
                job = session.get(Job, self.job_id)
                self._cancelled = bool(job and job.cancel_requested)
                if job is not None and (job.worker, job.attempts) != (self.worker, self.attempt):
                    self._lose()
        return self._cancelled or self.lost
