"""The job runners in-process, as Celery's own examples test a task (task.apply(): it runs here, without a broker
or a worker process): a woken worker claims the next job by the queue's order, reads its typed spec, runs it with
its kind's runner and records how it ended; a child that ends advances its parent. Jobs are submitted through the
in-process API (tests/api/conftest.py) on SQLite with a filesystem broker; a trained model comes from the shared
tiny checkpoint unless training is what a test checks."""

import pytest
from sqlalchemy import func, select

from store.db import session_scope
from store.models import Blob, BlobChunk, Job, Model
from store.settings import get_settings
from tests.api.conftest import auth, client  # noqa: F401  (the API fixture)
from tests.conftest import TINY

TINY_CHANGES = {"epochs": TINY["epochs"], "train_limit": TINY["train_limit"], "test_limit": TINY["test_limit"],
                "reg": {"n_images": TINY["reg.n_images"]}}  # fmt: skip
GAUSSIAN = {"name": "gaussian", "params": {"n_images": 20, "strengths": [0.0, 0.5]}}


@pytest.fixture
def worker_here(client, monkeypatch):  # noqa: F811
    """The in-process API, with this process's worker settings pointing at its database and broker."""
    from worker import tasks

    for key, value in (("STH_DATABASE_URL", client.settings.database_url),
                       ("STH_BROKER_URL", client.settings.broker_url), ("STH_HEARTBEAT_S", "0.2")):  # fmt: skip
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    tasks._queue.cache_clear()
    yield client
    get_settings.cache_clear()
    tasks._queue.cache_clear()


def run_next() -> None:
    """What a wake-up does in a worker: the task itself, run here (its exceptions re-raised)."""
    from worker.app import run_job_task

    run_job_task.apply(args=["woken-by-test"]).get()


def job(client, job_id):  # noqa: F811
    return client.get(f"/v1/jobs/{job_id}", headers=auth(client)).json()


def logs(client, job_id):  # noqa: F811
    return [line["message"] for line in client.get(f"/v1/jobs/{job_id}/logs", headers=auth(client)).json()]


@pytest.fixture
def tiny_model(worker_here, tiny_checkpoint):
    """The shared tiny checkpoint, uploaded as a model (its id)."""
    with tiny_checkpoint.open("rb") as f:
        answer = worker_here.post("/v1/models", headers=auth(worker_here), data={"name": "tiny"},
                                  files={"file": ("tiny.safetensors", f)})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_a_woken_worker_with_nothing_queued_drops_the_message(worker_here):
    run_next()


def test_a_training_runs_and_stores_its_model(worker_here):
    queued = worker_here.post("/v1/train-jobs", headers=auth(worker_here),
                              json={"preset": "smoke", "spec": TINY_CHANGES}).json()  # fmt: skip
    run_next()
    done = job(worker_here, queued["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"]["fraction"] == 1.0 and done["progress"]["eta_s"] == 0
    assert done["model_id"] and done["attempts"] == 1 and done["device"] == "cpu"
    text = logs(worker_here, queued["id"])
    assert text[0].startswith("started on ") and any(m.startswith("epoch 1/1: test acc") for m in text), text
    with session_scope(worker_here.settings.database_url) as session:
        model = session.get(Model, done["model_id"])
        assert model.setting == done["setting"] and model.origin == "trained"
        assert [m["epoch"] for m in model.history] == [0, 1]  # before training, then each epoch
        # the epoch state it could have resumed from is gone with the success: only the model's weights stay
        assert session.get(Job, queued["id"]).resume_blob_id is None
        assert session.scalars(select(Blob.id)).all() == [model.blob_id]
        assert (
            session.scalar(select(func.count()).select_from(BlobChunk).where(BlobChunk.blob_id != model.blob_id)) == 0
        )


def test_an_evaluation_stores_each_evaluators_results(worker_here, tiny_model):
    queued = worker_here.post("/v1/eval-jobs", headers=auth(worker_here),
                              json={"model_id": tiny_model, "evaluators": [GAUSSIAN]}).json()  # fmt: skip
    run_next()
    assert job(worker_here, queued["id"])["status"] == "succeeded"
    results = worker_here.get(f"/v1/models/{tiny_model}/results", headers=auth(worker_here)).json()
    (curve,) = results
    assert curve["evaluator"] == "gaussian" and [p["strength"] for p in curve["data"]["points"]] == [0.0, 0.5]
    assert "gaussian: 1 result(s) stored" in logs(worker_here, queued["id"])


def test_a_job_that_raises_is_recorded_failed_with_its_error(worker_here, tiny_model):
    queued = worker_here.post("/v1/eval-jobs", headers=auth(worker_here),
                              json={"model_id": tiny_model, "evaluators": [GAUSSIAN]}).json()  # fmt: skip
    with session_scope(worker_here.settings.database_url) as session:  # gone between submission and run
        session.delete(session.get(Model, tiny_model))
    run_next()
    failed = job(worker_here, queued["id"])
    assert failed["status"] == "failed", failed
    assert failed["error"] == {"code": "ValueError", "message": f"model {tiny_model} no longer exists"}


def test_a_sweep_runs_to_its_selection(worker_here):
    sweep = worker_here.post("/v1/sweeps", headers=auth(worker_here), json={
        "preset": "smoke", "spec": TINY_CHANGES, "grid": {"reg.alpha": [0.1]}, "seeds": [0],
        "evaluators": [GAUSSIAN], "min_r0_u0": 0.1}).json()  # fmt: skip
    for _ in range(8):  # 2 trainings, then 2 evaluations: each run takes the next job of the queue
        if job(worker_here, sweep["id"])["status"] != "running":
            break
        run_next()
    done = job(worker_here, sweep["id"])
    assert done["status"] == "succeeded", (done, logs(worker_here, sweep["id"]))
    assert done["progress"]["done"] == done["progress"]["jobs"] == 4
    assert done["result"]["selected"]["values"] == {"reg.alpha": 0.1}
    children = worker_here.get(f"/v1/jobs?parent_id={sweep['id']}", headers=auth(worker_here)).json()["items"]
    assert sorted(c["kind"] for c in children) == ["evaluate", "evaluate", "train", "train"]
