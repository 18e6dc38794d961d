import hashlib
import time

from tests.e2e.conftest import auth, wait_for

QUICK = {"preset": "smoke", "spec": {"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}}}


def test_train_evaluate_compare_download(api):
    job = api.post("/v1/train-jobs", json=QUICK, headers=auth(api, "alice"))
    assert job.status_code == 201, job.text
    job = wait_for(api, job.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["progress"]["fraction"] == 1.0 and job["model_id"]
    model_id = job["model_id"]
    evaluators = [{"name": "gaussian", "params": {"n_images": 100, "strengths": [0, 0.2, 0.4]}},
                  {"name": "boundary", "params": {"n_images": 20, "steps": 5}}]  # fmt: skip
    ev = api.post("/v1/eval-jobs", json={"model_id": model_id, "evaluators": evaluators}, headers=auth(api, "alice"))
    assert ev.status_code == 201, ev.text
    ev = wait_for(api, ev.json()["id"])
    assert ev["status"] == "succeeded", ev
    results = api.get(f"/v1/models/{model_id}/results", headers=auth(api, "bob")).json()
    assert sorted(r["evaluator"] for r in results) == ["boundary", "gaussian"]
    detail = api.get(f"/v1/models/{model_id}", headers=auth(api, "bob")).json()  # what was trained, how it learned
    assert [e["epoch"] for e in detail["history"]] == [0, 1] and detail["best_epoch"] in (0, 1)
    assert detail["history"][1]["train_loss"] > 0 and detail["versions"]["torch"]
    assert detail["setting"] == job["setting"] and detail["setting_label"] == "small_cnn mnist-5k a0.1 Th0.2 e1"
    assert {r["evaluator"]: sorted(r["headline"]) for r in detail["results"]} == {
        "gaussian": ["clean_accuracy", "normalized_auc"],
        "boundary": ["repeats", "score", "score_std", "success_rate"],
    }
    csv = api.get("/v1/compare", params={"model_id": model_id, "evaluator": "gaussian", "format": "csv"},
                  headers=auth(api, "bob"))  # fmt: skip
    assert csv.status_code == 200 and csv.text.count("\n") == 4 and csv.text.startswith("group,label,")
    download = api.get(f"/v1/models/{model_id}/checkpoint", headers=auth(api, "bob"))
    assert download.status_code == 200
    assert hashlib.sha256(download.content).hexdigest() == download.headers["X-Checksum-SHA256"]
    logs = api.get(f"/v1/jobs/{job['id']}/logs", headers=auth(api, "alice")).json()
    assert any("epoch 1/1" in line["message"] for line in logs)


def test_members_change_only_their_own_jobs_and_keys_are_required(api):
    job = api.post("/v1/train-jobs", json={**QUICK, "spec": {**QUICK["spec"], "epochs": 30}},
                   headers=auth(api, "alice")).json()  # fmt: skip
    assert api.get("/v1/jobs").status_code == 401
    assert api.get("/v1/jobs", headers={"Authorization": "Bearer sth_nope"}).status_code == 401
    refused = api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(api, "bob"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert api.get(f"/v1/jobs/{job['id']}", headers=auth(api, "bob")).status_code == 200  # the team reads it
    wait_for(api, job["id"], until=("running",))
    cancelled = api.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(api, "alice"))
    assert cancelled.status_code == 200
    assert wait_for(api, job["id"])["status"] == "cancelled"


def test_invalid_specs_are_refused_before_anything_is_queued(api):
    bad = api.post("/v1/train-jobs", json={"preset": "smoke", "spec": {"reg": {"threshold": 1.5}}},
                   headers=auth(api, "alice"))  # fmt: skip
    assert bad.status_code == 422 and "threshold" in bad.json()["error"]["message"]
    unknown = api.post("/v1/train-jobs", json={"preset": "smoke", "spec": {"dataset": "imagenet"}},
                       headers=auth(api, "alice"))  # fmt: skip
    assert unknown.status_code == 422 and "imagenet" in unknown.json()["error"]["message"]
    typo = api.post("/v1/train-jobs", json={"preset": "smoke", "spec": {"epoch": 2}}, headers=auth(api, "alice"))
    assert typo.status_code == 422 and "epoch" in typo.json()["error"]["message"]
    assert api.get("/v1/jobs", headers=auth(api, "alice")).json()["items"] == []


def test_a_killed_worker_resumes_the_training_from_its_epoch_checkpoint(api, service):
    from sqlalchemy import func, select

    from store.db import session_scope
    from store.models import Model

    spec = {"preset": "smoke", "spec": {"epochs": 3, "train_limit": 2000, "test_limit": 100, "reg": {"n_images": 200}}}
    job = api.post("/v1/train-jobs", json=spec, headers=auth(api, "alice")).json()
    deadline = time.monotonic() + 120
    while not any("epoch 1/3" in x["message"] for x in api.get(f"/v1/jobs/{job['id']}/logs",
                                                               headers=auth(api, "alice")).json()):  # fmt: skip
        assert time.monotonic() < deadline, "the first epoch never finished"
        time.sleep(0.2)
    service.kill_worker()  # SIGKILL in the middle of epoch 2
    assert api.get(f"/v1/jobs/{job['id']}", headers=auth(api, "alice")).json()["status"] == "running"
    service.start_worker()  # same name: its start-up reconciler knows the job is orphaned
    done = wait_for(api, job["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    logs = [x["message"] for x in api.get(f"/v1/jobs/{job['id']}/logs", headers=auth(api, "alice")).json()]
    assert any(m.startswith("resuming after epoch 1") for m in logs), logs
    with session_scope(service.env["STH_DATABASE_URL"]) as session:
        assert session.scalar(select(func.count()).select_from(Model).where(Model.job_id == job["id"])) == 1


def test_a_job_trains_and_evaluates_on_an_uploaded_dataset(api, service, mnist5k_train):
    import io

    import numpy as np

    from sthlib.data import load_dataset

    test_images, test_labels = load_dataset("mnist-5k", "test")
    out = io.BytesIO()
    np.savez_compressed(out, images=mnist5k_train[0][:600], labels=mnist5k_train[1][:600],
                        test_images=test_images[:100], test_labels=test_labels[:100])  # fmt: skip
    data = out.getvalue()
    uploaded = api.post("/v1/datasets", headers=auth(api, "alice"), data={"name": "digits"},
                        files={"file": ("digits.npz", data)})  # fmt: skip
    assert uploaded.status_code == 201, uploaded.text
    spec = {"preset": "smoke", "spec": {"dataset": "upload:digits", "epochs": 1, "reg": {"n_images": 200}}}
    job = wait_for(api, api.post("/v1/train-jobs", json=spec, headers=auth(api, "alice")).json()["id"])
    assert job["status"] == "succeeded", job
    model = api.get(f"/v1/models/{job['model_id']}", headers=auth(api, "alice")).json()
    assert model["dataset"] == "upload:digits" and model["num_classes"] == 10
    # the worker has its own data folder: it fetched the file from the database and checked its sha256
    assert (service.folder / "worker-data" / "uploads" / "digits.npz").read_bytes() == data
    evaluation = {"model_id": model["id"], "evaluators": [{"name": "gaussian", "params": {"strengths": [0, 0.3]}}]}
    ev = wait_for(api, api.post("/v1/eval-jobs", json=evaluation, headers=auth(api, "alice")).json()["id"])
    assert ev["status"] == "succeeded", ev
    curve = api.get(f"/v1/models/{model['id']}/results", headers=auth(api, "bob")).json()[0]["data"]
    assert [p["n"] for p in curve["points"]] == [100, 100]  # the upload's 100 test images


def test_a_sweep_runs_its_trainings_and_evaluations_and_selects(api):
    body = {"preset": "smoke", "spec": QUICK["spec"], "grid": {"reg.alpha": [0.1], "reg.threshold": [0.2, 0.8]},
            "evaluators": [{"name": "gaussian", "params": {"n_images": 100, "strengths": [0, 0.3, 0.6]}},
                           {"name": "transfer_fgsm", "params": {"n_images": 100, "strengths": [0, 0.2]}}]}  # fmt: skip
    sweep = api.post("/v1/sweeps", json=body, headers=auth(api, "alice"))
    assert sweep.status_code == 201, sweep.text
    done = wait_for(api, sweep.json()["id"], timeout=400)
    assert done["status"] == "succeeded", done
    children = api.get("/v1/jobs", params={"parent_id": done["id"]}, headers=auth(api, "alice")).json()["items"]
    assert sorted(j["kind"] for j in children) == ["evaluate"] * 3 + ["train"] * 4  # + transfer_fgsm's source
    assert all(j["status"] == "succeeded" for j in children)
    result = done["result"]
    for model_id in [*result["baseline"]["models"], *(m for s in result["settings"] for m in s["models"])]:
        (transfer,) = api.get(f"/v1/models/{model_id}/results", params={"evaluator": "transfer_fgsm"},
                              headers=auth(api, "alice")).json()  # fmt: skip
        assert transfer["data"]["params"]["source"] == {"kind": "model", "ref": result["source_model"]}
        assert result["source_model"] != model_id
    assert len(result["settings"]) == 2 and result["baseline"]["values"] == {} and 0 < result["u0"] <= 1
    eligible = [s for s in result["settings"] if s["eligible"]]
    if eligible:
        assert result["selected"]["auc"] == max(s["auc"] for s in eligible)
    else:
        assert result["selected"] is None
