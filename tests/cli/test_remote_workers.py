"""`sth remote` and device kinds: --device on a submission, the reason a job waits (stderr and the jobs table) and
`sth remote workers`, against the API in-process."""

import json
import time

from rich.console import Console
from typer.testing import CliRunner

import cli.remote.console
import cli.remote.follow
import cli.remote.http
from cli.main import app
from store.db import session_scope
from store.models import DeviceKind
from store.workers import record
from tests.api.conftest import client  # noqa: F401  (the API fixture)
from tests.cli.test_remote_tables import sth  # noqa: F401  (the command against the in-process API)

runner = CliRunner()


def test_a_gpu_job_with_no_gpu_worker_says_why_it_waits(sth, client, monkeypatch):  # noqa: F811
    err = Console(stderr=True, width=200, force_terminal=False, no_color=True, record=True)
    monkeypatch.setattr(cli.remote.console, "err", err)
    job = sth("train", "--set", "epochs=1", "--device", "gpu").strip()
    assert f"job {job} waits: no live gpu worker: never seen (start one: sth worker --gpus all)" in err.export_text()
    table = sth("jobs")
    assert "no live gpu" in table and "queued" in table
    sth("workers")  # none yet
    assert "no live worker: start one with `sth worker`" in err.export_text()
    with session_scope(client.settings.database_url) as session:
        record(session, "gpu0@node2", DeviceKind.gpu, "NVIDIA H200 (GPU 0)", "node2", 42)
    time.sleep(1.1)  # GET /v1/jobs pages are reused for STH_API_CACHE_S (1 s)
    assert "no live gpu" not in sth("jobs")
    workers = sth("workers")
    assert "gpu0@node2" in workers and "NVIDIA H200" in workers and "yes" in workers
    assert json.loads(sth("workers", "--json"))[0]["kind"] == "gpu"


def test_a_bad_device_is_refused_by_the_server_naming_the_field(sth, client, monkeypatch):  # noqa: F811
    err = Console(stderr=True, width=200, force_terminal=False, no_color=True, record=True)
    monkeypatch.setattr(cli.remote.console, "err", err)
    result = runner.invoke(app, ["remote", "train", "--device", "tpu"])
    assert result.exit_code == 1
    assert "error 422: device: Input should be 'any', 'gpu' or 'cpu'" in err.export_text()
