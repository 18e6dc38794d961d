import pytest
from sqlalchemy.exc import IntegrityError

from store.db import session_scope
from store.jobs import ALLOWED, JobBusy, TransitionError, claim, log_line, transition
from store.keys import create_user
from store.models import Job, JobKind, JobLog, JobStatus


def _job(session, owner, **fields):
    job = Job(kind=JobKind.train, owner_id=owner.id, spec={"epochs": 1}, spec_hash="h", **fields)
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
        job = claim(session, job_id, "worker-1", "cpu")
        assert job.status is JobStatus.running and job.attempts == 1 and job.started_at is not None
    with pytest.raises(JobBusy, match="runs on worker-1"), session_scope(database_url) as session:
        claim(session, job_id, "worker-2", "cuda:0")  # worker-1 is alive: a duplicate message
    with session_scope(database_url) as session:
        job = claim(session, job_id, "worker-2", "cuda:0", heartbeat_timeout_s=0)  # worker-1 went silent
        assert job.attempts == 2 and job.worker == "worker-2"
        transition(session, job, JobStatus.succeeded)
    with session_scope(database_url) as session:
        assert claim(session, job_id, "worker-3", "cpu") is None  # a stale message for a finished job
        assert session.get(Job, job_id).finished_at is not None


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
