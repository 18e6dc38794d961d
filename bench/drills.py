"""Fault and load drills against the real service: the API under uvicorn and Celery workers as processes, on the
embedded default (SQLite, filesystem broker) and on PostgreSQL + Redis. Prints one markdown table per backend.

python bench/drills.py                 # 20 worker kills, 60 s load steps: about 25 minutes on 2 cores
python bench/drills.py --quick         # 2 kills, 3 s load steps up to 100/s (CI runs it: tests/e2e/test_drills.py)
python bench/drills.py --backend postgres-redis --only load

Drills: worker kills at random moments (restarted under the same name or, every other time, a new one); a broker
that loses its messages (Redis FLUSHDB with its connections dropped, as a restart without persistence; the
filesystem broker's queue folder emptied) with queued and running jobs; an API restarted (SIGTERM) while a job's
event stream is followed; simultaneous submissions with one idempotency key; a load ramp of GET /v1/jobs and
/v1/me with one key, then far past saturation, then whether the API answers again.

Columns: tried, held (ended as it should, exactly once), lost (never ended, or ended without its model), duplicated
(two attempts at once, a second model, a second job for one key, a log line twice), and recovery seconds (median
and max: kill to the job running again; message loss to every job running again; SIGTERM to exit).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import run_load
from serving import Launched, free_port, redis_db_lease, start_api, start_worker

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get("STH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
API_PROCESSES = 2  # as docker-compose.yml runs it: one per core
TRAIN: dict[str, Any] = {
    "preset": "smoke",
    "spec": {"epochs": 2, "train_limit": 600, "test_limit": 100, "reg": {"n_images": 200}},
}
BACKENDS = ("embedded", "postgres-redis")
DRILLS = ("kills", "broker", "api-restart", "idempotency", "load")
DRILL_NAMES = ("worker killed at a random moment", "broker lost its messages", "API restarted during an event stream",
               "simultaneous submissions, one idempotency key", "load ramp, then 5x past saturation")  # fmt: skip
LOAD_HEADER = ["route", "req/s", "sent", "200", "503", "errors", "p50 ms", "p99 ms"]


@dataclass
class Row:
    drill: str
    tried: int = 0
    held: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: list[float] = field(default_factory=list)
    notes: str = ""

    def cells(self) -> list[str]:
        r = self.recovery_s
        recovery = f"{statistics.median(r):.1f} / {max(r):.1f}" if r else "-"
        return [self.drill, str(self.tried), str(self.held), str(self.lost), str(self.duplicated), recovery, self.notes]


class Stack:
    """The service on one backend, each part a process of its own, as on a server."""

    def __init__(self, backend: str, folder: Path, database_url: str, redis_db: int) -> None:
        broker = f"filesystem://{folder / 'broker'}" if backend == "embedded" else f"redis://127.0.0.1:6379/{redis_db}"
        self.redis_db = redis_db
        self.backend, self.folder, self.port = backend, folder, free_port()
        self.env = {**os.environ, "STH_DATABASE_URL": database_url, "STH_BROKER_URL": broker,
                    "STH_DATA_DIR": str(folder / "data"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        self.api: Launched | None = None
        self.workers: dict[str, Launched] = {}
        self.key = self.second_key = ""

    def prepare(self) -> None:
        from store.db import migrate, session_scope
        from store.keys import create_key, create_user
        from store.models import Role

        migrate(self.env["STH_DATABASE_URL"])
        if self.backend != "embedded":
            import redis

            redis.Redis.from_url(self.env["STH_BROKER_URL"]).flushdb()
        with session_scope(self.env["STH_DATABASE_URL"]) as session:
            user = create_user(session, "drill", Role.admin)
            self.key = create_key(session, user, "one")
            self.second_key = create_key(session, user, "two")

    def client(self, key: str | None = None, timeout: float = 30) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key or self.key}"}, timeout=timeout)

    def start_api(self) -> None:
        self.api, _ = start_api(self.env, self.folder / "api.log", self.port, processes=API_PROCESSES, timeout=120,
                                args=("--timeout-graceful-shutdown", "30"))  # fmt: skip

    def stop_api(self) -> float:
        """SIGTERM; seconds until the process exited."""
        assert self.api is not None
        return self.api.stop(grace_s=60)

    def start_worker(self, name: str) -> None:
        self.workers[name] = start_worker(self.env, self.folder / f"worker-{name}.log", name)

    def kill_worker(self, name: str) -> None:
        self.workers.pop(name).kill()

    def stop(self) -> None:
        for proc in [*self.workers.values(), *([self.api] if self.api else [])]:
            proc.stop(grace_s=20)
        self.workers.clear()


# ---- helpers over the REST API --------------------------------------------------------------------------------------
def submit(c: httpx.Client, body: dict[str, Any], path: str = "/v1/train-jobs") -> str:
    answer = c.post(path, json=body)
    answer.raise_for_status()
    return str(answer.json()["id"])


def job(c: httpx.Client, job_id: str) -> dict[str, Any]:
    answer = c.get(f"/v1/jobs/{job_id}")
    answer.raise_for_status()
    return dict(answer.json())


def wait_until(check: Any, timeout: float, step: float = 0.2) -> float | None:
    """Seconds until check() is true, or None after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except httpx.HTTPError:
            pass
        time.sleep(step)
    return None


def judge(stack: Stack, c: httpx.Client, job_id: str, row: Row, timeout: float = 300) -> None:
    """held: succeeded once with one model and no log line twice; lost: never ended or no model."""
    done = wait_until(lambda: job(c, job_id)["status"] in ("succeeded", "failed", "cancelled"), timeout, 0.5)
    info = job(c, job_id)
    if done is None or info["status"] != "succeeded" or not info["model_id"]:
        row.lost += 1
        row.notes = f"{job_id[:8]} ended {info['status']}"
        return
    logs = [x["message"] for x in c.get(f"/v1/jobs/{job_id}/logs").json()]
    finished = sum(m == "succeeded" for m in logs)
    models = [m for m in c.get("/v1/models").json() if m["job_id"] == job_id]
    if finished != 1 or len(models) != 1:
        row.duplicated += 1
    else:
        row.held += 1


# ---- the drills -----------------------------------------------------------------------------------------------------
def drill_kills(stack: Stack, kills: int, rng: random.Random) -> Row:
    row = Row(DRILL_NAMES[0])
    names = ["w1"]
    with stack.client() as c:
        for i in range(kills):
            row.tried += 1
            job_id = submit(c, TRAIN)
            wait_until(lambda job_id=job_id: job(c, job_id)["status"] == "running", 60)
            time.sleep(rng.uniform(0, 4))  # anywhere from the claim to the end of the training
            running = job(c, job_id)["status"] == "running"
            stack.kill_worker(names[-1])
            killed = time.monotonic()
            before = job(c, job_id)["attempts"]
            names.append(names[-1] if i % 2 else f"w{i + 2}")  # every other restart under a new name
            stack.start_worker(names[-1])
            resumed = wait_until(lambda job_id=job_id, before=before: job(c, job_id)["attempts"] > before
                                 or job(c, job_id)["status"] != "running", 120)  # fmt: skip
            if resumed is not None and running:  # (a job that had finished needs no recovery)
                row.recovery_s.append(time.monotonic() - killed)
            judge(stack, c, job_id, row)
    return row


def drop_messages(stack: Stack) -> None:
    """The broker loses everything it held, as a restart without persistence does."""
    if stack.backend == "embedded":
        for message in (stack.folder / "broker" / "queue").glob("*.msg"):
            message.unlink(missing_ok=True)
        return
    import redis

    client = redis.Redis.from_url(stack.env["STH_BROKER_URL"])
    client.flushdb()
    for info in client.client_list():
        if int(info.get("db", -1)) == stack.redis_db and info["id"] != str(client.client_id()):
            client.client_kill_filter(_id=info["id"])


def drill_broker(stack: Stack, jobs: int) -> Row:
    row = Row(DRILL_NAMES[1], tried=jobs)
    with stack.client() as c:
        ids = [submit(c, TRAIN) for _ in range(jobs)]
        wait_until(lambda: job(c, ids[0])["status"] == "running", 60)
        drop_messages(stack)  # one running, the others queued
        lost_at = now_utc()
        for job_id in ids:
            judge(stack, c, job_id, row)
        # the one worker runs them in turn: each job waited from the loss (or its predecessor's end) to its start
        runs = sorted((stamp(j["started_at"]), stamp(j["finished_at"])) for j in (job(c, i) for i in ids[1:]))
        free = max(lost_at, stamp(job(c, ids[0])["finished_at"]))
        for started, finished in runs:
            row.recovery_s.append(max(0.0, started - free))
            free = finished
    return row


def now_utc() -> float:
    return time.time()


def stamp(iso: str | None) -> float:
    from datetime import UTC, datetime

    when = datetime.fromisoformat(iso or "1970-01-01T00:00:00")
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def drill_api_restart(stack: Stack) -> Row:
    from cli.events import follow

    row = Row(DRILL_NAMES[2], tried=1)
    with stack.client() as c:
        job_id = submit(c, TRAIN)
        lines: list[str] = []

        def watch() -> None:
            with stack.client(timeout=60) as w:
                lines.extend(d["message"] for e, d in follow(w, job_id, give_up_s=120) if e == "log")

        watcher = threading.Thread(target=watch)
        watcher.start()
        wait_until(lambda: job(c, job_id)["status"] == "running", 60)
        time.sleep(1)
        row.recovery_s.append(stack.stop_api())  # SIGTERM with a stream open
        stack.start_api()
        watcher.join(timeout=300)
        judge(stack, c, job_id, row)
        stored = [x["message"] for x in c.get(f"/v1/jobs/{job_id}/logs").json()]
        if lines != stored:
            row.held, row.duplicated = 0, int(len(lines) > len(stored))
            row.lost += int(len(lines) <= len(stored))
            row.notes = f"stream saw {len(lines)} lines, {len(stored)} stored"
        else:
            row.notes = f"exit after SIGTERM in {row.recovery_s[0]:.1f} s; {len(lines)} lines, none lost"
    return row


def drill_idempotency(stack: Stack, rounds: int) -> Row:
    row = Row(DRILL_NAMES[3])
    errors = 0
    with stack.client() as one, stack.client(stack.second_key) as two:
        for i in range(rounds):
            row.tried += 1
            body = {**TRAIN, "spec": {**TRAIN["spec"], "epochs": 1}, "idempotency_key": f"drill-{i}"}
            start, answers = threading.Barrier(2), list[Any]()

            def post(c: httpx.Client, start: threading.Barrier = start, answers: list[Any] = answers,
                     body: dict[str, Any] = body) -> None:  # fmt: skip
                start.wait()
                answers.append(c.post("/v1/train-jobs", json=body))

            threads = [threading.Thread(target=post, args=(c,)) for c in (one, two)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            errors += sum(a.status_code >= 500 for a in answers)
            ids = {a.json().get("id") for a in answers if a.status_code < 300}
            if len(ids) == 1 and all(a.status_code < 300 for a in answers):
                row.held += 1
            elif len(ids) > 1:
                row.duplicated += 1
            else:
                row.lost += 1
        for job_id in {j["id"] for j in one.get("/v1/jobs", params={"page_size": 200}).json()["items"]}:
            one.post(f"/v1/jobs/{job_id}/cancel")  # the drill needs the workers free, not these trainings
    row.notes = f"{errors} answers 5xx"
    return row


def load_table(stack: Stack, rates: list[int], seconds: float, saturate: int) -> tuple[Row, list[list[str]]]:
    """The ramp below saturation must give no error at all; far past it, only quick 503s; then 200s again."""
    with stack.client() as c:
        from store.db import session_scope
        from store.models import Job, JobKind, JobStatus, User

        with session_scope(stack.env["STH_DATABASE_URL"]) as session:  # a full page of finished jobs to list
            owner = session.query(User).filter_by(name="drill").one()
            session.add_all(Job(kind=JobKind.train, owner_id=owner.id, spec=TRAIN["spec"], spec_hash="drill",
                                status=JobStatus.succeeded) for _ in range(60))  # fmt: skip
        c.get("/v1/me").raise_for_status()
    row, table = Row(DRILL_NAMES[4]), []
    for path in ("/v1/jobs", "/v1/me"):
        for rate in [*rates, saturate]:
            found = asyncio.run(run_load(stack.url, path, rate, seconds, {"Authorization": f"Bearer {stack.key}"}))
            bad = found.failures + sum(n for code, n in found.codes.items() if code >= 500 and code != 503)
            busy = found.codes.get(503, 0)
            if found.failure_kinds:
                row.notes += f"{path} {rate:g}/s: no answer {found.failure_kinds}; "
            below = rate != saturate
            row.tried += 1
            row.held += int(bad == 0 and (busy == 0 or not below))
            row.lost += int(bad > 0 or (below and busy > 0))
            table.append([path, f"{rate:g}", str(found.sent), str(found.codes.get(200, 0)), str(busy), str(bad),
                          f"{found.percentile_ms(0.5):.0f}", f"{found.percentile_ms(0.99):.0f}"])  # fmt: skip
        healthy = wait_until(lambda: httpx.get(f"{stack.url}/v1/me", headers={"Authorization": f"Bearer {stack.key}"},
                                               timeout=5).status_code == 200, 60)  # fmt: skip
        row.recovery_s.append(float("inf") if healthy is None else healthy)
    row.notes += "recovery: until 200 again after saturation"
    return row, table


def run(backend: str, quick: bool, only: tuple[str, ...] = DRILLS, seed: int = 0) -> tuple[list[Row], list[list[str]]]:
    from store.db import scratch_database

    rng = random.Random(seed)
    with (
        tempfile.TemporaryDirectory(prefix="sth-drills-") as tmp,
        scratch_database(POSTGRES_ADMIN, "sth_drill") as pg,
        redis_db_lease() as redis_db,
    ):
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'sth.db'}" if backend == "embedded" else pg
        if url is None:
            raise RuntimeError(f"PostgreSQL does not answer at {POSTGRES_ADMIN}")
        stack = Stack(backend, folder, url, redis_db)
        stack.prepare()
        rows: list[Row] = []
        load: list[list[str]] = []
        try:
            stack.start_api()
            stack.start_worker("w1")
            if "kills" in only:
                rows.append(drill_kills(stack, 2 if quick else 20, rng))
            if "broker" in only:
                rows.append(drill_broker(stack, 2 if quick else 3))
            if "api-restart" in only:
                rows.append(drill_api_restart(stack))
            if "idempotency" in only:
                rows.append(drill_idempotency(stack, 6 if quick else 40))
            if "load" in only:
                rates, saturate = ([25, 50, 100], 500) if quick else ([50, 100, 200], 1000)
                row, load = load_table(stack, rates, 3 if quick else 60, saturate)
                rows.append(row)
        finally:
            stack.stop()
    return rows, load


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--only", choices=DRILLS, action="append")
    args = parser.parse_args()
    for backend in args.backend or BACKENDS:
        started = time.monotonic()
        rows, load = run(backend, args.quick, tuple(args.only or DRILLS))
        print(f"\n### {backend} ({time.monotonic() - started:.0f} s)\n")
        print(markdown(["drill", "tried", "held", "lost", "duplicated", "recovery s (median / max)", "notes"],
                       [r.cells() for r in rows]))  # fmt: skip
        if load:
            print("\n" + markdown(LOAD_HEADER, load))


if __name__ == "__main__":
    main()
