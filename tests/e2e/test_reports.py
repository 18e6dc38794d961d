"""A reproduction report through the service, with a real worker, on both backends: the report job plans the
trainings and evaluations, waits for them as a sweep does, and writes a report whose every number is read from the
stored results it cites, the same as `sth reproduce --local` computes from the same code."""

import pytest
import torch

from sthlib.reproduce.claims import CLAIMS, Cited, ModelResults
from tests.e2e.conftest import auth, wait_for

TINY = {"protocol": "tiny", "seeds": [0, 1]}


def test_a_report_job_writes_a_report_whose_numbers_are_its_stored_results(api, tmp_path):
    refused = api.post("/v1/reports", headers=auth(api, "alice"), json={**TINY, "changes": {"reg": {"alpha": 0}}})
    assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == "changes.reg.alpha"
    unknown = api.post("/v1/reports", headers=auth(api, "alice"), json={"protocol": "nope"})
    assert unknown.status_code == 422 and unknown.json()["error"]["details"]["field"] == "protocol"
    created = api.post("/v1/reports", headers=auth(api, "alice"), json=TINY)
    assert created.status_code == 201, created.text
    report_id = created.json()["id"]
    assert created.json()["kind"] == "report" and created.json()["label"].startswith("tiny: small_cnn mnist-5k a0.1")
    early = api.get(f"/v1/reports/{report_id}", headers=auth(api, "bob"))
    assert early.status_code in (200, 409)  # 409 while it runs (it can hardly be done already)
    job = wait_for(api, report_id, "alice", timeout=600)
    assert job["status"] == "succeeded", job
    children = api.get("/v1/jobs", headers=auth(api, "alice"), params={"parent_id": report_id}).json()["items"]
    kinds = sorted(c["kind"] for c in children)
    assert kinds == ["evaluate"] * 4 + ["train"] * 5  # 2 seeds x (S^Th, baseline), the source; 4 evaluated

    report = api.get(f"/v1/reports/{report_id}", headers=auth(api, "bob")).json()
    assert report["protocol"] == "tiny" and report["seeds"] == [0, 1] and report["header"]["report job"] == report_id
    checked = 0
    for claim in report["claims"]:
        reader = next(c for c in CLAIMS if c.id == claim["id"])
        for row in claim["per_seed"]:
            stored = {r["id"]: r for r in
                      api.get(f"/v1/models/{row['model_id']}/results", headers=auth(api, "bob")).json()}  # fmt: skip
            if claim["id"] == "clean-accuracy":
                model = api.get(f"/v1/models/{row['model_id']}", headers=auth(api, "bob")).json()
                assert row["value"] == pytest.approx(model["metrics"]["test_acc"])
                continue
            cited = [Cited(i, stored[i]["evaluator"], stored[i]["label"], stored[i]["data"]) for i in row["results"]]
            value = reader.read(ModelResults(row["model_id"], row["seed"], 0.0, cited))
            assert (None if value is None else value[0]) == pytest.approx(row["value"]), claim["id"]
            checked += 1
    assert checked >= 20
    page = api.get(f"/v1/reports/{report_id}/html", headers=auth(api, "bob"))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "sandbox" in page.headers["content-security-policy"] and page.text.count("<svg") >= 3
    assert all(f"id='{c['id']}'" in page.text for c in report["claims"])
    assert api.get(f"/v1/reports/{children[0]['id']}", headers=auth(api, "bob")).status_code == 404

    from sthlib.reproduce.local import run_local
    from sthlib.reproduce.protocols import get_protocol

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the worker (OMP_NUM_THREADS=1): the same seeds train the same models
    try:
        local = run_local(get_protocol("tiny", test_only_ok=True), [0, 1], None, tmp_path, say=lambda _: None)
    finally:
        torch.set_num_threads(threads)

    def values(r):
        return {(c["id"], row["side"], row["seed"]): row["value"] for c in r["claims"] for row in c["per_seed"]}

    assert values(local) == pytest.approx(values(report))
    assert [c["verdict"] for c in local["claims"]] == [c["verdict"] for c in report["claims"]]
