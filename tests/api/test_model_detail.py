"""What a model is and how it learned: its setting (the spec without the seed), per-epoch history, provenance and
a line per result; its name, tags and notes edited by its owner; models and jobs found by setting, sweep and tag."""

import importlib.util
from pathlib import Path

from sthlib.evaluate.results import CurvePoint, RobustnessCurve
from sthlib.specs import preset, setting_hash
from store.db import session_scope
from store.keys import find_user
from store.models import EvalResult, Job, JobKind, JobStatus
from tests.api.conftest import auth, stored_model

ROOT = Path(__file__).resolve().parents[2]
QUICK = {"preset": "smoke", "spec": {"epochs": 1}}


def test_the_setting_is_the_spec_without_its_seed_and_the_migration_computes_the_same():
    spec = preset("smoke", seed=3)
    assert spec.setting_hash() == preset("smoke", seed=4).setting_hash() != preset("smoke", epochs=4).setting_hash()
    assert spec.setting_hash() == setting_hash(spec.to_dict()) and len(spec.setting_hash()) == 12
    path = ROOT / "migrations" / "versions" / "0004_model_settings_history_tags.py"
    module_spec = importlib.util.spec_from_file_location("m0004", path)
    migration = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(migration)
    assert migration.setting_hash(spec.to_dict()) == spec.setting_hash()
    baseline = preset("smoke", **{"reg.alpha": 0})
    assert migration.setting_hash(baseline.to_dict()) == baseline.setting_hash() == spec.baseline_setting_hash()
    assert preset("smoke", **{"reg.alpha": 0, "reg.threshold": 0.9}).setting_hash() == baseline.setting_hash()
    assert preset("smoke").setting_label() == "small_cnn mnist-5k a0.1 Th0.2 e3"
    assert preset("smoke", **{"reg.alpha": 0}).setting_label() == "small_cnn mnist-5k a0 e3"


def test_jobs_of_one_setting_are_found_together(client):
    seeds = [client.post("/v1/train-jobs", headers=auth(client), json={**QUICK, "spec": {"epochs": 1, "seed": s}})
             for s in (0, 1)]  # fmt: skip
    other = client.post("/v1/train-jobs", headers=auth(client), json={**QUICK, "spec": {"epochs": 2}}).json()
    settings = {r.json()["setting"] for r in seeds}
    assert len(settings) == 1 and other["setting"] not in settings
    (setting,) = settings
    assert setting == preset("smoke", epochs=1).setting_hash()
    found = client.get("/v1/jobs", headers=auth(client), params={"setting": setting}).json()["items"]
    assert sorted(j["id"] for j in found) == sorted(r.json()["id"] for r in seeds)


def _trained_model(client, owner="alice", seed=0, tags=()):
    spec = preset("smoke", epochs=2, seed=seed)
    history = [{"epoch": e, "lr": 0.1, "valid_loss": 2.0 - e / 2, "valid_acc": 0.1 + 0.4 * e, "test_loss": 2.0 - e / 2,
                "test_acc": 0.1 + 0.4 * e, "train_loss": None if e == 0 else 1.0 / e, "reg_loss": None,
                "sim_corr": 0.2 * e, "layer_weights": [], "seconds": float(e)} for e in range(3)]  # fmt: skip
    with session_scope(client.settings.database_url) as session:
        user = find_user(session, owner)
        job = Job(kind=JobKind.train, status=JobStatus.succeeded, owner_id=user.id, spec=spec.to_dict(),
                  spec_hash=spec.spec_hash(), setting=spec.setting_hash())  # fmt: skip
        session.add(job)
        session.flush()
        model = stored_model(session, user.id, f"m{seed}")
        model.origin, model.job_id, model.spec, model.setting = "trained", job.id, spec.to_dict(), spec.setting_hash()
        model.history, model.metrics, model.versions = history, history[2], {"torch": "2.14.1"}
        model.tags = list(tags)
        points = [CurvePoint(0.0, 0.9, 10, 1.0), CurvePoint(0.5, 0.3, 10, 0.3)]
        curve = RobustnessCurve("gaussian", {}, "sigma", "", points)
        session.add(EvalResult(model_id=model.id, job_id=None, evaluator="gaussian", kind="curve",
                               data=curve.to_dict()))  # fmt: skip
        session.add(EvalResult(model_id=model.id, job_id=None, evaluator="boundary", kind="perturbation",
                               data={"kind": "perturbation", "summary": {"old": "format"}}))  # fmt: skip
        session.flush()
        return model.id, job.id


def test_a_model_says_what_was_trained_how_it_learned_and_what_was_measured(client):
    model_id, job_id = _trained_model(client)
    detail = client.get(f"/v1/models/{model_id}", headers=auth(client, "bob")).json()
    assert detail["setting"] == preset("smoke", epochs=2).setting_hash() and detail["seed"] == 0
    assert detail["setting_label"] == "small_cnn mnist-5k a0.1 Th0.2 e2"
    assert [e["epoch"] for e in detail["history"]] == [0, 1, 2] and detail["best_epoch"] == 2
    assert detail["versions"] == {"torch": "2.14.1"} and detail["job_id"] == job_id and detail["sweep_id"] is None
    results = {r["evaluator"]: r["headline"] for r in detail["results"]}
    assert results["gaussian"]["clean_accuracy"] == 0.9 and 0 < results["gaussian"]["normalized_auc"] < 1
    assert "evaluate again" in results["boundary"]["error"]  # an old report says so instead of failing the page


def test_only_the_owner_or_an_admin_edits_name_tags_and_notes(client):
    model_id, _ = _trained_model(client)
    change = {"name": "baseline seed 0", "tags": ["paper", "fig2", "paper"], "notes": "lr too high?\nrerun"}
    assert client.patch(f"/v1/models/{model_id}", headers=auth(client, "bob"), json=change).status_code == 403
    done = client.patch(f"/v1/models/{model_id}", headers=auth(client), json=change)
    assert done.status_code == 200, done.text
    assert (done.json()["name"], done.json()["tags"], done.json()["notes"]) == ("baseline seed 0", ["paper", "fig2"],
                                                                                change["notes"])  # fmt: skip
    by_admin = client.patch(f"/v1/models/{model_id}", headers=auth(client, "admin"), json={"tags": []})
    assert by_admin.status_code == 200 and by_admin.json()["tags"] == [] and by_admin.json()["notes"]
    for bad, field in (({"tags": "paper"}, "tags"), ({"name": 5}, "name"), ({"owner": "bob"}, "owner"),
                       ({"tags": ["x\x00"]}, "tags.0")):  # fmt: skip
        response = client.patch(f"/v1/models/{model_id}", headers=auth(client), json=bad)
        assert response.status_code == 422 and response.json()["error"]["details"]["field"] == field, response.text


def test_models_are_found_by_setting_sweep_and_tag(client):
    first, _ = _trained_model(client, seed=0, tags=["paper"])
    second, job = _trained_model(client, seed=1)
    with session_scope(client.settings.database_url) as session:
        owner = find_user(session, "alice")
        sweep = Job(kind=JobKind.sweep, status=JobStatus.running, owner_id=owner.id, spec={}, spec_hash="s")
        session.add(sweep)
        session.flush()
        session.get(Job, job).parent_id = sweep.id
        sweep_id = sweep.id
    setting = preset("smoke", epochs=2).setting_hash()

    def ids(**params):
        return sorted(m["id"] for m in client.get("/v1/models", headers=auth(client), params=params).json())

    assert ids(setting=setting) == sorted([first, second]) and ids(setting="0" * 12) == []
    assert ids(tag="paper") == [first] and ids(sweep_id=sweep_id) == [second]
    listed = {m["id"]: m for m in client.get("/v1/models", headers=auth(client)).json()}
    assert listed[second]["sweep_id"] == sweep_id and listed[first]["sweep_id"] is None


def test_a_models_history_as_json_and_as_a_figure(client):
    model_id, _ = _trained_model(client)
    history = client.get(f"/v1/models/{model_id}/history", headers=auth(client)).json()
    assert [e["epoch"] for e in history] == [0, 1, 2]
    svg = client.get(f"/v1/models/{model_id}/history", headers=auth(client), params={"format": "svg"}).text
    assert "kept (epoch 2)" in svg and "similarity correlation" in svg and "not recorded (unregularized)" in svg
    png = client.get(f"/v1/models/{model_id}/history", headers=auth(client), params={"format": "png"})
    assert png.content.startswith(b"\x89PNG")


def test_a_model_stored_with_a_spec_that_is_no_train_spec_still_lists(client):
    with session_scope(client.settings.database_url) as session:
        model = stored_model(session, find_user(session, "alice").id, "legacy upload")
        model.spec = {"dataset": "mnist-5k", "optimizer": "adam"}  # stored before uploads were read as TrainSpecs
        model_id = model.id
    listed = {m["id"]: m for m in client.get("/v1/models", headers=auth(client)).json()}
    assert listed[model_id]["setting_label"] is None and listed[model_id]["seed"] is None
    assert client.get(f"/v1/models/{model_id}", headers=auth(client)).json()["spec"]["optimizer"] == "adam"
