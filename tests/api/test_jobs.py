import json

from store.db import session_scope
from store.jobs import log_line, transition
from store.models import Job, JobKind, JobStatus
from tests.api.conftest import auth

QUICK = {"preset": "smoke", "spec": {"epochs": 1}}


def test_submission_is_recorded_queued_and_idempotent(client):
    first = client.post("/v1/train-jobs", json={**QUICK, "idempotency_key": "k"}, headers=auth(client))
    assert first.status_code == 201 and first.json()["status"] == "queued"
    again = client.post("/v1/train-jobs", json={**QUICK, "idempotency_key": "k"}, headers=auth(client))
    assert again.json()["id"] == first.json()["id"]
    other = client.post("/v1/train-jobs", json={"preset": "smoke", "idempotency_key": "k"}, headers=auth(client))
    assert other.status_code == 422 and other.json()["error"]["details"]["field"] == "idempotency_key"
    assert len(client.get("/v1/jobs", headers=auth(client)).json()["items"]) == 1


def test_list_filters_and_pages(client):
    ids = [client.post("/v1/train-jobs", json=QUICK, headers=auth(client, who)).json()["id"]
           for who in ("alice", "bob", "alice", "alice", "bob")]  # fmt: skip
    seen, token = [], None
    while True:
        params = {"page_size": 2, **({"page_token": token} if token else {})}
        page = client.get("/v1/jobs", params=params, headers=auth(client)).json()
        seen += [j["id"] for j in page["items"]]
        token = page["next_page_token"]
        if not token:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    bobs = client.get("/v1/jobs", params={"owner": "bob"}, headers=auth(client)).json()["items"]
    assert len(bobs) == 2 and {j["owner"] for j in bobs} == {"bob"}
    assert client.get("/v1/jobs", params={"status": "running"}, headers=auth(client)).json()["items"] == []
    assert client.get("/v1/jobs", params={"page_token": "garbage"}, headers=auth(client)).status_code == 422


def test_cancel_retry_and_ownership(client):
    job = client.post("/v1/train-jobs", json=QUICK, headers=auth(client)).json()
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(client, "bob")).status_code == 403
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(client)).json()["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(client)).status_code == 422
    retried = client.post(f"/v1/jobs/{job['id']}/retry", headers=auth(client, "admin"))  # admins may
    assert retried.status_code == 201 and retried.json()["id"] != job["id"]
    assert retried.json()["spec"] == job["spec"]


def test_events_stream_progress_logs_and_end(client):
    job = client.post("/v1/train-jobs", json=QUICK, headers=auth(client)).json()
    with session_scope(client.settings.database_url) as session:
        row = session.get(Job, job["id"])
        transition(session, row, JobStatus.running)
        log_line(session, row.id, "epoch 1/1: test acc 0.9")
        transition(session, row, JobStatus.succeeded)
    with client.stream("GET", f"/v1/jobs/{job['id']}/events", headers=auth(client)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    events = [block.split("\n") for block in text.strip().split("\n\n")]
    kinds = [lines[0].removeprefix("event: ") for lines in events]
    assert kinds == ["log", "progress", "end"]
    assert json.loads(events[0][-1].removeprefix("data: "))["message"] == "epoch 1/1: test acc 0.9"
    assert json.loads(events[1][-1].removeprefix("data: "))["status"] == "succeeded"


def test_a_draining_server_ends_event_streams_and_the_client_resumes_from_last_event_id(client):
    """On SIGTERM uvicorn waits for every open response; a stream follows its job for hours, so it must end (with a
    retry hint) as soon as the server drains, and the client's reconnection must lose and repeat no log line."""
    job = client.post("/v1/train-jobs", json=QUICK, headers=auth(client)).json()
    with session_scope(client.settings.database_url) as session:
        transition(session, session.get(Job, job["id"]), JobStatus.running)
        log_line(session, job["id"], "line 1")
    url = f"/v1/jobs/{job['id']}/events"
    with client.stream("GET", url, headers=auth(client)) as response:
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if line.startswith("event: progress"):
                client.app.state.drain.start()  # what SIGTERM does
        text = "\n".join(lines)
    assert "event: end" not in text and text.rstrip().endswith("retry: 1000") and "line 1" in text
    last_id = next(line.removeprefix("id: ") for line in lines if line.startswith("id: "))
    client.app.state.drain.event.clear()  # the server (or another replica) is back
    with session_scope(client.settings.database_url) as session:
        log_line(session, job["id"], "line 2")
        transition(session, session.get(Job, job["id"]), JobStatus.succeeded)
    headers = {**auth(client), "Last-Event-ID": last_id}
    with client.stream("GET", url, headers=headers) as response:
        resumed = "".join(response.iter_text())
    assert "line 2" in resumed and "line 1" not in resumed and "event: end" in resumed


def test_catalogue_and_health(client):
    names = [e["name"] for e in client.get("/v1/evaluators", headers=auth(client)).json()]
    assert "boundary" in names and "corruption" in names
    assert client.get("/v1/presets", headers=auth(client)).json()["smoke"]["arch"] == "small_cnn"
    datasets = {d["name"]: d for d in client.get("/v1/datasets", headers=auth(client)).json()}
    assert datasets["mnist-5k"]["available"] and "how_to_provide" in datasets["cifar10"]
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"database": "ok", "broker": "ok"}
    assert b"python_info" in client.get("/metrics").content
    assert client.get("/openapi.json").json()["paths"]["/v1/train-jobs"]["post"]["requestBody"]


def test_swagger_ui_is_served_without_a_cdn(client):
    html = client.get("/docs").text
    assert "cdn.jsdelivr" not in html and "swagger-ui-bundle.js" in html
    script = next(part.split('"')[0] for part in html.split('src="')[1:] if "swagger-ui-bundle.js" in part)
    assert client.get(script).status_code == 200


def test_metrics_show_the_job_table_and_the_requests(client):
    from store.jobs import claim_next

    ids = [client.post("/v1/train-jobs", json=QUICK, headers=auth(client, w)).json()["id"] for w in ("alice", "bob")]
    with session_scope(client.settings.database_url) as session:
        assert claim_next(session, "gpu0@box", "cuda:0").id == ids[0]  # the older of two owners without device time
    client.get("/v1/jobs/nope", headers=auth(client))
    text = client.get("/metrics").text
    assert 'sth_jobs{kind="train",status="queued"} 1.0' in text
    assert 'sth_jobs{kind="train",status="running"} 1.0' in text
    assert 'sth_running_jobs{device="cuda:0",owner="alice",worker="gpu0@box"} 1.0' in text
    assert 'sth_http_requests_total{method="POST",route="/v1/train-jobs",status="201"} 2.0' in text
    assert 'sth_http_requests_total{method="GET",route="/v1/jobs/{job_id}",status="404"} 1.0' in text
    assert "sth_http_request_seconds_bucket" in text and "process_cpu_seconds_total" in text


def test_each_listed_job_says_what_it_is_and_model_names_cost_one_query(client):
    from sqlalchemy import event

    from store.keys import find_user
    from tests.api.conftest import stored_model

    headers = auth(client)
    client.post("/v1/train-jobs", json={"preset": "smoke", "spec": {"epochs": 1, "seed": 3}}, headers=headers)
    sweep = {"preset": "smoke", "spec": {"epochs": 2}, "grid": {"reg.alpha": [0.1, 1.0], "reg.threshold": [0.2, 0.8]},
             "seeds": [0, 1], "evaluators": [{"name": "gaussian"}]}  # fmt: skip
    sweep_id = client.post("/v1/sweeps", json=sweep, headers=headers).json()["id"]
    with session_scope(client.settings.database_url) as session:
        alice = find_user(session, "alice")
        models = [stored_model(session, alice.id, f"m{i}").id for i in range(3)]
        session.add(Job(kind=JobKind.train, owner_id=alice.id, spec={"old": 1}, spec_hash="0" * 64))  # unreadable
    calls = [{"name": "gaussian"}, {"name": "boundary"}]
    for model_id in models[:1]:
        client.post("/v1/eval-jobs", json={"model_id": model_id, "evaluators": calls}, headers=headers)
    engine = client.app.state.sessions.kw["bind"]
    statements: list[str] = []

    def count(conn, cursor, statement, *rest):
        statements.append(statement)

    def listed(page_size: int) -> dict[str, list]:  # each page size its own key: no page reused from the cache
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            items = client.get("/v1/jobs", params={"page_size": page_size}, headers=headers).json()["items"]
        finally:
            event.remove(engine, "before_cursor_execute", count)
        labels: dict[str, list] = {}
        for job in items:
            labels.setdefault(job["kind"], []).append(job["label"])
        return labels

    first = listed(100)
    one_eval = len(statements)
    assert first["evaluate"] == ["m0: gaussian, boundary"]
    assert first["sweep"] == ["small_cnn mnist-5k e2: reg.alpha 0.1|1 x reg.threshold 0.2|0.8, 2 seeds, by gaussian"]
    assert None in first["train"]  # the unreadable spec
    assert "small_cnn mnist-5k a0.1 Th0.2 e1 seed 3" in first["train"]
    assert "small_cnn mnist-5k a1 Th0.8 e2 seed 1" in first["train"]  # a sweep's child
    assert "small_cnn mnist-5k a0 e2 seed 0" in first["train"]  # its baseline
    for model_id in models[1:]:
        client.post("/v1/eval-jobs", json={"model_id": model_id, "evaluators": calls[:1]}, headers=headers)
    client.patch(f"/v1/models/{models[0]}", json={"name": "renamed"}, headers=headers)
    again = listed(99)
    assert len(statements) == one_eval  # three evaluations of three models: still one query for their names
    assert sorted(again["evaluate"]) == ["m1: gaussian", "m2: gaussian", "renamed: gaussian, boundary"]
    job = client.get(f"/v1/jobs/{sweep_id}", headers=headers).json()
    assert job["label"] == first["sweep"][0]
