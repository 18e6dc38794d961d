"""GET /v1/queue (the order free workers will follow, and why) and an admin's priority (PATCH /v1/jobs/{id})."""

from datetime import timedelta

from store.db import session_scope
from store.keys import find_user
from store.models import Job, JobKind, JobStatus, utcnow
from tests.api.conftest import assert_error_shape, auth

QUICK = {"preset": "smoke", "spec": {"epochs": 1}}


def _submit(client, who, seed):
    response = client.post("/v1/train-jobs", json={**QUICK, "spec": {"epochs": 1, "seed": seed}},
                           headers=auth(client, who))  # fmt: skip
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _used(client, who, seconds):
    """`who` ran a job for `seconds`, ten minutes ago."""
    with session_scope(client.settings.database_url) as session:
        end = utcnow() - timedelta(minutes=10)
        session.add(Job(kind=JobKind.train, status=JobStatus.succeeded, owner_id=find_user(session, who).id, spec={},
                        spec_hash="h", started_at=end - timedelta(seconds=seconds), finished_at=end))  # fmt: skip


def test_the_queue_shows_the_order_with_each_owners_device_time_and_why(client):
    _used(client, "alice", 120)
    a0, a1 = _submit(client, "alice", 0), _submit(client, "alice", 1)
    b0 = _submit(client, "bob", 0)
    queue = client.get("/v1/queue", headers=auth(client, "alice")).json()  # members see everyone's jobs
    assert queue["total"] == 3
    assert [(j["id"], j["position"], j["owner"]) for j in queue["items"]] == [(b0, 1, "bob"), (a0, 2, "alice"),
                                                                               (a1, 3, "alice")]  # fmt: skip
    first, second, third = queue["items"]
    assert first["owner_device_s"] == 0 and second["owner_device_s"] == 120 and first["priority"] == 0
    assert first["why"].startswith("first in line") and "bob used 0 s" in first["why"]
    assert second["why"].startswith("after bob's job (bob used 0 s, less)") and "alice used 120 s" in second["why"]
    assert third["why"].startswith("after an older job of the same standing")
    assert first["label"] and first["kind"] == "train"
    assert [j["id"] for j in client.get("/v1/queue?limit=1", headers=auth(client)).json()["items"]] == [b0]
    assert client.get("/v1/queue").status_code == 401


def test_an_admin_sets_a_priority_and_members_get_403(client):
    a0 = _submit(client, "alice", 0)
    b0 = _submit(client, "bob", 0)
    refused = client.patch(f"/v1/jobs/{b0}", json={"priority": 10}, headers=auth(client, "bob"))  # even one's own
    assert refused.status_code == 403 and assert_error_shape(refused)["error"]["code"] == "forbidden"
    for bad in (101, -101, "10", 1.5, None):
        response = client.patch(f"/v1/jobs/{b0}", json={"priority": bad}, headers=auth(client, "admin"))
        assert response.status_code == 422, (bad, response.text)
        assert "priority" in assert_error_shape(response)["error"]["message"]
    assert client.patch(f"/v1/jobs/{b0}", json={}, headers=auth(client, "admin")).status_code == 422
    assert client.patch("/v1/jobs/nope", json={"priority": 1}, headers=auth(client, "admin")).status_code == 404
    raised = client.patch(f"/v1/jobs/{b0}", json={"priority": 10}, headers=auth(client, "admin"))
    assert raised.status_code == 200 and raised.json()["priority"] == 10
    assert client.get(f"/v1/jobs/{b0}", headers=auth(client)).json()["priority"] == 10
    assert client.get(f"/v1/jobs/{a0}", headers=auth(client)).json()["priority"] == 0
    items = client.get("/v1/queue", headers=auth(client)).json()["items"]
    assert [j["id"] for j in items] == [b0, a0]
    assert items[1]["why"].startswith("after a job of higher priority (10)")
    logs = client.get(f"/v1/jobs/{b0}/logs", headers=auth(client)).json()
    assert logs[-1]["message"] == "priority 0 -> 10 (set by admin)"
    client.post(f"/v1/jobs/{a0}/cancel", headers=auth(client, "alice"))
    late = client.patch(f"/v1/jobs/{a0}", json={"priority": 5}, headers=auth(client, "admin"))
    assert late.status_code == 422 and "only a queued job's priority" in late.json()["error"]["message"]
    assert [j["id"] for j in client.get("/v1/queue", headers=auth(client)).json()["items"]] == [b0]
