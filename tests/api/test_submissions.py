"""Submissions are atomic with their message, idempotent under races; /metrics can require a token."""

import threading

from fastapi.testclient import TestClient

from api.main import create_app
from store.db import session_scope
from store.keys import create_key, create_user
from store.models import Job, Role
from store.settings import Settings

QUICK = {"preset": "smoke", "spec": {"epochs": 1}}
SWEEP = {"preset": "smoke", "spec": {"epochs": 1, "reg": {"n_images": 200}}, "grid": {"reg.alpha": [0.1]},
         "evaluators": [{"name": "gaussian", "params": {"n_images": 50}}]}  # fmt: skip


def _app(database_url, tmp_path, **settings):
    settings = {"broker_url": f"filesystem://{tmp_path / 'q'}", **settings}
    return TestClient(create_app(Settings(database_url=database_url, **settings)))


def _keys(database_url, *names):
    with session_scope(database_url) as session:
        user = create_user(session, "ann", Role.member)
        return [{"Authorization": f"Bearer {create_key(session, user, n)}"} for n in names]


def test_a_submission_the_broker_cannot_take_is_refused_and_leaves_no_job(database_url, tmp_path):
    with _app(database_url, tmp_path, broker_url="redis://127.0.0.1:1/0") as client:  # nothing listens there
        (key,) = _keys(database_url, "k")
        for path, body in (("/v1/train-jobs", QUICK), ("/v1/sweeps", SWEEP)):
            answer = client.post(path, json={**body, "idempotency_key": "once"}, headers=key)
            assert answer.status_code == 503 and answer.json()["error"]["code"] == "broker_unavailable"
        assert client.get("/v1/jobs", headers=key).json()["items"] == []
    with session_scope(database_url) as session:
        assert session.query(Job).count() == 0


def test_simultaneous_submissions_with_one_idempotency_key_make_one_job(database_url, tmp_path):
    """Two keys of one user send the same request with the same idempotency key at the same moment (a client
    retrying on another machine): both get the one job, never a 500."""
    with _app(database_url, tmp_path) as client:
        keys = _keys(database_url, "laptop", "server")
        for attempt in range(10):
            start, answers = threading.Barrier(2), []

            def submit(key, attempt=attempt, start=start, answers=answers):
                start.wait()
                answers.append(client.post("/v1/train-jobs", json={**QUICK, "idempotency_key": f"k{attempt}"},
                                           headers=key))  # fmt: skip

            threads = [threading.Thread(target=submit, args=(key,)) for key in keys]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
            assert answers[0].json()["id"] == answers[1].json()["id"]
        assert len(client.get("/v1/jobs", headers=keys[0]).json()["items"]) == 10


def test_metrics_can_require_a_token(database_url, tmp_path):
    with _app(database_url, tmp_path, metrics_token="scrape-me") as client:
        refused = client.get("/metrics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert b"sth_jobs" in client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).content


def test_an_empty_idempotency_key_is_no_key(database_url, tmp_path):
    with _app(database_url, tmp_path) as client:
        (key,) = _keys(database_url, "k")
        ids = {client.post("/v1/train-jobs", json={**QUICK, "idempotency_key": ""}, headers=key).json()["id"]
               for _ in range(2)}  # fmt: skip
        assert len(ids) == 2  # two submissions, as without a key (the second was a 500)
