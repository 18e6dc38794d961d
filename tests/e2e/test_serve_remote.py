"""The README's run command (`sth serve`: API + worker on SQLite and the filesystem broker) driven by `sth remote`."""

import json
import re
import signal
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.e2e.conftest import launch_serve

runner = CliRunner()


def sth(env, *args):
    result = runner.invoke(app, ["remote", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_walkthrough_with_sth_remote(served, tmp_path):
    job = sth(served, "train", "--set", "epochs=1", "--set", "train_limit=600", "--set", "test_limit=100",
              "--set", "reg.n_images=200")  # fmt: skip
    assert "succeeded" in sth(served, "watch", job)
    model = re.search(r'"model_id": "([0-9a-f]{32})"', sth(served, "job", job)).group(1)
    assert model in sth(served, "models")
    evaluation = sth(served, "evaluate", model, "-a", "gaussian", "-p", "gaussian.n_images=100",
                     "-p", "gaussian.strengths=[0, 0.3]")  # fmt: skip
    assert "succeeded" in sth(served, "watch", evaluation)
    csv = sth(served, "compare", "-m", model, "-e", "gaussian")
    assert csv.startswith("group,label,") and csv.count("\n") == 2
    target = tmp_path / "m.safetensors"
    assert "sha256" in sth(served, "download", model, "--out", str(target))
    assert target.stat().st_size > 1000
    again = sth(served, "upload-model", str(target), "reviewed-copy")
    assert re.fullmatch(r"[0-9a-f]{32}", again) and again in sth(served, "models")


def test_datasets_with_sth_remote(served, tmp_path, mnist5k_train):
    import numpy as np

    path = tmp_path / "digits.npz"
    np.savez(path, images=mnist5k_train[0][:300], labels=mnist5k_train[1][:300])
    assert sth(served, "upload-dataset", str(path), "digits") == "upload:digits"
    listed = sth(served, "datasets")
    assert "upload:digits" in listed and "mnist-5k" in listed
    summary = json.loads(sth(served, "similarity", "upload:digits", "--threshold", "0.5", "--json"))
    assert summary["n"] == 300 and summary["pairs"] == 300 * 299 // 2
    assert "high" in sth(served, "similarity", "upload:digits")
    failed = runner.invoke(app, ["remote", "upload-dataset", str(path), "digits"], env=served)
    assert failed.exit_code == 1 and "already exists" in failed.output


def test_a_chunked_upload_past_the_limit_is_refused_by_the_server(served):
    """Chunked, no Content-Length, through uvicorn: 413 with the error body at the server's limit (8 MiB here)."""

    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.npz"\r\n\r\n'
        for _ in range(64):  # 16 MiB
            yield b"x" * (256 << 10)

    headers = {"Authorization": f"Bearer {served['STH_API_KEY']}", "Content-Type": "multipart/form-data; boundary=b"}
    response = httpx.post(f"{served['STH_URL']}/v1/datasets", headers=headers, content=body(), timeout=60)
    assert response.status_code == 413 and "STH_MAX_DATASET_BYTES" in response.json()["error"]["message"]


def test_a_sweep_with_sth_remote(served):
    sweep = sth(served, "sweep", "--grid", "reg.alpha=[0.1]", "--grid", "reg.threshold=[0.2,0.8]", "-a", "gaussian",
                "-p", "gaussian.n_images=100", "-p", "gaussian.strengths=[0,0.4]", "-a", "transfer_fgsm",
                "-p", "transfer_fgsm.n_images=100", "-p", "transfer_fgsm.strengths=[0,0.2]", "--set", "epochs=1",
                "--set", "train_limit=600", "--set", "test_limit=100", "--set", "reg.n_images=200")  # fmt: skip
    assert "succeeded" in sth(served, "watch", sweep)
    table = sth(served, "sweep-result", sweep)
    assert "baseline" in table and "U0 =" in table and table.count("0.2") >= 1
    assert "transfer_fgsm attacked with the sweep's unregularized source model" in table


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_stopping_sth_serve_stops_its_worker(tmp_path, stop):
    """A worker left behind would keep polling a broker nobody serves (and on a GPU server, hold the GPU)."""
    proc = launch_serve(tmp_path)[0].proc
    children = [int(pid) for pid in (Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split())]
    assert children, "sth serve started no worker"
    proc.send_signal(stop)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in children):
        assert time.monotonic() < deadline, f"worker(s) {children} still running after sth serve got {stop.name}"
        time.sleep(0.2)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (FileNotFoundError, IndexError):
        return "zombie"


def test_sth_reproduce_runs_a_report_job_on_the_service(served, tmp_path):
    out = tmp_path / "report"
    result = runner.invoke(app, ["reproduce", "tiny", "--seeds", "0", "--out", str(out)], env=served)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["protocol"] == "tiny" and report["seeds"] == [0]
    assert all(c["verdict"] in ("inconclusive", "not measured") for c in report["claims"])  # one seed: no interval
    assert "one paired seed" in result.output and (out / "report.html").read_text().count("<svg") >= 3
