"""Schemathesis fuzzes every operation of the OpenAPI document (uploads included) in-process, authorized as an
admin so that the authenticated routes run, on SQLite and on PostgreSQL: no answer may be a 5xx, and every error
answer is the documented JSON body {"error": {"code", "message", "details"}}. Positive cases follow the schema,
negative ones break it; both derandomized, so that CI is reproducible."""

import contextlib
import dataclasses
import logging
import time
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from sthlib.evalspecs import EVAL_SPECS
from sthlib.specs import RegSpec, TrainSpec
from tests.api.conftest import assert_error_shape, auth

log = logging.getLogger(__name__)
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 20}  # per operation; 30 operations
KNOWN_IDS = 20  # more positive cases per operation whose path names an existing job or model
MIN_CASES = 500
SPEC_CASES = 150  # per request kind below: bodies the schema admits, with spec values of every JSON type


def _settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck))  # fmt: skip


def _request_kwargs(case) -> dict:
    """The generated request in the in-process client's (httpx) terms."""
    sent = case.as_transport_kwargs(base_url="http://testserver")
    kwargs = {"method": sent["method"], "url": sent["url"], "headers": sent.get("headers") or {},
              "params": sent.get("params") or None, "cookies": sent.get("cookies") or None}  # fmt: skip
    if sent.get("json") is not None:
        kwargs["json"] = sent["json"]
    if sent.get("files"):
        kwargs["files"] = sent["files"]
    data = sent.get("data")
    if isinstance(data, bytes | str):
        kwargs["content"] = data
    elif data:
        kwargs["data"] = data
    return kwargs


def _problem(response) -> str | None:
    """What is wrong with an answer, or None."""
    if response.status_code >= 500:
        return f"status {response.status_code}: {response.text[:200]}"
    if response.status_code < 400:
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return f"status {response.status_code} as {response.headers.get('content-type')}: {response.text[:200]}"
    error = response.json().get("error") if isinstance(response.json(), dict) else None
    if not (isinstance(error, dict) and {"code", "message", "details"} <= set(error)):
        return f"status {response.status_code} without the error body: {response.text[:200]}"
    return None


def _fuzz(client, operation, mode, examples, problems, sent, **fixed) -> None:
    @_settings(examples)
    @given(case=operation.as_strategy(mode, **fixed))
    def run(case) -> None:
        kwargs = _request_kwargs(case)
        response = client.request(**kwargs)
        sent[operation.label] += 1
        problem = _problem(response)
        if problem is not None:
            problems.append(f"{operation.label} ({mode.value}) {kwargs['url']}: {problem}")

    with contextlib.suppress(Unsatisfiable):  # nothing of the operation can be broken: its positive cases ran
        run()


def _fixed_paths(operation, world) -> dict[str, str] | None:
    """Path parameters that name the existing job or model, for the operations that take one."""
    names = {p.name for p in operation.path_parameters}
    ids = {"job_id": world["{job}"], "model_id": world["{model}"]}
    return {name: ids[name] for name in names} if names and names <= ids.keys() else None


def test_no_generated_request_is_a_server_error(db_client, world):
    schema = schemathesis.openapi.from_dict(db_client.app.openapi())
    headers = {"Authorization": f"Bearer {db_client.keys['admin']}"}
    problems: list[str] = []
    sent: Counter[str] = Counter()
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.label == "POST /v1/models" for op in operations) and any("datasets" in op.label for op in operations)
    for operation in operations:
        for mode, examples in EXAMPLES.items():
            _fuzz(db_client, operation, mode, examples, problems, sent, headers=headers)
        fixed = _fixed_paths(operation, world)
        if fixed is not None:
            _fuzz(db_client, operation, GenerationMode.POSITIVE, KNOWN_IDS, problems, sent, headers=headers,
                  path_parameters=fixed)  # fmt: skip
    total = sum(sent.values())
    log.info("%d cases over %d operations in %.0f s", total, len(sent), time.monotonic() - started)
    assert not problems, f"{len(problems)} of {total} answers were wrong:\n" + "\n".join(problems[:30])
    assert total >= MIN_CASES, sent


@pytest.fixture(autouse=True)
def _quiet_app_logs(caplog):
    """Thousands of refused requests: keep only the errors in the captured log."""
    caplog.set_level(logging.ERROR)


# Spec fields (sthlib.specs, sthlib.evalspecs) with JSON values of any type: the schema says only "an object", so
# schemathesis rarely names a real field; these reach the spec checks behind it.
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                    | st.text(max_size=8) | st.sampled_from(["mnist-5k", "upload:x", "npz:/x", "double", "rgb"]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
                    max_leaves=4)  # fmt: skip


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


REG = st.dictionaries(st.sampled_from(_fields(RegSpec)), JSON, max_size=3)
SPEC = st.dictionaries(st.sampled_from(_fields(TrainSpec)), JSON | REG, max_size=3)
EVALUATOR = st.sampled_from(sorted(EVAL_SPECS)).flatmap(lambda name: st.fixed_dictionaries(
    {"name": st.just(name), "params": st.dictionaries(st.sampled_from(_fields(EVAL_SPECS[name].params)), JSON,
                                                      max_size=3)}))  # fmt: skip
GRID = st.dictionaries(st.sampled_from([*_fields(TrainSpec), *(f"reg.{f}" for f in _fields(RegSpec))]),
                       st.lists(JSON, min_size=1, max_size=2), min_size=1, max_size=2)  # fmt: skip
BODIES = {
    "/v1/train-jobs": st.fixed_dictionaries({"preset": st.sampled_from(["smoke", None]), "spec": SPEC}),
    "/v1/eval-jobs": st.fixed_dictionaries({"model_id": st.just("{model}"), "evaluators": st.lists(EVALUATOR,
                                                                                                   min_size=1)}),
    "/v1/sweeps": st.fixed_dictionaries({"preset": st.just("smoke"), "spec": SPEC, "grid": GRID,
                                         "evaluators": st.lists(EVALUATOR, min_size=1, max_size=2)}),
}  # fmt: skip


@pytest.mark.parametrize("path", BODIES)
def test_spec_values_of_any_type_are_never_a_server_error(db_client, world, path):
    @_settings(SPEC_CASES)
    @given(body=BODIES[path])
    def run(body) -> None:
        if body.get("model_id"):
            body["model_id"] = world["{model}"]
        response = db_client.post(path, json=body, headers=auth(db_client))
        assert response.status_code < 500, (body, response.text[:300])
        if response.status_code >= 400:
            assert_error_shape(response)

    run()
