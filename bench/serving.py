"""`sth serve` in a subprocess on its own SQLite database, filesystem broker and data folder: the one launcher that
bench/gpu_check.py and the end-to-end tests (tests/e2e/conftest.py) share; free ports, and Redis databases leased
so that test sessions and benchmarks running at once on one machine never share a broker."""

from __future__ import annotations

import fcntl
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


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
                 timeout: float = 120) -> tuple[subprocess.Popen[bytes], str, str]:  # fmt: skip
    """Start `sth serve` (API + its worker) with its files under `folder` and wait until it answers and its worker is
    ready; returns (process, URL, the admin API key it printed). `threads`: torch's CPU threads (OMP_NUM_THREADS);
    `env`: more environment variables (they win). Raises RuntimeError with the log's end if it dies or is not up
    within `timeout` seconds."""
    port = free_port()
    full = {**os.environ, "STH_DATABASE_URL": f"sqlite:///{folder / 'sth.db'}",
            "STH_BROKER_URL": f"filesystem://{folder / 'broker'}", "STH_DATA_DIR": str(folder / "data")}  # fmt: skip
    if threads:
        full["OMP_NUM_THREADS"] = str(threads)
    full.update(env or {})
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--port", str(port)], env=full, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + timeout
    while True:
        text = log_path.read_text(errors="ignore")
        key = re.search(r"(sth_[A-Za-z0-9_-]{20,})", text)
        try:
            if key and "ready." in text and httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url, key.group(1)
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sth serve did not come up:\n{text[-3000:]}")
        time.sleep(0.3)
