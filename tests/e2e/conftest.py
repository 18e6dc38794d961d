"""The service for end-to-end tests: a real Celery worker process, the API in-process, on each backend; or `sth serve`
as a whole (bench/serving.py starts, waits for and stops them)."""

import os
import time
from pathlib import Path

import pytest
import serving  # bench/serving.py (tests/conftest.py puts bench/ on the path): the launcher gpu_check.py uses too
from fastapi.testclient import TestClient

from store.db import engine_for, migrate, session_scope
from store.keys import create_key, create_user
from store.models import Role
from store.settings import Settings, get_settings

ROOT = Path(__file__).resolve().parents[2]


class Service:
    """A real Celery worker process on the test's database and broker (bench/serving.py's launcher)."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder = env, folder
        self.worker: serving.Launched | None = None
        self.log = folder / "worker.log"

    def start_worker(self, name: str = "e2e@test") -> None:
        self.worker = serving.start_worker(self.env, self.log, name, timeout=60)

    def kill_worker(self) -> None:
        if self.worker is not None:
            self.worker.kill()

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop(grace_s=20)


def _backend(kind: str, folder: Path, postgres_url: str | None, redis_db: int | None) -> dict[str, str]:
    if kind == "embedded":
        return {
            "STH_DATABASE_URL": f"sqlite:///{folder / 'sth.db'}",
            "STH_BROKER_URL": f"filesystem://{folder / 'broker'}",
        }
    return {"STH_DATABASE_URL": postgres_url or "", "STH_BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}"}


@pytest.fixture(params=["embedded", "postgres-redis"])
def service(request, tmp_path, monkeypatch):
    postgres_url = redis_db = None
    if request.param == "postgres-redis":
        postgres_url, redis_db = request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_db")
        from store.db import downgrade

        downgrade(postgres_url, "base")
    env = {**os.environ, **_backend(request.param, tmp_path, postgres_url, redis_db), "STH_HEARTBEAT_S": "0.5",
           "STH_HEARTBEAT_TIMEOUT_S": "3", "OMP_NUM_THREADS": "1",
           "STH_DATA_DIR": str(tmp_path / "worker-data")}  # fmt: skip
    monkeypatch.setenv("STH_DATA_DIR", str(tmp_path / "api-data"))  # as if the API ran on another machine
    for key in ("STH_DATABASE_URL", "STH_BROKER_URL", "STH_HEARTBEAT_S", "STH_HEARTBEAT_TIMEOUT_S"):
        monkeypatch.setenv(key, env[key])
    get_settings.cache_clear()
    migrate(env["STH_DATABASE_URL"])
    if request.param == "postgres-redis":
        import redis

        redis.Redis.from_url(env["STH_BROKER_URL"]).flushdb()
    svc = Service(env, tmp_path)
    svc.start_worker()
    yield svc
    svc.stop_worker()
    get_settings.cache_clear()
    engine_for.cache_clear()


@pytest.fixture
def api(service):
    from api.main import create_app

    settings = Settings(database_url=service.env["STH_DATABASE_URL"], broker_url=service.env["STH_BROKER_URL"])
    with TestClient(create_app(settings)) as client:
        with session_scope(settings.database_url) as session:
            keys = {}
            for name, role in (("admin", Role.admin), ("alice", Role.member), ("bob", Role.member)):
                keys[name] = create_key(session, create_user(session, name, role))
        client.keys = keys
        yield client


def auth(client, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.keys[who]}"}


def wait_for(client, job_id: str, who: str = "alice", timeout: float = 240, until=("succeeded", "failed", "cancelled")):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=auth(client, who)).json()
        if job["status"] in until:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s: {job}")


def launch_serve(folder: Path, threads: int = 1) -> tuple[serving.Launched, dict[str, str]]:
    """`sth serve` (API + one worker) through bench/serving.py's launcher, with tests' upload limit (8 MiB);
    `threads`: torch's CPU threads (OMP_NUM_THREADS)."""
    limit = {"STH_MAX_DATASET_BYTES": str(8 << 20)}
    serve, url, key = serving.launch_serve(folder, threads=threads, env=limit, timeout=90)
    return serve, {"STH_URL": url, "STH_API_KEY": key}


@pytest.fixture
def served(tmp_path):
    serve, info = launch_serve(tmp_path)
    yield info
    serve.stop(grace_s=30)
