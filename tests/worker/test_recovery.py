"""Recovery without a worker process: lost messages found by looking into the broker, fenced attempts, scratch
folders of dead workers."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import update

from broker.sender import JobQueue
from broker.waiting import waiting_job_ids
from store.db import session_scope
from store.jobs import claim_next
from store.keys import create_user
from store.models import Job, JobKind, JobStatus, utcnow
from worker import scratch
from worker.context import JobContext
from worker.reconcile import requeue_orphans
from worker.tasks import finish


def _queued(url, n, age=timedelta(minutes=1)):
    with session_scope(url) as session:
        owner = create_user(session, "ann")
        jobs = [Job(kind=JobKind.train, owner_id=owner.id, spec={}, spec_hash="h") for _ in range(n)]
        session.add_all(jobs)
        session.flush()
        session.execute(update(Job).values(updated_at=utcnow() - age))
        return [j.id for j in jobs]


def _into(sent):
    """A `send` that records the job ids woken on the any-device queue (sth), and fails on any other queue."""

    def send(job_id, queue):
        assert queue == "sth", queue
        sent.append(job_id)

    return send


@pytest.fixture(params=["filesystem", "redis"])
def broker_url(request, tmp_path):
    if request.param == "filesystem":
        return f"filesystem://{tmp_path / 'broker'}"
    import redis

    url = f"redis://127.0.0.1:6379/{request.getfixturevalue('redis_db')}"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).flushdb()
    except redis.ConnectionError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not reachable at 127.0.0.1:6379 (CI must start it)")
        pytest.skip("Redis is not reachable")
    return url


def test_the_broker_tells_which_jobs_wait(broker_url):
    queue = JobQueue(broker_url)
    assert waiting_job_ids(broker_url) == []
    for job_id in ("a" * 32, "b" * 32, "a" * 32):
        queue.send(job_id)
    assert sorted(waiting_job_ids(broker_url)) == ["a" * 32, "a" * 32, "b" * 32]  # one per message
    queue.send("g" * 32, "sth.gpu")  # a job asking for a gpu wakes only gpu workers: its own queue
    assert waiting_job_ids(broker_url, "sth.gpu") == ["g" * 32] and waiting_job_ids(broker_url, "sth.cpu") == []
    assert len(waiting_job_ids(broker_url)) == 3
    assert waiting_job_ids("amqp://nowhere") is None  # unknown kind: the reconciler falls back to the age rule


def test_a_queued_job_whose_message_is_lost_is_sent_again_at_once(database_url):
    waiting, lost, young = _queued(database_url, 3)
    with session_scope(database_url) as session:
        session.execute(update(Job).where(Job.id == young).values(updated_at=utcnow()))  # its message may be en route
    sent: list[str] = []
    assert requeue_orphans(database_url, _into(sent), waiting={"sth": [waiting]}) == 1
    assert sent == [lost]  # a wake-up for the job whose message is gone
    assert requeue_orphans(database_url, _into([]), waiting={"sth": [waiting, lost]}) == 0  # as many as need one
    assert requeue_orphans(database_url, _into([]), waiting={"sth": [waiting, waiting]}) == 0  # they are wake-ups
    sent.clear()  # without a view of the broker: only jobs untouched for minutes
    assert requeue_orphans(database_url, _into(sent), waiting=None) == 0
    assert requeue_orphans(database_url, _into(sent), waiting=None, stale_after=timedelta(seconds=30)) == 2
    assert sorted(sent) == sorted([waiting, lost])  # the young one was touched just now
    assert requeue_orphans(database_url, _into(sent), waiting=None, stale_after=timedelta(seconds=30)) == 0


def test_a_silent_running_job_gets_a_wake_up_and_is_resumed_first(database_url):
    silent, queued = _queued(database_url, 2)
    with session_scope(database_url) as session:
        assert claim_next(session, "w1", "cpu").id == silent
        session.flush()
        session.execute(update(Job).where(Job.id == silent).values(updated_at=utcnow() - timedelta(minutes=5)))
    sent: list[str] = []
    assert requeue_orphans(database_url, _into(sent), waiting={"sth": [queued]}, heartbeat_timeout_s=60) == 1
    assert sent == [silent]
    with session_scope(database_url) as session:  # the resumed job goes before the queued one
        job = claim_next(session, "w2", "cpu", heartbeat_timeout_s=60)
        assert (job.id, job.attempts, job.worker) == (silent, 2, "w2")


def test_an_attempt_that_was_taken_over_stops_and_records_nothing(database_url):
    (job_id,) = _queued(database_url, 1)
    with session_scope(database_url) as session:
        first = claim_next(session, "w1", "cpu").attempts
    ctx = JobContext(database_url, job_id, heartbeat_s=60, worker="w1", attempt=first, min_interval_s=0)
    assert not ctx.cancel_requested()
    with session_scope(database_url) as session:  # w1 went silent; the reconciler gave the job to w2
        second = claim_next(session, "w2", "cpu", heartbeat_timeout_s=0).attempts
    assert ctx.cancel_requested() and ctx.lost
    ctx.progress(force=True, phase="stale")
    assert not finish(ctx, JobStatus.succeeded)  # the stale attempt cannot end w2's run
    with session_scope(database_url) as session:
        job = session.get(Job, job_id)
        assert job.status is JobStatus.running and job.worker == "w2" and job.progress.get("phase") != "stale"
    current = JobContext(database_url, job_id, heartbeat_s=60, worker="w2", attempt=second)
    assert finish(current, JobStatus.succeeded)


def test_scratch_folders_of_dead_workers_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(scratch.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = scratch.root() / dead.stdout.strip() / "sth-job-x"
    left.mkdir(parents=True)
    with scratch.scratch("job") as mine:
        assert scratch.remove_orphans() == 1
        assert not left.exists() and mine.is_dir()
    assert not mine.exists()
