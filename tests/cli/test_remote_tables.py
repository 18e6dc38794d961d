"""`sth remote` tables against the API in-process: every line fits 80 columns, ids are never cut, nothing
collapses to nothing, and --json prints the API's JSON."""

import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

import cli.remote.console
import cli.remote.follow
import cli.remote.http
from cli.main import app
from store.db import session_scope
from store.jobs import log_line
from store.models import Job, JobStatus
from tests.api.conftest import auth, client  # noqa: F401  (the API fixture)
from tests.api.test_compare import world  # noqa: F401
from tests.tables import table_rows
from tests.worker.test_sweep import SWEEP

runner = CliRunner()


class InProcess:
    """What cli.remote.http.client() returns, over the in-process app."""

    def __init__(self, api, who):
        self.api, self.headers = api, auth(api, who)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return None

    def request(self, method, path, **kwargs):
        return self.api.request(method, path, headers=self.headers, **kwargs)


@pytest.fixture
def sth(client, monkeypatch):  # noqa: F811
    monkeypatch.setattr(cli.remote.http, "client", lambda: InProcess(client, "alice"))
    monkeypatch.setattr(cli.remote.console, "out", Console(width=80, force_terminal=False, no_color=True))

    def run(*args):
        result = runner.invoke(app, ["remote", *args], env={"COLUMNS": "80"})
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines and all(len(line) <= 80 for line in lines), "\n".join(line for line in lines if len(line) > 80)
        return result.stdout

    return run


def test_every_table_fits_80_columns_and_keeps_ids_whole(sth, client, world):  # noqa: F811
    sweep = client.post("/v1/sweeps", headers=auth(client), json={**SWEEP, "seeds": [0]}).json()
    model = world["reg"][0]
    jobs = sth("jobs")
    assert sweep["id"] in jobs and "sweep" in jobs and "running" in jobs
    models = sth("models", "--setting", world["setting"])
    assert all(m in models for m in world["reg"]) and "0.9000" in models and world["setting"] in models
    results = sth("results", model)
    assert "AUC" in results and "gaussian" in results and "boundary" in results and "0.01000" in results
    assert "upload:" not in sth("datasets").split("\n")[0]
    assert "mnist-5k" in sth("datasets")
    assert json.loads(sth("models", "--json", "--tag", "none")) == []
    assert json.loads(sth("jobs", "--json", "--sweep", sweep["id"]))[0]["parent_id"] == sweep["id"]


def test_logs_show_their_own_times_and_retry_queues_again(sth, client):  # noqa: F811
    job = client.post("/v1/train-jobs", headers=auth(client), json={"preset": "smoke"}).json()
    with session_scope(client.settings.database_url) as session:
        log_line(session, job["id"], "a line written earlier", level="warning")
        stamp = session.scalars(__import__("sqlalchemy").select(Job.created_at).where(Job.id == job["id"])).one()
    text = sth("logs", job["id"])
    assert "a line written earlier" in text and "warning" in text and str(stamp.year) in text
    assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=auth(client)).json()["status"] == JobStatus.cancelled
    again = sth("retry", job["id"]).strip()
    assert len(again) == 32 and again != job["id"]


def test_compare_as_a_table_gives_each_setting_its_mean_interval_and_r0_u0(sth, world):  # noqa: F811
    from scipy import stats

    text = sth("compare", "--setting", world["setting"], "--setting", world["baseline"], "-e", "gaussian",
               "--group-by", "setting", "--format", "table")  # fmt: skip
    rows = table_rows(text)
    reg, base = rows["small_cnn mnist-5k a1 Th0.2 e3"], rows["small_cnn mnist-5k a0 e3"]
    assert "acc at 0.5" in text
    r0, last = [0.90, 0.86, 0.88], [0.40, 0.30, 0.41]
    half = stats.t.ppf(0.975, 2) * stats.sem(r0)
    assert reg[:3] == ["3", f"{sum(r0) / 3:.3f}+-{half:.3f}", f"{sum(r0) / 3 / 0.94:.3f}"]
    assert reg[4] == f"{sum(last) / 3:.3f}+-{stats.t.ppf(0.975, 2) * stats.sem(last):.3f}"
    assert base[0] == "2" and base[1].startswith("0.940+-") and base[2] == "-"  # no R0/U0 of its own
    flat = " ".join(text.split())
    assert "95% Student t" in flat and f"without a result: {world['lone'][:8]}" in flat
    boundary = sth("compare", "--sweep", world["sweep"], "-e", "boundary", "--group-by", "setting", "--format", "table")
    assert "0.01200+-" in boundary and "success" in boundary


def test_wait_prints_the_model_only_when_the_job_succeeded(client, monkeypatch):  # noqa: F811
    """--wait follows the job (here: a stub that reports its end) and then prints what the next line needs."""
    monkeypatch.setattr(cli.remote.http, "client", lambda: InProcess(client, "alice"))
    ended = {}

    def follow(job_id):
        with session_scope(client.settings.database_url) as session:
            job = session.get(Job, job_id)
            job.status, job.error_code, job.error_message = ended["status"], "train_failed", ended.get("error")
        return ended["status"]

    monkeypatch.setattr(cli.remote.follow, "follow_job", follow)
    ended.update(status=JobStatus.failed, error="CUDA out of memory")
    failed = runner.invoke(app, ["remote", "train", "--wait"])
    assert failed.exit_code == 1 and "failed: CUDA out of memory" in failed.output and not failed.stdout.strip()
    ended.update(status=JobStatus.succeeded, error=None)
    job = runner.invoke(app, ["remote", "evaluate", "0" * 32, "-a", "gaussian", "--wait"])
    assert job.exit_code == 1 and "404" in job.output  # no such model: refused before anything is followed


def test_compare_history_by_setting_from_the_command_line(sth, client, world, tmp_path):  # noqa: F811
    from store.models import Model

    with session_scope(client.settings.database_url) as session:
        for seed, model_id in enumerate(world["reg"]):
            session.get(Model, model_id).history = [
                {"epoch": e, "train_loss": 2.0 - 0.5 * e, "train_acc": 0.3 * e + 0.01 * seed, "valid_acc": 0.3 * e}
                for e in (0, 1, 2)]  # fmt: skip
        session.commit()
    run = runner.invoke(app, ["remote", "compare", "--history", "--setting", world["setting"], "--group-by", "setting"])
    csv = run.stdout  # machine output: no table, no 80 columns
    assert run.exit_code == 0 and csv.splitlines()[0] == "group,label,epoch,metric,n,mean,low,high,std"
    assert f"{world['setting']},small_cnn mnist-5k a1 Th0.2 e3,2,train_acc,3,0.61," in csv
    figure = tmp_path / "history.svg"
    assert "wrote" in sth(
        "compare",
        "--history",
        "--sweep",
        world["sweep"],
        "--group-by",
        "setting",
        "--format",
        "svg",
        "--out",
        str(figure),
    )  # its baseline models have no history: left out
    assert "<text" in figure.read_text()
    both = runner.invoke(app, ["remote", "compare", "--history", "-e", "gaussian", "--setting", world["setting"]])
    assert both.exit_code == 2 and "not both" in both.output
