"""Device kinds and worker liveness on both backends: a worker claims only jobs of its kind or of kind any (in the
fair-share order), and a queued job that no live worker can take says why until a worker of its kind is seen."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from store.db import session_scope
from store.jobs import claim_next
from store.keys import create_user
from store.models import DeviceKind, Job, JobKind, Worker, utcnow
from store.queue import queued_in_order
from store.workers import beat, is_alive, liveness, record, running_jobs, stopped

TIMEOUT_S = 10.0


@pytest.fixture
def owner(database_url):
    with session_scope(database_url) as session:
        return create_user(session, "ann").id


def _jobs(url, owner, kinds):
    """Queued trainings asking for `kinds`, oldest first; their ids."""
    with session_scope(url) as session:
        jobs = []
        for i, kind in enumerate(kinds):
            job = Job(kind=JobKind.train, owner_id=owner, spec={}, spec_hash=f"{kind}{i}", device_kind=kind,
                      created_at=utcnow() - timedelta(minutes=10 - i))  # fmt: skip
            session.add(job)
            jobs.append(job)
        session.flush()
        return [j.id for j in jobs]


def _claim(url, worker, device):
    with session_scope(url) as session:
        job = claim_next(session, worker, device)
        return None if job is None else job.spec_hash


def test_a_worker_claims_only_jobs_it_can_run_in_the_queues_order(database_url, owner):
    _jobs(database_url, owner, [DeviceKind.gpu, DeviceKind.cpu, DeviceKind.any, DeviceKind.gpu, DeviceKind.any])
    assert _claim(database_url, "cpu@h", "cpu") == "cpu1"  # the older gpu job is passed over, not taken
    assert _claim(database_url, "cpu@h", "cpu") == "any2"
    assert _claim(database_url, "gpu0@h", "cuda") == "gpu0"
    assert _claim(database_url, "gpu1@h", "cuda:1") == "gpu3"
    assert _claim(database_url, "cpu@h", "cpu") == "any4"
    assert _claim(database_url, "cpu@h", "cpu") is None and _claim(database_url, "gpu0@h", "cuda") is None


def test_a_cpu_worker_never_takes_a_gpu_job_not_even_an_orphaned_one(database_url, owner):
    (gpu_job,) = _jobs(database_url, owner, [DeviceKind.gpu])
    assert _claim(database_url, "gpu0@h", "cuda") == "gpu0"
    with session_scope(database_url) as session:  # its worker went silent: the job is resumable, on a gpu only
        session.execute(update(Job).where(Job.id == gpu_job).values(updated_at=utcnow() - timedelta(minutes=5)))
    assert _claim(database_url, "cpu@h", "cpu") is None
    with session_scope(database_url) as session:
        job = claim_next(session, "gpu1@h", "cuda", heartbeat_timeout_s=60)
        assert (job.id, job.worker, job.attempts) == (gpu_job, "gpu1@h", 2)


def test_a_gpu_job_says_it_waits_for_a_gpu_worker_until_one_is_seen(database_url, owner):
    gpu_job, any_job = _jobs(database_url, owner, [DeviceKind.gpu, DeviceKind.any])
    with session_scope(database_url) as session:
        nobody = liveness(session, TIMEOUT_S)
        assert nobody.waiting_for(DeviceKind.any) == "no live worker: never seen (start one: sth worker)"
        assert nobody.waiting_for(DeviceKind.gpu).startswith("no live gpu worker: never seen")
        record(session, "cpu@h", DeviceKind.cpu, "cpu (2 cores)", "h", 1)
    with session_scope(database_url) as session:
        workers = liveness(session, TIMEOUT_S)
        assert workers.waiting_for(DeviceKind.any) is None and workers.waiting_for(DeviceKind.cpu) is None
        assert workers.waiting_for(DeviceKind.gpu) == ("no live gpu worker: never seen "
                                                       "(start one: sth worker --gpus all)")  # fmt: skip
        places = {p.job.id: p.waiting_for for p in queued_in_order(session, workers=workers)}
        assert places[any_job] is None and places[gpu_job].startswith("no live gpu worker")
        record(session, "gpu0@h", DeviceKind.gpu, "NVIDIA H200 (GPU 0)", "h", 2)
    with session_scope(database_url) as session:
        assert liveness(session, TIMEOUT_S).waiting_for(DeviceKind.gpu) is None
        session.execute(update(Worker).where(Worker.name == "gpu0@h")
                        .values(last_seen=utcnow() - timedelta(seconds=95)))  # fmt: skip
    with session_scope(database_url) as session:
        reason = liveness(session, TIMEOUT_S).waiting_for(DeviceKind.gpu)
        assert reason.startswith("no live gpu worker: last seen 20") and "UTC, 95 s ago" in reason
        assert beat(session, "gpu0@h")  # its heartbeat
    with session_scope(database_url) as session:
        assert liveness(session, TIMEOUT_S).waiting_for(DeviceKind.gpu) is None
        stopped(session, "gpu0@h")  # a clean shutdown: not alive at once
    with session_scope(database_url) as session:
        assert "last seen" in liveness(session, TIMEOUT_S).waiting_for(DeviceKind.gpu)
        assert not beat(session, "gone@h")  # no row: the worker records itself again


def test_a_worker_restarted_under_its_name_is_one_row_and_shows_its_job(database_url, owner):
    _jobs(database_url, owner, [DeviceKind.any])
    with session_scope(database_url) as session:
        record(session, "cpu@h", DeviceKind.cpu, "cpu (2 cores)", "h", 1)
        stopped(session, "cpu@h")
        record(session, "cpu@h", DeviceKind.cpu, "cpu (4 cores)", "h", 7)
    assert _claim(database_url, "cpu@h", "cpu") == "any0"
    with session_scope(database_url) as session:
        (worker,) = session.query(Worker).all()
        assert (worker.pid, worker.device, worker.stopped_at) == (7, "cpu (4 cores)", None)
        assert is_alive(worker, utcnow(), TIMEOUT_S)
        assert list(running_jobs(session, ["cpu@h"])) == ["cpu@h"]


def test_a_running_job_whose_gpu_worker_went_silent_says_no_live_gpu_worker_can_resume_it(database_url, owner):
    (gpu_job,) = _jobs(database_url, owner, [DeviceKind.gpu])
    with session_scope(database_url) as session:
        record(session, "gpu0@h", DeviceKind.gpu, "NVIDIA H200 (GPU 0)", "h", 1)
        record(session, "cpu@h", DeviceKind.cpu, "cpu (2 cores)", "h", 2)
    assert _claim(database_url, "gpu0@h", "cuda") == "gpu0"
    with session_scope(database_url) as session:
        job = session.get(Job, gpu_job)
        assert liveness(session, TIMEOUT_S).job_waits_for(job) is None  # running, its worker alive
        old = utcnow() - timedelta(seconds=60)  # the worker was killed a minute ago: no heartbeat since
        session.execute(update(Worker).where(Worker.name == "gpu0@h").values(last_seen=old))
        session.execute(update(Job).where(Job.id == gpu_job).values(updated_at=old))
    with session_scope(database_url) as session:
        reason = liveness(session, TIMEOUT_S).job_waits_for(session.get(Job, gpu_job))
        assert reason.startswith("its worker gpu0@h went silent; no live gpu worker: last seen 20")
        record(session, "gpu1@h2", DeviceKind.gpu, "NVIDIA H200 (GPU 1)", "h2", 3)
    with session_scope(database_url) as session:  # a live gpu worker resumes it at its next claim
        assert liveness(session, TIMEOUT_S).job_waits_for(session.get(Job, gpu_job)) is None
