"""Requests a hostile or careless client can send: each gets the documented JSON error with a 4xx status (never a
500, never text/plain), and the error names the field to change. Run on SQLite and PostgreSQL: PostgreSQL refuses
NUL in text, non-finite numbers in JSON and integers beyond a column's range where SQLite stores them."""

import base64
import json
import struct
import urllib.parse

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from api.main import create_app
from store.db import session_scope
from store.keys import find_user
from store.settings import Settings
from tests.api.conftest import assert_error_shape, auth, stored_model

NUL = "\x00"
INT32_MAX = 2**31 - 1


def safetensors(header: dict | bytes, body: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def sth_header(**changes) -> dict:
    """A header the API takes for a small_cnn on one gray channel and 10 classes (zero-sized tensors: the upload
    checks the header only; the weights are checked when a job loads them)."""
    header = {"stem.0.weight": {"dtype": "F32", "shape": [16, 1, 3, 0], "data_offsets": [0, 0]},
              "linear.weight": {"dtype": "F32", "shape": [10, 0], "data_offsets": [0, 0]}}  # fmt: skip
    header.update(changes)
    return header


def upload_model(header: dict | bytes, body: bytes = b"", **form) -> dict:
    data = {"name": "m", "arch": "small_cnn", "dataset": "mnist-5k", **form}
    return {"data": data, "files": {"file": ("m.safetensors", safetensors(header, body))}}


def raw_json(text: str) -> dict:
    """A body Python's json module reads (NaN, Infinity, 1e400) but a strict encoder would refuse to send."""
    return {"content": text.encode(), "headers": {"Content-Type": "application/json"}}


def token(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


EVAL = {"model_id": "{model}", "evaluators": [{"name": "gaussian"}]}
SWEEP = {"preset": "smoke", "grid": {"reg.alpha": [1.0]}, "evaluators": [{"name": "gaussian"}]}
NESTED = b"[" * 200_000 + b"]" * 200_000

# (id, method, path, request keyword arguments, accepted statuses, the field the error names or None)
CASES = [
    # 1. NUL (and other control characters) in every kind of string that reaches the database
    ("nul-idempotency-key", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "idempotency_key": f"k{NUL}"}},
     422, "idempotency_key"),
    ("nul-preset", "POST", "/v1/train-jobs", {"json": {"preset": f"quick{NUL}"}}, 422, "preset"),
    ("nul-spec-string", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {"dataset": f"upload:a{NUL}"}}},
     422, "spec.dataset"),
    ("nul-spec-nested", "POST", "/v1/train-jobs",
     {"json": {"preset": "smoke", "spec": {"reg": {"dataset": f"upload:{NUL}"}}}}, 422, "spec.reg.dataset"),
    ("nul-spec-key", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {f"a{NUL}": 1}}}, 422, "spec"),
    ("escape-in-spec", "POST", "/v1/train-jobs", {"json": {"spec": {"variant": "\x1b[31m"}}}, 422, "spec.variant"),
    ("nul-eval-model-id", "POST", "/v1/eval-jobs", {"json": {**EVAL, "model_id": f"m{NUL}"}}, 422, "model_id"),
    ("nul-evaluator-name", "POST", "/v1/eval-jobs", {"json": {**EVAL, "evaluators": [{"name": f"g{NUL}"}]}},
     422, "evaluators.0.name"),
    ("nul-eval-param", "POST", "/v1/eval-jobs",
     {"json": {**EVAL, "evaluators": [{"name": "gaussian", "params": {"clamp": NUL}}]}},
     422, "evaluators.0.params.clamp"),
    ("nul-source-model", "POST", "/v1/eval-jobs",
     {"json": {**EVAL, "evaluators": [{"name": "transfer_fgsm", "source_model_id": NUL}]}},
     422, "evaluators.0.source_model_id"),
    ("nul-eval-idempotency", "POST", "/v1/eval-jobs", {"json": {**EVAL, "idempotency_key": NUL}},
     422, "idempotency_key"),
    ("nul-sweep-select-by", "POST", "/v1/sweeps", {"json": {**SWEEP, "select_by": NUL}}, 422, "select_by"),
    ("nul-sweep-grid-key", "POST", "/v1/sweeps", {"json": {**SWEEP, "grid": {f"lr{NUL}": [1]}}}, 422, "grid"),
    ("nul-sweep-grid-value", "POST", "/v1/sweeps", {"json": {**SWEEP, "grid": {"reg.dataset": [NUL]}}},
     422, "grid.reg.dataset.0"),
    ("nul-jobs-owner", "GET", "/v1/jobs", {"params": {"owner": NUL}}, 422, "query.owner"),
    ("nul-jobs-parent", "GET", "/v1/jobs", {"params": {"parent_id": NUL}}, 422, "query.parent_id"),
    ("nul-jobs-status", "GET", "/v1/jobs", {"params": {"status": NUL}}, 422, "query.status"),
    ("nul-job-id", "GET", "/v1/jobs/a%00b", {}, (404, 422), None),
    ("nul-job-cancel", "POST", "/v1/jobs/%00/cancel", {}, (404, 422), None),
    ("nul-job-retry", "POST", "/v1/jobs/%00/retry", {}, (404, 422), None),
    ("nul-job-logs", "GET", "/v1/jobs/%00/logs", {}, (404, 422), None),
    ("nul-job-events", "GET", "/v1/jobs/%00/events", {}, (404, 422), None),
    ("nul-models-dataset", "GET", "/v1/models", {"params": {"dataset": NUL}}, 422, "query.dataset"),
    ("nul-model-id", "GET", "/v1/models/%00", {}, (404, 422), None),
    ("nul-checkpoint", "GET", "/v1/models/%00/checkpoint", {}, (404, 422), None),
    ("nul-results-evaluator", "GET", "/v1/models/{model}/results", {"params": {"evaluator": NUL}},
     422, "query.evaluator"),
    ("nul-compare-model", "GET", "/v1/compare", {"params": {"model_id": NUL, "evaluator": "gaussian"}},
     422, "query.model_id.0"),
    ("nul-compare-evaluator", "GET", "/v1/compare", {"params": {"model_id": "{model}", "evaluator": NUL}},
     422, "query.evaluator"),
    ("nul-dataset", "GET", "/v1/datasets/upload:a%00", {}, (404, 422), None),
    ("nul-similarity", "GET", "/v1/datasets/upload:%00/similarity", {}, (404, 422), None),
    ("nul-keys-user", "GET", "/v1/keys", {"params": {"user": NUL}, "who": "admin"}, 422, "query.user"),
    ("nul-key-prefix", "DELETE", "/v1/keys/%00", {}, (404, 422), None),
    ("nul-key-name", "POST", "/v1/keys", {"json": {"name": f"laptop{NUL}"}}, 422, "name"),
    ("nul-key-user", "POST", "/v1/keys", {"json": {"user": NUL}, "who": "admin"}, 422, "user"),
    ("nul-user-name", "POST", "/v1/users", {"json": {"name": f"c{NUL}"}, "who": "admin"}, 422, "name"),
    ("nul-model-name", "POST", "/v1/models", upload_model(sth_header(), name=f"m{NUL}"), 422, "name"),
    ("newline-model-name", "POST", "/v1/models", upload_model(sth_header(), name="a\r\nX-Evil: 1"), 422, "name"),
    ("nul-model-dataset", "POST", "/v1/models", upload_model(sth_header(), dataset=f"upload:{NUL}"), 422, "dataset"),
    ("nul-model-arch", "POST", "/v1/models", upload_model(sth_header(), arch=NUL), 422, "arch"),
    ("nul-dataset-description", "POST", "/v1/datasets",
     {"data": {"name": "d", "description": NUL}, "files": {"file": ("d.npz", b"x")}}, 422, "description"),
    ("surrogate-spec", "POST", "/v1/train-jobs", raw_json('{"spec": {"dataset": "\\ud800"}}'), 422, "spec.dataset"),
    ("surrogate-key-name", "POST", "/v1/keys", raw_json('{"name": "\\udfff"}'), 422, "name"),
    # 1b. strings longer than their column (PostgreSQL enforces VARCHAR lengths, SQLite does not)
    ("long-model-name", "POST", "/v1/models", upload_model(sth_header(), name="m" * 129), 422, "name"),
    ("long-key-name", "POST", "/v1/keys", {"json": {"name": "k" * 65}}, 422, "name"),
    ("long-idempotency-key", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "idempotency_key": "k" * 129}},
     422, "idempotency_key"),
    # 2. integers beyond their column
    ("logs-after-int32", "GET", "/v1/jobs/{job}/logs", {"params": {"after": INT32_MAX + 1}}, 422, "query.after"),
    ("logs-after-negative", "GET", "/v1/jobs/{job}/logs", {"params": {"after": -1}}, 422, "query.after"),
    ("logs-after-huge", "GET", "/v1/jobs/{job}/logs", {"params": {"after": "9" * 40}}, 422, "query.after"),
    ("page-size-huge", "GET", "/v1/jobs", {"params": {"page_size": "9" * 40}}, 422, "query.page_size"),
    ("events-poll-inf", "GET", "/v1/jobs/{job}/events", {"params": {"poll_s": "inf"}}, 422, "query.poll_s"),
    # 3. Last-Event-ID
    ("last-event-id-text", "GET", "/v1/jobs/{job}/events", {"headers": {"Last-Event-ID": "abc"}},
     422, "header.last-event-id"),
    ("last-event-id-int32", "GET", "/v1/jobs/{job}/events", {"headers": {"Last-Event-ID": str(INT32_MAX + 1)}},
     422, "header.last-event-id"),
    ("last-event-id-negative", "GET", "/v1/jobs/{job}/events", {"headers": {"Last-Event-ID": "-5"}},
     422, "header.last-event-id"),
    # 4. page tokens of the wrong shape
    *[(f"page-token-{i}", "GET", "/v1/jobs", {"params": {"page_token": token(value)}}, 422, "page_token")
      for i, value in enumerate([{}, [1], "x", "xy", [1, 2, 3], [1, 2], ["2024-01-01T00:00:00", 5],
                                 ["2024-01-01T00:00:00", ["a"]], ["2024-01-01T00:00:00", f"a{NUL}"],
                                 [f"2024-01-01{NUL}", "a"], None, ["2024-01-01T00:00:00+99:00", "a"]])],
    ("page-token-not-utf8", "GET", "/v1/jobs", {"params": {"page_token": base64.urlsafe_b64encode(b"\xff").decode()}},
     422, "page_token"),
    # 5. crafted safetensors headers
    ("st-scalar-stem", "POST", "/v1/models",
     upload_model(sth_header(**{"stem.0.weight": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}),
                  b"\0" * 4), 422, "file"),
    ("st-1d-linear", "POST", "/v1/models",
     upload_model(sth_header(**{"linear.weight": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})),
     422, "file"),
    ("st-string-offsets", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}), b"\0" * 4), 422, "file"),
    ("st-float-offsets", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": "F32", "shape": [1], "data_offsets": [0.0, 4.0]}), b"\0" * 4), 422, "file"),
    ("st-metadata-list", "POST", "/v1/models", upload_model(sth_header(__metadata__=["a"])), 422, "file"),
    ("st-metadata-value", "POST", "/v1/models", upload_model(sth_header(__metadata__={"sth": 5})), 422, "file"),
    ("st-sth-metrics-nul", "POST", "/v1/models",
     upload_model(sth_header(__metadata__={"sth": '{"metrics": {"a\\u0000": 1}}'})), 422, "file"),
    ("st-sth-not-json", "POST", "/v1/models", upload_model(sth_header(__metadata__={"sth": "{"})), 422, "file"),
    ("st-sth-list", "POST", "/v1/models", upload_model(sth_header(__metadata__={"sth": "[1]"})), 422, "file"),
    ("st-sth-spec-int", "POST", "/v1/models", upload_model(sth_header(__metadata__={"sth": '{"spec": 5}'})),
     422, "file"),
    ("st-sth-dataset-int", "POST", "/v1/models",
     upload_model(sth_header(__metadata__={"sth": '{"spec": {"dataset": 5}}'}), dataset=""), 422, "file"),
    ("st-sth-metrics-nan", "POST", "/v1/models",
     upload_model(sth_header(__metadata__={"sth": '{"metrics": {"acc": NaN}}'})), 422, "file"),
    ("st-nested", "POST", "/v1/models", upload_model(NESTED), 422, "file"),
    ("st-negative-dims", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": "F32", "shape": [-1, -1], "data_offsets": [0, 4]}), b"\0" * 4), 422, "file"),
    ("st-bool-dims", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}), b"\0" * 4), 422, "file"),
    ("st-float-dims", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}), b"\0" * 4), 422, "file"),
    ("st-huge-dims", "POST", "/v1/models",
     upload_model(b'{"x": {"dtype": "F32", "shape": [1e400], "data_offsets": [0, 4]}}', b"\0" * 4), 422, "file"),
    ("st-huge-classes", "POST", "/v1/models",
     upload_model(sth_header(**{"linear.weight": {"dtype": "F32", "shape": [2**40, 0], "data_offsets": [0, 0]}})),
     422, "file"),
    ("st-entry-int", "POST", "/v1/models", upload_model(sth_header(x=5)), 422, "file"),
    ("st-entry-list", "POST", "/v1/models", upload_model(sth_header(x=["F32"])), 422, "file"),
    ("st-dtype-list", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": ["F32"], "shape": [0], "data_offsets": [0, 0]})), 422, "file"),
    ("st-dtype-int", "POST", "/v1/models",
     upload_model(sth_header(x={"dtype": 4, "shape": [0], "data_offsets": [0, 0]})), 422, "file"),
    ("st-header-list", "POST", "/v1/models", upload_model(b"[1]"), 422, "file"),
    # 6. non-finite numbers
    *[(f"non-finite-{i}", "POST", "/v1/train-jobs", raw_json(f'{{"preset": "smoke", "spec": {{"lr": {number}}}}}'),
       422, "spec.lr") for i, number in enumerate(["Infinity", "-Infinity", "NaN", "1e400"])],
    ("non-finite-reg", "POST", "/v1/train-jobs", raw_json('{"spec": {"reg": {"alpha": Infinity}}}'),
     422, "spec.reg.alpha"),
    ("non-finite-eval-param", "POST", "/v1/eval-jobs",
     raw_json('{"model_id": "m", "evaluators": [{"name": "gaussian", "params": {"strengths": [0.1, NaN]}}]}'),
     422, "evaluators.0.params.strengths.1"),
    ("non-finite-grid", "POST", "/v1/sweeps",
     raw_json('{"preset": "smoke", "grid": {"lr": [1e400]}, "evaluators": [{"name": "gaussian"}]}'), 422, "grid.lr.0"),
    ("non-finite-min-r0", "POST", "/v1/sweeps", raw_json(json.dumps(SWEEP)[:-1] + ', "min_r0_u0": NaN}'),
     422, "min_r0_u0"),
    # 7. spec values of the wrong shape
    ("spec-reg-int", "POST", "/v1/train-jobs", {"json": {"spec": {"reg": 5}}}, 422, "spec.reg"),
    ("spec-reg-list", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {"reg": [1]}}}, 422, "spec.reg"),
    ("spec-alpha-string", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {"reg": {"alpha": "x"}}}},
     422, "spec.reg.alpha"),
    ("spec-epochs-list", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {"epochs": [3]}}},
     422, "spec.epochs"),
    ("spec-epochs-bool", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {"epochs": True}}},
     422, "spec.epochs"),
    ("spec-n-images-float", "POST", "/v1/train-jobs",
     {"json": {"preset": "smoke", "spec": {"reg": {"n_images": 100.5}}}}, 422, "spec.reg.n_images"),
    ("spec-dataset-int", "POST", "/v1/train-jobs", {"json": {"preset": "smoke", "spec": {"dataset": 5}}},
     422, "spec.dataset"),
    ("sweep-spec-reg-string", "POST", "/v1/sweeps", {"json": {**SWEEP, "spec": {"reg": "x"}}}, 422, "spec.reg"),
    ("sweep-grid-not-list", "POST", "/v1/sweeps", {"json": {**SWEEP, "grid": {"reg.alpha": 5}}},
     422, "grid.reg.alpha"),
    ("sweep-grid-nested", "POST", "/v1/sweeps", {"json": {**SWEEP, "grid": {"lr": [[0.1]]}}}, 422, "grid.lr"),
    ("sweep-grid-threshold-dict", "POST", "/v1/sweeps", {"json": {**SWEEP, "grid": {"reg.threshold": [{}]}}},
     422, "grid.reg.threshold"),
    ("eval-params-strengths-string", "POST", "/v1/eval-jobs",
     {"json": {**EVAL, "evaluators": [{"name": "gaussian", "params": {"strengths": "abc"}}]}},
     422, "evaluators.0.params.strengths"),
    ("nul-api-key", "GET", "/v1/me", {"headers": {"Authorization": "Bearer sth_a\x00b"}}, 401, None),
    # 9. a body that is not JSON at all, or nested past Python's recursion limit
    ("body-nested", "POST", "/v1/train-jobs", raw_json("[" * 100_000 + "]" * 100_000), (400, 422), None),
    ("body-garbage", "POST", "/v1/train-jobs", raw_json("{"), 422, None),
]  # fmt: skip


def _fill(value, world):
    if isinstance(value, str):
        for placeholder, ident in world.items():
            value = value.replace(placeholder, ident)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, world) for v in value]
    return value


def error_fields(body: dict) -> list[str]:
    details = body["error"]["details"]
    if isinstance(details, list):
        return [d["field"] for d in details]
    return [details["field"]] if isinstance(details, dict) and "field" in details else []


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "field"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_hostile_request_gets_a_json_client_error(db_client, world, method, path, kwargs, status, field):
    kwargs = dict(kwargs)
    who = kwargs.pop("who", "alice")
    headers = {**auth(db_client, who), **kwargs.pop("headers", {})}
    response = db_client.request(method, _fill(path, world), headers=headers, **_fill(kwargs, world))
    assert response.status_code in (status if isinstance(status, tuple) else (status,)), response.text[:500]
    body = assert_error_shape(response)
    if field is not None:
        assert field in error_fields(body), body


@pytest.mark.parametrize("name", ["模型🙂", 'a "quoted" \\ name', "semi;colon, comma", "new\r\nline", "tab\there"])
def test_any_stored_model_name_downloads(db_client, name):
    """Names stored before uploads were checked (or written by a worker) still download: an ASCII fallback filename
    plus the exact name as RFC 5987 filename*."""
    with session_scope(db_client.settings.database_url) as session:
        model_id = stored_model(session, find_user(session, "alice").id, name).id
    response = db_client.get(f"/v1/models/{model_id}/checkpoint", headers=auth(db_client))
    assert response.status_code == 200 and response.content == b"weights"
    disposition = response.headers["content-disposition"]
    assert disposition.isascii() and "\r" not in disposition and "\n" not in disposition
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert "\\" not in fallback and fallback.endswith(".safetensors")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert urllib.parse.unquote(encoded, errors="strict") == f"{name}.safetensors"


@pytest.mark.parametrize("name", ["模型🙂", 'a "quoted" name'])
def test_a_model_named_in_any_script_uploads_and_downloads(db_client, name):
    response = db_client.post("/v1/models", headers=auth(db_client), **upload_model(sth_header(), name=name))
    assert response.status_code == 201, response.text
    download = db_client.get(f"/v1/models/{response.json()['id']}/checkpoint", headers=auth(db_client))
    assert download.status_code == 200
    assert urllib.parse.unquote(download.headers["content-disposition"].split("''", 1)[1]) == f"{name}.safetensors"


def test_a_scalar_tensor_counts_one_element(db_client):
    """shape [] is a scalar: one element, its dtype's size in bytes, as the safetensors format says."""
    scalar = {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}
    ok = db_client.post("/v1/models", headers=auth(db_client), **upload_model(sth_header(s=scalar), b"\0" * 4))
    assert ok.status_code == 201, ok.text
    short = {"dtype": "F32", "shape": [], "data_offsets": [0, 0]}
    bad = db_client.post("/v1/models", headers=auth(db_client), **upload_model(sth_header(s=short)))
    assert bad.status_code == 422 and error_fields(assert_error_shape(bad)) == ["file"]


def test_a_value_the_database_refuses_is_a_422(db_client):
    """The net under the edge's checks: a DataError (psycopg's, or SQLite's) is the client's value."""
    app = db_client.app

    @app.get("/v1/refused-for-test")
    def refused() -> None:
        raise DataError("SELECT 1", {}, ValueError("value too long for type character varying(64)"))

    response = db_client.get("/v1/refused-for-test")
    assert response.status_code == 422 and assert_error_shape(response)["error"]["code"] == "invalid"
    assert "varying" not in response.text


def test_an_unexpected_error_is_a_json_500_without_internals(db_client, caplog):
    app = db_client.app

    @app.get("/v1/boom-for-test")
    def boom() -> None:
        raise RuntimeError("secret internals")

    response = db_client.get("/v1/boom-for-test")
    assert response.status_code == 500
    body = assert_error_shape(response)
    assert body["error"]["code"] == "internal" and "secret" not in response.text
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_a_failing_middleware_is_a_json_500_too(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'sth.db'}", broker_url=f"filesystem://{tmp_path / 'q'}")
    app = create_app(settings)

    @app.middleware("http")
    async def broken(request, call_next):
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/healthz")
    assert response.status_code == 500 and assert_error_shape(response)["error"]["code"] == "internal"
    assert "secret" not in response.text


SERVER_FILE = "/etc/hostname"  # exists on the API's host; the answer must not say so
PATH_REQUESTS = [
    ("/v1/reports", {"protocol": "tiny", "changes": {"dataset": "npz:{path}"}}, "changes.dataset"),
    ("/v1/reports", {"protocol": "tiny", "changes": {"reg": {"dataset": "npz:{path}"}}}, "changes.reg.dataset"),
    ("/v1/train-jobs", {"preset": "smoke", "spec": {"dataset": "npz:{path}"}}, "spec.dataset"),
    ("/v1/train-jobs", {"preset": "smoke", "spec": {"reg": {"alpha": 0, "dataset": "npz:{path}"}}}, "spec.reg.dataset"),
    ("/v1/sweeps", {"preset": "smoke", "grid": {"dataset": ["mnist-5k", "npz:{path}"]},
                    "evaluators": [{"name": "gaussian"}]}, "grid.dataset"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "field"), PATH_REQUESTS, ids=[f"{p}-{f}" for p, _, f in PATH_REQUESTS])
def test_a_server_path_is_refused_before_anything_reads_it(client, monkeypatch, path, body, field):
    """npz:PATH is for local runs: the service refuses it by name, with the same words whether the file exists or
    not, and no file is opened (any open of the path fails the test)."""
    import builtins
    import io as io_module

    import numpy as np

    opened: list[str] = []
    real_open, real_io_open, real_load = builtins.open, io_module.open, np.load

    def spy(real):
        def opener(file, *args, **kwargs):
            if str(file).startswith(("/etc/hostname", "/no/such")):
                opened.append(str(file))
            return real(file, *args, **kwargs)

        return opener

    monkeypatch.setattr(builtins, "open", spy(real_open))
    monkeypatch.setattr(io_module, "open", spy(real_io_open))
    monkeypatch.setattr(np, "load", spy(real_load))
    answers = []
    for where in (SERVER_FILE, "/no/such/file.npz"):
        filled = json.loads(json.dumps(body).replace("{path}", where))
        response = client.post(path, headers=auth(client), json=filled)
        assert response.status_code == 422, response.text
        error = assert_error_shape(response)["error"]
        assert error["details"]["field"] == field, error
        answers.append(error["message"])
    assert answers[0] == answers[1] and "for local runs" in answers[0], answers
    assert opened == [], opened
    assert client.get("/v1/jobs", headers=auth(client)).json()["items"] == []
