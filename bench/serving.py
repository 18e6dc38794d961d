"""`sth serve` in a subprocess on its own SQLite database, filesystem broker and data folder: the one launcher that
bench/gpu_check.py and the end-to-end tests (tests/e2e/conftest.py) share."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
