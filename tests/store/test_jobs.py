import pytest
from sqlalchemy.exc import IntegrityError

from store.db import session_scope
from store.jobs import ALLOWED, TransitionError, claim_next, log_line, transition
from store.keys import create_user
from store.models import Job, JobKind, JobLog, JobStatus


def _job(session, owner, **fields):
    job = Job(**{"kind": JobKind.train, **fields}, owner_id=owner.id, spec={"epochs": 1}, spec_hash="h")
    session.add(job)
    session.flush()
    return job


@pytest.mark.parametrize(("start", "to"), [(s, t) for s in JobStatus for t in JobStatus])
def test_only_the_documented_transitions_are_allowed(database_url, start, to):
    with session_scope(database_url) as session:
        job = _job(session, create_user(session, "ann"), status=start)
        if to in ALLOWED[start]:
            transition(session, job, to)
            assert job.status is to
        else:
            with pytest.raises(TransitionError, match=f"is {start.value}; it cannot become {to.value}"):
                transition(session, job, to)
            assert job.status is start


def test_claim_starts_once_and_reclaims_a_lost_running_job(database_url):
    with session_scope(database_url) as session:
        job = _job(session, create_user(session, "bob"))
        job_id = job.id
    with session_scope(database_url) as session:
        job = claim_next(session, "worker-1", "cpu")
        assert job.id == job_id
        assert job.status is JobStatus.running and job.attempts == 1 and job.started_at is not None
    with session_scope(database_url) as session:
        assert claim_next(session, "worker-2", "cuda:0") is None  # worker-1 is alive: nothing to take
    with session_scope(database_url) as session:
        job = claim_next(session, "worker-2", "cuda:0", heartbeat_timeout_s=0)  # worker-1 went silent
        assert job.id == job_id and job.attempts == 2 and job.worker == "worker-2"
        transition(session, job, JobStatus.succeeded)
    with session_scope(database_url) as session:
        assert claim_next(session, "worker-3", "cpu", heartbeat_timeout_s=0) is None  # finished: never again
        assert session.get(Job, job_id).finished_at is not None


def test_a_sweep_and_kinds_the_worker_cannot_run_are_never_claimed(database_url):
    with session_scope(database_url) as session:
        owner = create_user(session, "dee")
        _job(session, owner, kind=JobKind.sweep)
        evaluation = _job(session, owner, kind=JobKind.evaluate)
        _job(session, owner)
    with session_scope(database_url) as session:
        assert claim_next(session, "w", "cpu", kinds={JobKind.evaluate}).id == evaluation.id
        assert claim_next(session, "w", "cpu", kinds={JobKind.evaluate}) is None
        assert claim_next(session, "w", "cpu").kind is JobKind.train
        assert claim_next(session, "w", "cpu") is None


def test_idempotency_key_is_unique_per_owner(database_url):
    with session_scope(database_url) as session:
        ann, bob = create_user(session, "ann"), create_user(session, "bob")
        _job(session, ann, idempotency_key="k1")
        _job(session, bob, idempotency_key="k1")  # another owner may reuse it
    with pytest.raises(IntegrityError), session_scope(database_url) as session:
        owner = session.query(Job).first().owner_id
        session.add(Job(kind=JobKind.train, owner_id=owner, spec={}, spec_hash="h", idempotency_key="k1"))
        session.flush()


def test_log_lines_are_kept_in_order(database_url):
    with session_scope(database_url) as session:
        job = _job(session, create_user(session, "cy"))
        for i in range(3):
            log_line(session, job.id, f"line {i}")
        session.flush()
        lines = session.query(JobLog).filter_by(job_id=job.id).order_by(JobLog.id).all()
        assert [line.message for line in lines] == ["line 0", "line 1", "line 2"]
