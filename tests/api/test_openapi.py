"""The OpenAPI document is what Swagger's "Try it out" runs on: examples must work as they are, errors are typed."""

import pytest

from sthlib.data import availability
from tests.api.conftest import auth


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").json()


def _operations(spec):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_every_v1_operation_documents_its_errors_with_the_error_schema(spec):
    for path, method, op in _operations(spec):
        if not path.startswith("/v1"):
            continue
        codes = op["responses"]
        expected = {"401"} | ({"404"} if "{" in path or (method == "post" and "eval" in path) else set())
        if op.get("parameters") or op.get("requestBody"):
            expected.add("422")  # FastAPI adds it; the app documents it with its own error body
        assert expected <= set(codes), (method, path, sorted(codes))
        for code in expected:
            ref = codes[code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorBody"), (method, path, code)
    assert {"409", "413"} <= set(spec["paths"]["/v1/datasets"]["post"]["responses"])
    assert {"403", "404"} <= set(spec["paths"]["/v1/jobs/{job_id}/cancel"]["post"]["responses"])
    assert "422" not in spec["paths"]["/v1/evaluators"]["get"]["responses"]  # nothing there to be invalid
    assert "HTTPValidationError" not in spec["components"]["schemas"]


def test_the_body_examples_run_as_they_are(client, spec):
    """What Swagger pre-fills: the training and sweep examples are queued as is; the eval example asks for a real
    model id."""
    schemas = spec["components"]["schemas"]
    train = schemas["TrainJobCreate"]["examples"]
    assert len(train) >= 2
    for example in train:
        needs = {"fashion-mnist"} if "fashion-mnist" in (example.get("preset") or "") else set()
        if not all(availability(n).available for n in needs):
            continue  # .ci/run installs dataset-fashion-mnist; elsewhere the 422 would say how to provide it
        response = client.post("/v1/train-jobs", headers=auth(client), json=example)
        assert response.status_code == 201, (example, response.text)
    (sweep,) = schemas["SweepCreate"]["examples"]
    response = client.post("/v1/sweeps", headers=auth(client), json=sweep)
    assert response.status_code == 201 and response.json()["kind"] == "sweep", response.text
    (evaluation,) = schemas["EvalJobCreate"]["examples"]
    response = client.post("/v1/eval-jobs", headers=auth(client), json=evaluation)
    assert response.status_code == 404 and "MODEL_ID" in response.json()["error"]["message"]


def test_path_and_query_examples_run_as_they_are(client, spec):
    similarity = spec["paths"]["/v1/datasets/{name}/similarity"]["get"]
    (name,) = [p for p in similarity["parameters"] if p["name"] == "name"]
    value = next(iter(name["examples"].values()))["value"]
    response = client.get(f"/v1/datasets/{value}/similarity", headers=auth(client), params={"images": 500})
    assert response.status_code == 200 and response.json()["n"] == 500
