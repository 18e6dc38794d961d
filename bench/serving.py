"""The one launcher of a real service, for the end-to-end tests, the drills and the benchmarks: the API under
uvicorn, Celery workers (the command line `sth worker` runs: cli.worker.WorkerPlan), `sth serve` (both on its own
SQLite database, filesystem broker and data folder), or any command, each started with its log, waited for and
stopped; free ports, and Redis databases leased so that test sessions and benchmarks running at once on one
machine never share a broker."""

from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from bench/: the project's packages
from cli.worker import WorkerPlan  # noqa: E402  (the Celery command line `sth worker` runs)


class Launched:
    """A process of the service with its log file: waited for until it is ready, stopped (SIGTERM, then SIGKILL)."""

    def __init__(self, proc: subprocess.Popen[bytes], log: Path, what: str, offset: int = 0) -> None:
        self.proc, self.log, self.what, self.offset = proc, log, what, offset

    def output(self) -> str:
        """What it wrote to its log since it started."""
        return self.log.read_bytes()[self.offset :].decode(errors="replace")

    def wait_until(self, ready: Callable[[], bool], timeout: float = 120) -> None:
        """Until `ready()` (HTTP errors count as not yet); RuntimeError with the log's end if it dies or times out."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                state = "exited" if self.proc.returncode is not None else f"not ready after {timeout:g} s"
                raise RuntimeError(f"{self.what} {state}:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def stop(self, grace_s: float = 20) -> float:
        """SIGTERM, then SIGKILL after `grace_s`; the seconds it took to exit (inf when it had to be killed)."""
        if self.proc.poll() is not None:
            return 0.0
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return float("inf")
        return time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def start(cmd: Sequence[str], env: Mapping[str, str], log: Path, what: str) -> Launched:
    """`cmd` in the repository root with `env`, its output appended to `log`."""
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        proc = subprocess.Popen(list(cmd), cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
    return Launched(proc, log, what, offset)


def start_api(env: Mapping[str, str], log: Path, port: int | None = None, processes: int = 1,
              timeout: float = 60, args: Sequence[str] = ()) -> tuple[Launched, str]:  # fmt: skip
    """The API under uvicorn (`processes` of them on one port), waited for until /healthz answers: (it, its URL)."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", "--port", str(port),
           "--workers", str(processes), "--log-level", "warning", *args]  # fmt: skip
    api, url = start(cmd, env, log, "the API"), f"http://127.0.0.1:{port}"
    api.wait_until(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout)
    return api, url


def start_worker(env: Mapping[str, str], log: Path, name: str, queues: Sequence[str] = ("sth",),
                 timeout: float = 120) -> Launched:  # fmt: skip
    """A Celery worker as `sth worker` starts one, waited for until it says it is ready."""
    worker = start(WorkerPlan(name, tuple(queues)).command(), env, log, f"worker {name}")
    worker.wait_until(lambda: "ready." in worker.output(), timeout)
    return worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def redis_db_lease(port: int = 6379, folder: Path | None = None) -> Iterator[int]:
    """A Redis database number (1-15) that no other test or benchmark on this machine holds, until the block ends.
    Each number is an exclusive lock on a file in `folder` (default: the temp folder), released by the OS if the
    holder dies, so a CI run and a developer's run at the same time never flush or read each other's broker."""
    numbers = list(range(1, 16))
    random.shuffle(numbers)
    for number in numbers:
        handle = ((folder or Path(tempfile.gettempdir())) / f"sth-redis-{port}-db{number}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield number
        finally:
            handle.close()  # closing releases the lock
        return
    raise RuntimeError(f"all 15 Redis databases of port {port} are leased by other test sessions on this machine")


def launch_serve(folder: Path, *, threads: int | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = 120) -> tuple[Launched, str, str]:  # fmt: skip
    """Start `sth serve` (API + its worker) with its files under `folder` and wait until it answers and its worker is
    ready; returns (it, URL, the admin API key it printed). `threads`: torch's CPU threads (OMP_NUM_THREADS);
    `env`: more environment variables (they win). RuntimeError with the log's end if it dies or is not up within
    `timeout` seconds."""
    port = free_port()
    full = {**os.environ, "STH_DATABASE_URL": f"sqlite:///{folder / 'sth.db'}",
            "STH_BROKER_URL": f"filesystem://{folder / 'broker'}", "STH_DATA_DIR": str(folder / "data")}  # fmt: skip
    if threads:
        full["OMP_NUM_THREADS"] = str(threads)
    full.update(env or {})
    serve = start([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], full, folder / "serve.log",
                  "sth serve")  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def key() -> re.Match[str] | None:
        return re.search(r"(sth_[A-Za-z0-9_-]{20,})", serve.output())

    serve.wait_until(lambda: bool(key()) and "ready." in serve.output()
                     and httpx.get(f"{url}/healthz", timeout=1).status_code == 200, timeout)  # fmt: skip
    found = key()
    assert found is not None
    return serve, url, found.group(1)
