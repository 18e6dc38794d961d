"""Sweeps end to end in the database, without Celery: the API plans and queues, the children are finished by hand,
and worker.tasks.advance_sweep does what a worker does when a child ends (store.sweeps.advance, then enqueue)."""

import pytest
from sqlalchemy import select

from sthlib.evaluate.results import CurvePoint, RobustnessCurve
from store.blobs import put_blob
from store.db import session_scope
from store.jobs import transition
from store.models import EvalResult, Job, JobKind, JobStatus, Model, User
from tests.api.conftest import auth, client  # noqa: F401  (the API fixture)
from worker.tasks import advance_sweep


def advance(url, sweep_id, send):
    """advance_sweep with a `send` of the job id alone (the queue each job wakes: tests/worker/test_device_kinds)."""
    advance_sweep(url, sweep_id, lambda job_id, _queue: send(job_id))


SWEEP = {"preset": "smoke", "spec": {"epochs": 1, "reg": {"n_images": 200}},
         "grid": {"reg.alpha": [0.1, 1.0], "reg.threshold": [0.2, 0.8]}, "seeds": [0, 1],
         "evaluators": [{"name": "gaussian", "params": {"n_images": 50}}], "select_by": "gaussian"}  # fmt: skip


def children(url, sweep_id, kind):
    with session_scope(url) as session:
        query = select(Job).where(Job.parent_id == sweep_id, Job.kind == kind).order_by(Job.created_at)
        return [(j.id, j.spec, j.status) for j in session.scalars(query)]


def finish_training(url, job_id, test_acc, valid_accs=(0.1, 0.86, 0.86)):
    """A trained model whose history's last epoch (kept) gained valid_accs[-1] - valid_accs[-2]."""
    history = [{"epoch": e, "valid_acc": v} for e, v in enumerate(valid_accs)]
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        transition(session, job, JobStatus.running, worker="w", device="cpu")
        blob = put_blob(session, b"weights")
        session.add(Model(owner_id=job.owner_id, name=job_id, origin="trained", job_id=job_id, arch="small_cnn",
                          dataset="mnist-5k", color="gray", in_channels=1, num_classes=10, input_scale="unit",
                          metrics={"test_acc": test_acc, "epoch": len(valid_accs) - 1}, history=history,
                          blob_id=blob.id))  # fmt: skip
        transition(session, job, JobStatus.succeeded)


def finish_evaluation(url, job_id, accuracies):
    curve = RobustnessCurve("gaussian", {}, "sigma", "", [CurvePoint(s, a, 50, a) for s, a in zip(
        [0.0, 0.5, 1.0], accuracies, strict=True)])  # fmt: skip
    with session_scope(url) as session:
        job = session.get(Job, job_id)
        transition(session, job, JobStatus.running, worker="w", device="cpu")
        session.add(EvalResult(model_id=job.spec["model_id"], job_id=job_id, evaluator="gaussian", kind="curve",
                               data=curve.to_dict()))  # fmt: skip
        transition(session, job, JobStatus.succeeded)


def test_a_sweep_trains_evaluates_and_selects_by_the_papers_rule(client):  # noqa: F811
    url = client.settings.database_url
    response = client.post("/v1/sweeps", headers=auth(client), json=SWEEP)
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert sweep["kind"] == "sweep" and sweep["status"] == "running" and sweep["progress"]["jobs"] == 20
    trains = children(url, sweep["id"], JobKind.train)
    assert len(trains) == 10 and all(status is JobStatus.queued for *_, status in trains)
    settings = {(s["reg"]["alpha"], s["reg"]["threshold"], s["seed"]) for _, s, _ in trains}
    assert settings == {(a, t, seed) for a in (0.1, 1.0) for t in (0.2, 0.8) for seed in (0, 1)} | {
        (0.0, 0.2, 0),
        (0.0, 0.2, 1),
    }  # the baseline keeps the preset's threshold; alpha 0 ignores it
    listed = client.get("/v1/jobs", headers=auth(client), params={"parent_id": sweep["id"], "page_size": 50}).json()
    assert len(listed["items"]) == 10 and all(j["parent_id"] == sweep["id"] for j in listed["items"])

    # clean accuracy and curves per (alpha, threshold): alpha 1.0 / Th 0.8 is the most robust but loses too much
    # clean accuracy (R0/U0 = 0.8); alpha 1.0 / Th 0.2 is the most robust of those that keep R0/U0 >= 0.9
    outcome = {(0.0, 0.2): (0.90, [0.9, 0.3, 0.1]), (0.1, 0.2): (0.89, [0.89, 0.4, 0.2]),
               (0.1, 0.8): (0.88, [0.88, 0.35, 0.1]), (1.0, 0.2): (0.85, [0.85, 0.6, 0.3]),
               (1.0, 0.8): (0.72, [0.72, 0.7, 0.6])}  # fmt: skip
    sent = []
    for job_id, spec, _ in trains:
        finish_training(url, job_id, outcome[spec["reg"]["alpha"], spec["reg"]["threshold"]][0])
        advance(url, sweep["id"], sent.append)
    evals = children(url, sweep["id"], JobKind.evaluate)
    assert sorted(sent) == sorted(j for j, _, _ in evals) and len(evals) == 10  # one per model, sent once
    advance(url, sweep["id"], sent.append)
    assert len(sent) == 10 and len(children(url, sweep["id"], JobKind.evaluate)) == 10  # idempotent
    models = {}
    with session_scope(url) as session:
        for model in session.scalars(select(Model)):
            spec = session.get(Job, model.job_id).spec
            models[model.id] = spec["reg"]["alpha"], spec["reg"]["threshold"]
    for job_id, spec, _ in evals:
        finish_evaluation(url, job_id, outcome[models[spec["model_id"]]][1])
        advance(url, sweep["id"], sent.append)
    done = client.get(f"/v1/jobs/{sweep['id']}", headers=auth(client)).json()
    assert done["status"] == "succeeded" and done["progress"]["fraction"] == 1.0
    result = done["result"]
    assert result["selected"]["values"] == {"reg.alpha": 1.0, "reg.threshold": 0.2}
    assert result["u0"] == pytest.approx(0.90) and result["baseline"]["values"] == {}
    table = {(r["values"]["reg.alpha"], r["values"]["reg.threshold"]): r for r in result["settings"]}
    assert not table[1.0, 0.8]["eligible"] and table[1.0, 0.8]["r0_u0"] == pytest.approx(0.8)
    assert table[1.0, 0.8]["auc"] > table[1.0, 0.2]["auc"]  # the most robust, excluded by R0/U0
    assert len(table[0.1, 0.2]["models"]) == 2 and table[0.1, 0.2]["r0"] == pytest.approx(0.89)
    logs = client.get(f"/v1/jobs/{sweep['id']}/logs", headers=auth(client)).json()
    assert "selected" in logs[-1]["message"] and result["warnings"] == []


def test_a_sweep_says_when_its_choice_is_no_better_than_the_baseline_and_the_baseline_still_learns(client):  # noqa: F811
    url = client.settings.database_url
    sweep = client.post("/v1/sweeps", headers=auth(client), json={**SWEEP, "seeds": [0],
                                                                  "grid": {"reg.alpha": [0.1]}}).json()  # fmt: skip
    for job_id, spec, _ in children(url, sweep["id"], JobKind.train):
        baseline = spec["reg"]["alpha"] == 0
        finish_training(url, job_id, 0.9, (0.1, 0.6, 0.69) if baseline else (0.1, 0.88, 0.87))
        advance(url, sweep["id"], lambda _: None)
    with session_scope(url) as session:
        names = {m.id: session.get(Job, m.job_id).spec["reg"]["alpha"] for m in session.scalars(select(Model))}
    for job_id, spec, _ in children(url, sweep["id"], JobKind.evaluate):
        robust = names[spec["model_id"]] == 0  # the baseline is the more robust here
        finish_evaluation(url, job_id, [0.9, 0.6, 0.4] if robust else [0.9, 0.3, 0.1])
        advance(url, sweep["id"], lambda _: None)
    result = client.get(f"/v1/jobs/{sweep['id']}", headers=auth(client)).json()["result"]
    assert result["selected"]["values"] == {"reg.alpha": 0.1}
    (worse, undertrained) = result["warnings"]
    assert "not more robust than the baseline" in worse and "AUC" in worse
    assert "baseline looks undertrained" in undertrained and "+0.090" in undertrained and "U0 = 0.900" in undertrained
    logs = client.get(f"/v1/jobs/{sweep['id']}/logs", headers=auth(client)).json()
    assert [line["level"] for line in logs[-2:]] == ["warning", "warning"]


def test_a_failed_child_fails_the_sweep_and_stops_the_rest(client):  # noqa: F811
    url = client.settings.database_url
    sweep = client.post("/v1/sweeps", headers=auth(client), json={**SWEEP, "seeds": [0]}).json()
    (first, *_rest) = children(url, sweep["id"], JobKind.train)
    with session_scope(url) as session:
        job = session.get(Job, first[0])
        transition(session, job, JobStatus.running, worker="w", device="cpu")
        transition(session, job, JobStatus.failed, error_code="RuntimeError", error_message="out of memory")
    advance(url, sweep["id"], lambda _: None)
    done = client.get(f"/v1/jobs/{sweep['id']}", headers=auth(client)).json()
    assert done["status"] == "failed" and "out of memory" in done["error"]["message"]
    statuses = [status for *_, status in children(url, sweep["id"], JobKind.train)]
    assert statuses.count(JobStatus.cancelled) == len(statuses) - 1


def test_cancelling_a_sweep_cancels_its_children_and_retry_plans_it_again(client):  # noqa: F811
    url = client.settings.database_url
    sweep = client.post("/v1/sweeps", headers=auth(client), json={**SWEEP, "seeds": [0]}).json()
    assert client.post(f"/v1/jobs/{sweep['id']}/cancel", headers=auth(client, "bob")).status_code == 403
    cancelled = client.post(f"/v1/jobs/{sweep['id']}/cancel", headers=auth(client)).json()
    assert cancelled["status"] == "cancelled"
    assert {status for *_, status in children(url, sweep["id"], JobKind.train)} == {JobStatus.cancelled}
    again = client.post(f"/v1/jobs/{sweep['id']}/retry", headers=auth(client))
    assert again.status_code == 201 and again.json()["kind"] == "sweep" and again.json()["id"] != sweep["id"]
    assert len(children(url, again.json()["id"], JobKind.train)) == 5


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        ({"grid": {"reg.alpha": [0, 1.0]}}, "grid.reg.alpha.0", "baseline"),
        ({"grid": {"reg.alhpa": [1.0]}}, "grid.reg.alhpa", "unknown grid key"),
        ({"grid": {"seed": [1, 2]}}, "grid.seed", "seeds go in `seeds`"),
        ({"grid": {"reg.threshold": [0.2, 0.2]}}, "grid.reg.threshold", "values repeat"),
        ({"grid": {"reg.threshold": [0.2, 1.5]}}, "grid.reg.threshold", "must be < 1.0, got 1.5"),
        ({"grid": {"epochs": [1, 2.5]}}, "grid.epochs", "must be an integer, got 2.5"),
        ({"seeds": [False]}, "seeds.0", "must be an integer"),
        ({"seeds": [0, 0]}, "seeds", "seeds repeat"),
        ({"min_r0_u0": True}, "min_r0_u0", "valid number"),
        ({"grid": {"reg.alpha": [0.1, 0.2, 0.3, 0.4], "lr": [0.1, 0.01, 0.001, 1e-4], "epochs": [1, 2, 3]}},
         "grid", "the limit is 48"),
        ({"select_by": "boundary", "evaluators": [{"name": "boundary"}]}, "select_by", "curve evaluators"),
        ({"evaluators": [{"name": "transfer_fgsm", "source_model_id": "nope"}], "select_by": "transfer_fgsm"},
         "evaluators.0.params.source.ref", "no model 'nope'"),
        ({"grid": {"reg.alpha": [0.1 * i for i in range(1, 12)]}, "seeds": [0, 1, 2, 3],  # 48, the source is one more
          "evaluators": [{"name": "gaussian"}, {"name": "transfer_fgsm"}]}, "grid", "transfer_fgsm's source model"),
        ({"spec": {"reg": {"alpha": 0.0}}, "grid": {"reg.threshold": [0.2, 0.8]}}, "grid", "unregularized"),
    ],
)  # fmt: skip
def test_a_sweep_that_cannot_run_is_refused_before_anything_is_queued(client, change, field, says):  # noqa: F811
    response = client.post("/v1/sweeps", headers=auth(client), json={**SWEEP, **change})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert says in error["message"] and error["details"]["field"] == field, error
    assert client.get("/v1/jobs", headers=auth(client)).json()["items"] == []


TRANSFER = {**SWEEP, "grid": {"reg.alpha": [0.1, 1.0]}, "seeds": [0],
            "evaluators": [{"name": "gaussian", "params": {"n_images": 50}},
                           {"name": "transfer_fgsm", "params": {"n_images": 50}}]}  # fmt: skip


def test_a_sweep_trains_the_source_of_transfer_fgsm_and_attacks_every_model_with_it(client):  # noqa: F811
    url = client.settings.database_url
    response = client.post("/v1/sweeps", headers=auth(client), json=TRANSFER)
    assert response.status_code == 201, response.text
    sweep = response.json()
    assert sweep["spec"]["source_seed"] == 1 and sweep["progress"]["jobs"] == 4 + 3  # the source is not evaluated
    trains = children(url, sweep["id"], JobKind.train)
    (source,) = [job_id for job_id, spec, _ in trains if spec["seed"] == 1]
    assert [spec["reg"]["alpha"] for job_id, spec, _ in trains if job_id == source] == [0.0]
    sent = []
    for job_id, spec, _ in trains:
        if job_id != source:
            finish_training(url, job_id, 0.9 - spec["reg"]["alpha"] / 10)
            advance(url, sweep["id"], sent.append)
    assert sent == [] and children(url, sweep["id"], JobKind.evaluate) == []  # they wait for the source model
    finish_training(url, source, 0.9)
    advance(url, sweep["id"], sent.append)
    evals = children(url, sweep["id"], JobKind.evaluate)
    with session_scope(url) as session:
        source_model = session.scalars(select(Model).where(Model.job_id == source)).one().id
    assert len(evals) == 3 and sorted(sent) == sorted(j for j, _, _ in evals)
    assert source_model not in {spec["model_id"] for _, spec, _ in evals}
    for _, spec, _ in evals:
        gaussian, transfer = spec["evaluators"]
        assert transfer["name"] == "transfer_fgsm" and transfer["params"]["source"] == {
            "kind": "model",
            "ref": source_model,
        }
        assert "source" not in gaussian["params"]
    for job_id, _, _ in evals:
        finish_evaluation(url, job_id, [0.9, 0.5, 0.2])
        advance(url, sweep["id"], sent.append)
    done = client.get(f"/v1/jobs/{sweep['id']}", headers=auth(client)).json()
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["source_model"] == source_model
    assert len(result["baseline"]["models"]) == 1 and source_model not in result["baseline"]["models"]
    assert len(result["settings"]) == 2


def test_a_sweep_attacks_with_a_named_source_model_of_its_task(client):  # noqa: F811
    url = client.settings.database_url
    with session_scope(url) as session:
        owner = session.scalars(select(User.id)).first()  # any user will do
        blob = put_blob(session, b"weights")
        for name, classes in (("cifar100-net", 100), ("mnist-net", 10)):
            session.add(Model(id=name, owner_id=owner, name=name, origin="uploaded", arch="small_cnn",
                              dataset="mnist-5k", color="gray", in_channels=1, num_classes=classes,
                              input_scale="unit", metrics={}, blob_id=blob.id))  # fmt: skip
    named = {**TRANSFER, "evaluators": [TRANSFER["evaluators"][0], {**TRANSFER["evaluators"][1],
                                                                   "source_model_id": "cifar100-net"}]}  # fmt: skip
    response = client.post("/v1/sweeps", headers=auth(client), json=named)
    assert response.status_code == 422 and "the sweep's task has 10 and 1" in response.text, response.text
    named["evaluators"][1]["source_model_id"] = "mnist-net"
    sweep = client.post("/v1/sweeps", headers=auth(client), json=named).json()
    assert sweep["spec"]["source_seed"] is None and sweep["progress"]["jobs"] == 6
    trains = children(url, sweep["id"], JobKind.train)
    assert len(trains) == 3  # no source training
    sent = []
    finish_training(url, trains[0][0], 0.9)
    advance(url, sweep["id"], sent.append)
    ((_, spec, _),) = children(url, sweep["id"], JobKind.evaluate)
    assert spec["evaluators"][1]["params"]["source"] == {"kind": "model", "ref": "mnist-net"}


def test_retrying_a_sweep_trains_its_transfer_source_again(client):  # noqa: F811
    url = client.settings.database_url
    sweep = client.post("/v1/sweeps", headers=auth(client), json=TRANSFER).json()
    client.post(f"/v1/jobs/{sweep['id']}/cancel", headers=auth(client))
    again = client.post(f"/v1/jobs/{sweep['id']}/retry", headers=auth(client)).json()
    assert again["spec"]["source_seed"] == 1 and again["spec"]["evaluators"] == sweep["spec"]["evaluators"]
    assert sorted(spec["seed"] for _, spec, _ in children(url, again["id"], JobKind.train)) == [0, 0, 0, 1]


def test_a_report_that_cannot_be_written_fails_once_with_the_reason(client, monkeypatch):  # noqa: F811
    from store import reports

    url = client.settings.database_url
    response = client.post("/v1/reports", headers=auth(client), json={"protocol": "tiny", "seeds": [0]})
    assert response.status_code == 201, response.text
    report = response.json()
    assert report["kind"] == "report" and report["progress"]["jobs"] == 3 + 2  # S^Th, baseline, source; 2 evaluated
    for job_id, _, _ in children(url, report["id"], JobKind.train):
        finish_training(url, job_id, 0.9)
        advance(url, report["id"], lambda _: None)

    def broken(*_):
        raise ValueError("a figure failed")

    monkeypatch.setattr(reports, "write", broken)
    for job_id, _, _ in children(url, report["id"], JobKind.evaluate):
        finish_evaluation(url, job_id, [0.9, 0.5, 0.2])
        advance(url, report["id"], lambda _: None)
    advance(url, report["id"], lambda _: None)  # the reconciler's next pass: nothing more happens
    done = client.get(f"/v1/jobs/{report['id']}", headers=auth(client)).json()
    assert done["status"] == "failed" and done["error"]["code"] == "ReportFailed"
    assert "ValueError: a figure failed" in done["error"]["message"]
    assert client.get(f"/v1/reports/{report['id']}", headers=auth(client)).status_code == 409


def test_a_report_keeps_the_plan_it_was_submitted_with_when_its_protocol_changes(client, monkeypatch):  # noqa: F811
    from dataclasses import replace

    from sthlib.reproduce import protocols
    from store.sweeps import plan_of

    url = client.settings.database_url
    report = client.post("/v1/reports", headers=auth(client), json={"protocol": "tiny", "seeds": [0]}).json()
    assert report["spec"]["plan"]["base"]["epochs"] == 2 and report["spec"]["protocol"] == "tiny"
    tiny = protocols.PROTOCOLS["tiny"]
    monkeypatch.setitem(protocols.PROTOCOLS, "tiny", replace(tiny, spec=tiny.spec.replace(epochs=5)))
    with session_scope(url) as session:
        parent = session.get(Job, report["id"])
        assert parent is not None and plan_of(parent).base.epochs == 2  # not re-planned from the changed protocol
    client.post(f"/v1/jobs/{report['id']}/cancel", headers=auth(client))
    again = client.post(f"/v1/jobs/{report['id']}/retry", headers=auth(client)).json()
    assert again["spec"] == report["spec"]  # the retry trains what the report planned
    assert {spec["epochs"] for _, spec, _ in children(url, again["id"], JobKind.train)} == {2}
    fresh = client.post("/v1/reports", headers=auth(client), json={"protocol": "tiny", "seeds": [0]}).json()
    assert fresh["spec"]["plan"]["base"]["epochs"] == 5  # a new submission plans from the protocol as it is now
