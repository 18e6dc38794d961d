"""The service part of bench/gpu_check.py: `sth serve` on a temporary SQLite database and filesystem broker, one
quick training and one evaluation through the REST API, and the device the worker ran them on."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from serving import launch_serve


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
        cpu_only = {} if device.startswith("cuda") else {"CUDA_VISIBLE_DEVICES": ""}  # a worker that sees CUDA uses it
        serve, url, key = launch_serve(Path(tmp), threads=threads, env=cpu_only)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
                job, train_s = _submit(client, "/v1/train-jobs", train, 300)
                ev, eval_s = _submit(client, "/v1/eval-jobs", {"model_id": job["model_id"], "evaluators": evaluators},
                                     300)  # fmt: skip
        finally:
            serve.stop(grace_s=30)
    devices = [job["device"], ev["device"]]
    expected = "cuda" if device.startswith("cuda") else "cpu"
    if not all(d and (d.startswith("cuda") if expected == "cuda" else d == "cpu") for d in devices):
        raise RuntimeError(f"jobs ran on {devices}, expected {expected}")
    return {"train_device": devices[0], "eval_device": devices[1], "train_s": round(train_s, 1),
            "eval_s": round(eval_s, 1), "model_id": job["model_id"]}  # fmt: skip
