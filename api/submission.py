"""The one submission service: every route that queues jobs (train, evaluate, sweeps, reports) and retry come
through `submit`: the pre-flight checks of the job's kind, the idempotency key, the rows (store.submissions), the
wake-up messages (broker.sender). A broker that cannot be reached undoes the submission: 503, nothing created."""

from __future__ import annotations

from sqlalchemy.orm import Session

from api.errors import ApiError, invalid
from api.specs import preflight
from broker.sender import JobQueue
from sthlib.jobkinds import JobKind, JobSpec
from store import submissions
from store.jobs import BrokerUnavailable
from store.jobs import enqueue as store_enqueue
from store.models import DeviceKind, Job, User


def submit(session: Session, queue: JobQueue, user: User, kind: JobKind, spec: JobSpec,
           idempotency_key: str | None = None, device: DeviceKind = DeviceKind.any) -> Job:  # fmt: skip
    """Check `spec` (422 naming the field), then return the job its idempotency key already made, or make it and
    send it (a parent kind's trainings are sent; its evaluations follow as they are trained)."""
    preflight(session, kind, spec)
    try:
        made = submissions.existing(session, user.id, idempotency_key, spec.spec_hash())
    except submissions.KeyReused as e:
        raise invalid(str(e), "idempotency_key") from None
    if made is not None:
        return made
    job, to_send = submissions.insert(session, user.id, kind, spec, idempotency_key, device)
    _enqueue(session, queue, to_send, job if kind.parent else None)
    return job


def _enqueue(session: Session, queue: JobQueue, jobs: list[Job], parent: Job | None) -> None:
    """Send a submission's committed jobs; 503 (with the jobs taken back) when the broker cannot be reached."""
    try:
        store_enqueue(session, queue.send, jobs, parent, take_back=True)
    except BrokerUnavailable as e:
        raise ApiError(503, "broker_unavailable", f"the job queue cannot be reached ({e}); no job was created: "
                       "retry in a moment", None) from None  # fmt: skip
