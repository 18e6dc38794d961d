"""Answers reused for up to STH_API_CACHE_S: changes through the same process are seen at once, others within it."""

import time

from fastapi.testclient import TestClient

from api.main import create_app
from api.recent import Recent
from store.db import session_scope
from store.jobs import transition
from store.keys import create_key, create_user
from store.models import Job, JobStatus, Role
from store.settings import Settings


def test_a_value_is_reused_within_its_window_and_recomputed_after_invalidate():
    calls = []
    recent = Recent[int](ttl_s=60)
    assert recent.get("k", lambda: calls.append(1) or len(calls)) == 1
    assert recent.get("k", lambda: calls.append(1) or len(calls)) == 1  # reused
    recent.invalidate()
    assert recent.get("k", lambda: calls.append(1) or len(calls)) == 2
    never = Recent[int](ttl_s=0)
    assert [never.get("k", lambda: calls.append(1) or len(calls)) for _ in range(2)] == [3, 4]


def test_the_job_list_shows_own_changes_at_once_and_others_within_the_window(database_url, tmp_path):
    settings = Settings(database_url=database_url, broker_url=f"filesystem://{tmp_path / 'q'}", api_cache_s=0.5)
    with TestClient(create_app(settings)) as client, session_scope(database_url) as session:
        key = {"Authorization": f"Bearer {create_key(session, create_user(session, 'ann', Role.member))}"}
        session.commit()
        assert client.get("/v1/jobs", headers=key).json()["items"] == []
        job = client.post("/v1/train-jobs", json={"preset": "smoke"}, headers=key).json()
        assert [j["status"] for j in client.get("/v1/jobs", headers=key).json()["items"]] == ["queued"]  # at once
        transition(session, session.get(Job, job["id"]), JobStatus.running)  # a worker's change
        session.commit()
        time.sleep(0.6)
        assert [j["status"] for j in client.get("/v1/jobs", headers=key).json()["items"]] == ["running"]
        prefix = client.get("/v1/keys", headers=key).json()[0]["prefix"]
        assert client.delete(f"/v1/keys/{prefix}", headers=key).status_code == 200
        assert client.get("/v1/me", headers=key).status_code == 401  # revoked through this process: at once
