"""A submission's rows: the job a spec makes (a parent kind's with its children, store.sweeps.create), committed
before the broker hears of it, and the job an idempotency key already made. One path for every job kind; the API's
submission service (api.submission) checks, calls these, then sends."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sthlib.jobkinds import JobKind, JobSpec, as_parent
from store import sweeps
from store.models import DeviceKind, Job, Model


class KeyReused(ValueError):
    """The idempotency key made a job of another spec."""


def existing(session: Session, owner_id: str, idempotency_key: str | None, spec_hash: str) -> Job | None:
    """The job this owner's idempotency key already made (None if none or no key); KeyReused if it was made for
    another spec."""
    if not idempotency_key:
        return None
    job = session.scalars(select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == idempotency_key)).first()
    if job is not None and job.spec_hash != spec_hash:
        raise KeyReused("idempotency_key was used for a different job; use a new key")
    return job


def insert(session: Session, owner_id: str, kind: JobKind, spec: JobSpec, idempotency_key: str | None,
           device: DeviceKind) -> tuple[Job, list[Job]]:  # fmt: skip
    """The job of `spec`, committed, and the jobs to send: itself, or a parent kind's trainings. A concurrent
    submission with the same idempotency key that committed first wins: its job is returned, with nothing to send."""
    try:
        parent = as_parent(kind, spec)
        if parent is not None:
            return sweeps.create(session, owner_id, kind, parent, idempotency_key, device)
        job = Job(kind=kind, owner_id=owner_id, spec=spec.to_dict(), spec_hash=spec.spec_hash(),
                  setting=spec.job_setting(lambda model_id: _model_setting(session, model_id)),
                  idempotency_key=idempotency_key, device_kind=device)  # fmt: skip
        session.add(job)
        session.commit()  # the database holds the job before the broker hears of it
        return job, [job]
    except IntegrityError:
        session.rollback()
        first = existing(session, owner_id, idempotency_key, spec.spec_hash())
        if first is None:
            raise
        return first, []


def _model_setting(session: Session, model_id: str) -> str | None:
    model = session.get(Model, model_id)
    return model.setting if model is not None else None
