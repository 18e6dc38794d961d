"""A job that runs longer than Redis's visibility timeout is delivered again to an idle worker: it must not run
twice. Two workers, STH_BROKER_VISIBILITY_TIMEOUT_S=2: kombu's restore cycle (every 10 s) re-queues the running
job's unacknowledged message, the idle worker takes it, finds no job waiting and drops it."""

import time

import pytest

from tests.e2e.conftest import Service, auth, wait_for


@pytest.mark.parametrize("service", ["postgres-redis"], indirect=True)
def test_a_job_longer_than_the_visibility_timeout_runs_once(api, service, tmp_path):
    service.stop_worker()
    service.env["STH_BROKER_VISIBILITY_TIMEOUT_S"] = "2"
    service.start_worker("first@test")
    (tmp_path / "second").mkdir()
    second = Service(service.env, tmp_path / "second")
    second.start_worker("second@test")
    try:
        spec = {"preset": "smoke", "spec": {"epochs": 30, "train_limit": 2000, "test_limit": 100,
                                            "reg": {"n_images": 200}}}  # fmt: skip
        job = api.post("/v1/train-jobs", json=spec, headers=auth(api, "alice")).json()
        deadline = time.monotonic() + 90
        logs = b""
        while b"message dropped" not in logs:  # the duplicate reached the idle worker and was dropped
            assert time.monotonic() < deadline, "the message was never delivered a second time"
            time.sleep(0.5)
            logs = service.log.read_bytes() + second.log.read_bytes()
        assert b"no job waits" in logs
        api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(api, "alice"))
        done = wait_for(api, job["id"], timeout=120)
        assert done["status"] == "cancelled" and done["attempts"] == 1, done
        lines = [x["message"] for x in api.get(f"/v1/jobs/{job['id']}/logs", headers=auth(api, "alice")).json()]
        assert sum(m.startswith("started on") for m in lines) == 1, lines
    finally:
        second.stop_worker()
