"""The fair-share order (store.queue) and the claim that follows it, on both backends: hand-built jobs with known
run times; two claimers racing for the same jobs."""

import threading
from datetime import timedelta

import pytest

from store.db import session_scope
from store.jobs import claim_next
from store.keys import create_user
from store.models import Job, JobKind, JobStatus, utcnow
from store.queue import WINDOW, device_seconds, queued_in_order


def _job(session, owner, status=JobStatus.queued, ran_s=None, ago=None, **fields):
    """A job; `ran_s`: it ran that many seconds, ending `ago` before now (still running when `ago` is None)."""
    job = Job(**{"kind": JobKind.train, "spec_hash": "h", **fields}, owner_id=owner.id, spec={}, status=status)
    if ran_s is not None:
        end = utcnow() - (ago or timedelta(0))
        job.started_at = end - timedelta(seconds=ran_s)
        job.finished_at = end if ago is not None else None
    session.add(job)
    session.flush()
    return job


@pytest.fixture
def team(database_url):
    with session_scope(database_url) as session:
        users = {name: create_user(session, name) for name in ("ann", "bob", "cy")}
        for user in users.values():
            session.expunge(user)
        return users


def _order(url):
    with session_scope(url) as session:
        return [(p.job.owner.name, p.job.spec_hash) for p in queued_in_order(session)]


def test_device_time_counts_the_last_24_hours_and_running_jobs_so_far(database_url, team):
    ann, bob, cy = team["ann"], team["bob"], team["cy"]
    with session_scope(database_url) as session:
        _job(session, ann, JobStatus.succeeded, ran_s=100, ago=timedelta(hours=1))
        _job(session, ann, JobStatus.failed, ran_s=50, ago=timedelta(minutes=1))
        _job(session, ann, JobStatus.succeeded, ran_s=500, ago=WINDOW + timedelta(hours=1))  # outside the window
        _job(session, bob, JobStatus.running, ran_s=30)  # running for 30 s so far
        _job(session, bob, JobStatus.cancelled, ran_s=3600, ago=WINDOW - timedelta(seconds=20))  # 20 s inside
        _job(session, cy, JobStatus.running, ran_s=9999, kind=JobKind.sweep)  # a sweep's row runs nothing
        _job(session, cy, JobStatus.queued)
        used = device_seconds(session)
    assert used[ann.id] == pytest.approx(150, abs=1)
    assert used[bob.id] == pytest.approx(50, abs=1)
    assert cy.id not in used


def test_the_owner_with_the_least_device_time_goes_first_then_the_oldest_job(database_url, team):
    ann, bob, cy = team["ann"], team["bob"], team["cy"]
    with session_scope(database_url) as session:
        _job(session, ann, JobStatus.succeeded, ran_s=100, ago=timedelta(minutes=5))
        _job(session, bob, JobStatus.succeeded, ran_s=10, ago=timedelta(minutes=5))
        for i in range(3):
            _job(session, ann, spec_hash=f"a{i}")
        _job(session, bob, spec_hash="b0")
        _job(session, cy, spec_hash="c0")  # no device time at all
        _job(session, bob, spec_hash="b1")
    assert _order(database_url) == [("cy", "c0"), ("bob", "b0"), ("bob", "b1"), ("ann", "a0"), ("ann", "a1"),
                                    ("ann", "a2")]  # fmt: skip
    with session_scope(database_url) as session:
        assert claim_next(session, "w", "cpu").spec_hash == "c0"


def test_ties_go_to_the_oldest_job(database_url, team):
    with session_scope(database_url) as session:
        for i in range(3):
            _job(session, team["bob" if i % 2 else "ann"], spec_hash=f"j{i}")  # nobody has device time
    assert [h for _, h in _order(database_url)] == ["j0", "j1", "j2"]


def test_an_admins_priority_goes_before_device_time(database_url, team):
    ann, bob = team["ann"], team["bob"]
    with session_scope(database_url) as session:
        _job(session, ann, JobStatus.succeeded, ran_s=1000, ago=timedelta(minutes=5))
        _job(session, bob, spec_hash="b0")
        _job(session, ann, spec_hash="a0", priority=5)
        _job(session, bob, spec_hash="b-low", priority=-1)
        _job(session, ann, spec_hash="a1")
    assert _order(database_url) == [("ann", "a0"), ("bob", "b0"), ("ann", "a1"), ("bob", "b-low")]
    with session_scope(database_url) as session:
        whys = [p.why for p in queued_in_order(session)]
    assert whys[0].startswith("first in line: priority 5; ann used 1000 s")
    assert whys[1].startswith("after a job of higher priority (5): priority 0; bob used 0 s")
    assert whys[2].startswith("after bob's job (bob used 0 s, less): priority 0; ann used 1000 s")
    assert whys[3].startswith("after a job of higher priority (0): priority -1")


def test_a_running_job_adds_to_its_owners_time_so_the_other_member_goes_next(database_url, team):
    """The target's order, without a worker: ann's first job runs while both members' jobs wait."""
    ann, bob = team["ann"], team["bob"]
    with session_scope(database_url) as session:
        for i in range(3):
            _job(session, ann, spec_hash=f"a{i}")
        for i in range(2):
            _job(session, bob, spec_hash=f"b{i}")
    with session_scope(database_url) as session:
        assert claim_next(session, "w", "cpu").spec_hash == "a0"  # nobody has device time yet: the oldest
    with session_scope(database_url) as session:  # a0 has run a moment
        session.query(Job).filter_by(spec_hash="a0").update({"started_at": utcnow() - timedelta(seconds=5)})
    with session_scope(database_url) as session:
        assert claim_next(session, "w2", "cpu").spec_hash == "b0"


def test_claimers_racing_for_the_same_jobs_never_take_one_twice(database_url, team, claimers=4):
    with session_scope(database_url) as session:
        ids = {_job(session, team[("ann", "bob", "cy")[i % 3]]).id for i in range(30)}
    taken: list[list[str]] = [[] for _ in range(claimers)]
    start = threading.Barrier(claimers)

    def claim_all(worker: str, mine: list[str]) -> None:
        start.wait()
        while True:
            with session_scope(database_url) as session:
                job = claim_next(session, worker, "cpu")
                if job is None:
                    return
                mine.append(job.id)

    threads = [threading.Thread(target=claim_all, args=(f"w{i}", mine)) for i, mine in enumerate(taken)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [job_id for mine in taken for job_id in mine]
    assert sorted(every) == sorted(ids)  # each job once, none left
    assert sum(bool(mine) for mine in taken) >= 2  # they did race
    with session_scope(database_url) as session:
        assert {j.attempts for j in session.query(Job)} == {1}
