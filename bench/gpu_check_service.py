"""The service part of bench/gpu_check.py: `sth serve` on a temporary SQLite database and filesystem broker, one
quick training and one evaluation through the REST API, and the device the worker ran them on."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(folder: Path, device: str, threads: int | None) -> tuple[subprocess.Popen[bytes], str, str]:
    """`sth serve` (API + worker) in a subprocess; waits for it; returns (process, url, API key)."""
    port = _free_port()
    env = {**os.environ, "STH_DATABASE_URL": f"sqlite:///{folder / 'sth.db'}",
           "STH_BROKER_URL": f"filesystem://{folder / 'broker'}", "STH_DATA_DIR": str(folder / "data")}  # fmt: skip
    if not device.startswith("cuda"):
        env["CUDA_VISIBLE_DEVICES"] = ""  # the worker picks CUDA whenever it sees one
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while True:
        text = (folder / "serve.log").read_text(errors="ignore")
        key = re.search(r"(sth_[A-Za-z0-9_-]{20,})", text)
        try:
            if key and "ready." in text and httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, key.group(1)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sth serve did not come up: {text[-300:]}")
        time.sleep(0.3)


def _wait(client: httpx.Client, job_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise RuntimeError(f"job {job_id} still {job['status']} after {timeout} s")


def _submit(client: httpx.Client, route: str, body: dict[str, Any], timeout: float) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    answer = client.post(route, json=body)
    if answer.status_code != 201:
        raise RuntimeError(f"POST {route}: {answer.status_code} {answer.text[:200]}")
    job = _wait(client, answer.json()["id"], timeout)
    if job["status"] != "succeeded":
        raise RuntimeError(f"{route} job {job['id']} {job['status']}: {str(job.get('error'))[:200]}")
    return job, time.perf_counter() - start


def service_run(device: str, quick: bool, threads: int | None = None) -> dict[str, Any]:
    train = {"preset": "quick", "spec": {"epochs": 1, "train_limit": 300 if quick else 4000, "test_limit": 100,
                                         "reg": {"n_images": 200 if quick else 1000}}}  # fmt: skip
    evaluators = [{"name": "gaussian", "params": {"n_images": 50 if quick else 500}}]
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, key = launch(Path(tmp), device, threads)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
                job, train_s = _submit(client, "/v1/train-jobs", train, 300)
                ev, eval_s = _submit(client, "/v1/eval-jobs", {"model_id": job["model_id"], "evaluators": evaluators},
                                     300)  # fmt: skip
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
    devices = [job["device"], ev["device"]]
    expected = "cuda" if device.startswith("cuda") else "cpu"
    if not all(d and (d.startswith("cuda") if expected == "cuda" else d == "cpu") for d in devices):
        raise RuntimeError(f"jobs ran on {devices}, expected {expected}")
    return {"train_device": devices[0], "eval_device": devices[1], "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1), "model_id": job["model_id"]}  # fmt: skip
