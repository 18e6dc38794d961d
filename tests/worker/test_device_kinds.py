"""Device kinds through the API and the worker's side, without a worker process: a submission's `device`, where its
wake-up goes (the filesystem broker's queues), what a sweep's and a report's children and a retry inherit, the
reconciler's count per queue, and GET /v1/workers."""

from datetime import timedelta

from sqlalchemy import update

from broker.waiting import waiting_job_ids
from store.db import session_scope
from store.keys import create_user
from store.models import DeviceKind, Job, JobKind, utcnow
from store.workers import record, stopped
from tests.api.conftest import assert_error_shape, auth, client  # noqa: F401  (the API fixture)
from tests.worker.test_sweep import SWEEP, children, finish_training
from worker.reconcile import requeue_orphans
from worker.tasks import advance_sweep

QUICK = {"preset": "smoke", "spec": {"epochs": 1}}


def test_a_job_asks_for_a_device_kind_and_says_why_it_waits(client):  # noqa: F811
    gpu = client.post("/v1/train-jobs", headers=auth(client), json={**QUICK, "device": "gpu"})
    assert gpu.status_code == 201, gpu.text
    gpu = gpu.json()
    anywhere = client.post("/v1/train-jobs", headers=auth(client), json={**QUICK, "spec": {"seed": 3}}).json()
    assert (gpu["device_kind"], anywhere["device_kind"]) == ("gpu", "any")
    broker = client.settings.broker_url
    assert waiting_job_ids(broker, "sth.gpu") == [gpu["id"]] and waiting_job_ids(broker, "sth") == [anywhere["id"]]
    assert waiting_job_ids(broker, "sth.cpu") == []
    shown = client.get(f"/v1/jobs/{gpu['id']}", headers=auth(client)).json()
    assert shown["waiting_for"] == "no live gpu worker: never seen (start one: sth worker --gpus all)"
    with session_scope(client.settings.database_url) as session:
        record(session, "cpu@h", DeviceKind.cpu, "cpu (2 cores)", "h", 11)
    listed = {j["id"]: j for j in client.get("/v1/jobs", headers=auth(client)).json()["items"]}
    assert listed[anywhere["id"]]["waiting_for"] is None  # a cpu worker takes it
    assert listed[gpu["id"]]["waiting_for"].startswith("no live gpu worker: never seen")
    queue = {j["id"]: j for j in client.get("/v1/queue", headers=auth(client)).json()["items"]}
    assert queue[gpu["id"]]["device_kind"] == "gpu" and queue[gpu["id"]]["waiting_for"].startswith("no live gpu")
    assert queue[anywhere["id"]]["waiting_for"] is None
    with session_scope(client.settings.database_url) as session:
        record(session, "gpu0@h", DeviceKind.gpu, "NVIDIA H200 (GPU 0)", "h", 12)
    assert client.get(f"/v1/jobs/{gpu['id']}", headers=auth(client)).json()["waiting_for"] is None
    for bad in ("tpu", "GPU", 1, None):
        refused = client.post("/v1/train-jobs", headers=auth(client), json={**QUICK, "device": bad})
        assert refused.status_code == 422 and "device" in assert_error_shape(refused)["error"]["message"], bad


def test_workers_are_listed_alive_first_with_their_running_job(client):  # noqa: F811
    url = client.settings.database_url
    job = client.post("/v1/train-jobs", headers=auth(client), json=QUICK).json()
    with session_scope(url) as session:
        record(session, "old@h", DeviceKind.gpu, "NVIDIA H200 (GPU 1)", "h", 1)
        stopped(session, "old@h")
        record(session, "cpu@h", DeviceKind.cpu, "cpu (2 cores)", "h", 2)
        session.execute(update(Job).where(Job.id == job["id"]).values(status="running", worker="cpu@h"))
    assert client.get("/v1/workers").status_code == 401
    workers = client.get("/v1/workers", headers=auth(client)).json()
    assert [(w["name"], w["kind"], w["alive"], w["running_job"]) for w in workers] == [
        ("cpu@h", "cpu", True, job["id"]), ("old@h", "gpu", False, None)]  # fmt: skip
    assert workers[1]["stopped_at"] and workers[1]["device"] == "NVIDIA H200 (GPU 1)"


def test_a_sweeps_children_and_a_retry_ask_for_the_same_kind(client):  # noqa: F811
    url = client.settings.database_url
    sweep = client.post("/v1/sweeps", headers=auth(client), json={**SWEEP, "device": "cpu"}).json()
    assert sweep["device_kind"] == "cpu" and sweep["waiting_for"].startswith("no live cpu worker: never seen")
    trains = children(url, sweep["id"], JobKind.train)
    with session_scope(url) as session:
        assert {session.get(Job, job_id).device_kind for job_id, _, _ in trains} == {DeviceKind.cpu}
    assert sorted(waiting_job_ids(client.settings.broker_url, "sth.cpu")) == sorted(j for j, _, _ in trains)
    sent = []
    finish_training(url, trains[0][0], 0.9)
    advance_sweep(url, sweep["id"], lambda job_id, queue: sent.append((job_id, queue)))
    ((evaluation, _, _),) = children(url, sweep["id"], JobKind.evaluate)
    assert sent == [(evaluation, "sth.cpu")]  # an evaluation wakes only cpu workers too
    with session_scope(url) as session:
        assert session.get(Job, evaluation).device_kind is DeviceKind.cpu
    gpu = client.post("/v1/train-jobs", headers=auth(client), json={**QUICK, "device": "gpu"}).json()
    client.post(f"/v1/jobs/{gpu['id']}/cancel", headers=auth(client))
    again = client.post(f"/v1/jobs/{gpu['id']}/retry", headers=auth(client)).json()
    assert again["device_kind"] == "gpu"


def test_a_reports_trainings_ask_for_its_kind(client):  # noqa: F811
    report = client.post("/v1/reports", headers=auth(client), json={"protocol": "tiny", "seeds": [0],
                                                                     "device": "gpu"})  # fmt: skip
    assert report.status_code == 201, report.text
    assert "device" not in report.json()["spec"]  # a request field, not part of the report's spec
    trains = children(client.settings.database_url, report.json()["id"], JobKind.train)
    with session_scope(client.settings.database_url) as session:
        assert trains and {session.get(Job, j).device_kind for j, _, _ in trains} == {DeviceKind.gpu}


def test_the_reconciler_counts_the_messages_of_each_queue_apart(database_url):
    with session_scope(database_url) as session:
        owner = create_user(session, "ann").id
        jobs = {kind: Job(kind=JobKind.train, owner_id=owner, spec={}, spec_hash="h", device_kind=kind)
                for kind in DeviceKind}  # fmt: skip
        session.add_all(jobs.values())
        session.flush()
        session.execute(update(Job).values(updated_at=utcnow() - timedelta(minutes=1)))
        ids = {kind: job.id for kind, job in jobs.items()}
    sent: list[tuple[str, str]] = []
    waiting = {"sth": [], "sth.gpu": [ids[DeviceKind.gpu]], "sth.cpu": [ids[DeviceKind.gpu]]}
    assert requeue_orphans(database_url, lambda job_id, queue: sent.append((job_id, queue)), waiting=waiting) == 1
    assert sent == [(ids[DeviceKind.any], "sth")]  # sth.cpu holds a wake-up (whichever job it names), sth none
    sent.clear()
    assert requeue_orphans(database_url, lambda job_id, queue: sent.append((job_id, queue)), waiting={}) == 3
    assert sorted(sent) == sorted([(ids[DeviceKind.any], "sth"), (ids[DeviceKind.gpu], "sth.gpu"),
                                   (ids[DeviceKind.cpu], "sth.cpu")])  # fmt: skip
