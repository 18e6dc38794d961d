"""`sth worker` for real on this GPU-less machine (SQLite and the filesystem broker): its CPU worker records itself,
runs a job that asks for a cpu while one that asks for a gpu stays queued and says why, and stops with its parent's
SIGTERM, marked stopped."""

import os
import signal
import sys
import time

import serving  # bench/serving.py: the launcher
from fastapi.testclient import TestClient

from api.main import create_app
from store.db import engine_for, migrate, session_scope
from store.keys import create_key, create_user
from store.settings import Settings, get_settings
from tests.e2e.conftest import wait_for

TINY = {"epochs": 1, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}}


def _until(check, timeout_s, what, log):
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what} after {timeout_s} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)
    return found


def test_a_cpu_worker_runs_cpu_jobs_while_a_gpu_job_waits_and_says_why(tmp_path, monkeypatch):
    env = {**os.environ, "STH_DATABASE_URL": f"sqlite:///{tmp_path / 'sth.db'}", "OMP_NUM_THREADS": "1",
           "STH_BROKER_URL": f"filesystem://{tmp_path / 'broker'}", "STH_HEARTBEAT_S": "0.5",
           "STH_HEARTBEAT_TIMEOUT_S": "3", "STH_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    for key in ("STH_DATABASE_URL", "STH_BROKER_URL", "STH_HEARTBEAT_S", "STH_HEARTBEAT_TIMEOUT_S"):
        monkeypatch.setenv(key, env[key])
    get_settings.cache_clear()
    migrate(env["STH_DATABASE_URL"])
    log = tmp_path / "worker.log"
    proc = serving.start([sys.executable, "-m", "cli.main", "worker"], env, log, "sth worker").proc
    try:
        settings = Settings(database_url=env["STH_DATABASE_URL"], broker_url=env["STH_BROKER_URL"], api_cache_s=0)
        with TestClient(create_app(settings)) as api:
            with session_scope(settings.database_url) as session:
                api.keys = {"alice": create_key(session, create_user(session, "alice"))}
            headers = {"Authorization": f"Bearer {api.keys['alice']}"}

            def workers():
                return [w for w in api.get("/v1/workers", headers=headers).json() if w["alive"]]

            (worker,) = _until(workers, 90, "no live worker", log)
            assert worker["name"].startswith("cpu@") and worker["kind"] == "cpu" and worker["device"].startswith("cpu")
            gpu = api.post("/v1/train-jobs", headers=headers, json={"preset": "smoke", "spec": TINY, "device": "gpu"})
            cpu = api.post("/v1/train-jobs", headers=headers, json={"preset": "smoke", "spec": {**TINY, "seed": 1},
                                                                    "device": "cpu"})  # fmt: skip
            gpu, cpu = gpu.json(), cpu.json()
            done = wait_for(api, cpu["id"], who="alice", timeout=180)
            assert done["status"] == "succeeded" and done["worker"] == worker["name"] and done["device"] == "cpu"
            waiting = api.get(f"/v1/jobs/{gpu['id']}", headers=headers).json()
            assert waiting["status"] == "queued" and waiting["worker"] is None
            assert waiting["waiting_for"] == "no live gpu worker: never seen (start one: sth worker --gpus all)"
            (place,) = api.get("/v1/queue", headers=headers).json()["items"]
            assert place["id"] == gpu["id"] and place["waiting_for"] == waiting["waiting_for"]
            proc.send_signal(signal.SIGTERM)  # the worker is idle: it stops at once, and so does `sth worker`
            assert proc.wait(timeout=60) == 0
            (stopped,) = api.get("/v1/workers", headers=headers).json()
            assert not stopped["alive"] and stopped["stopped_at"]
            anywhere = api.post("/v1/train-jobs", headers=headers, json={"preset": "smoke", "spec": TINY}).json()
            assert anywhere["waiting_for"].startswith("no live worker: last seen 20")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        get_settings.cache_clear()
        engine_for.cache_clear()
