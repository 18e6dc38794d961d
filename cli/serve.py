"""`sth serve`: the API and one worker on one machine (the embedded default: SQLite and the filesystem broker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="address the API listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes (one per GPU on a GPU server)")] = 1,
    api_processes: Annotated[int, typer.Option(help="API processes (uvicorn --workers): about one per core")] = 1,
) -> None:
    """Start the API and the workers; on the first start, create an admin and print its API key."""
    import uvicorn
    from sqlalchemy import func, select

    from api.main import create_app
    from store.db import migrate, session_scope
    from store.keys import create_key, create_user
    from store.models import Role, User
    from store.settings import get_settings

    settings = get_settings()
    migrate(settings.database_url)
    with session_scope(settings.database_url) as session:
        if session.scalar(select(func.count()).select_from(User)) == 0:
            token = create_key(session, create_user(session, "admin", Role.admin), "first")
            typer.echo(f"\nFirst start: created user 'admin'. Its API key (shown once, keep it):\n\n    {token}\n")
        else:
            typer.echo("Users exist already; a new key: `sth admin create-key NAME`.")
    typer.echo(f"Database: {settings.database_url}\nBroker:   {settings.broker_url}")
    typer.echo(f"Dashboard:  http://{host}:{port}/dashboard/  (sign in with the key)")
    typer.echo(f"Swagger UI: http://{host}:{port}/docs  (Authorize with the key)\n")
    procs = [start_worker(f"worker{i + 1}@%h", i) for i in range(workers)]
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again with the handler it found: make that
    # handler an exit, so the workers below are stopped instead of orphaned
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        if api_processes > 1:  # each process builds the app from the same environment (migrations are done)
            uvicorn.run("api.main:create_app", factory=True, workers=api_processes, host=host, port=port,
                        log_level="info", timeout_graceful_shutdown=GRACEFUL_S)  # fmt: skip
        else:
            uvicorn.run(create_app(settings, migrate_on_start=False), host=host, port=port, log_level="info",
                        timeout_graceful_shutdown=GRACEFUL_S)  # fmt: skip
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


GRACEFUL_S = 30  # on SIGTERM: event streams end at once (api.lifecycle); uploads and downloads get this long


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def _die_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when `sth serve` dies, even by SIGKILL."""
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_worker(name: str, gpu: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if "CUDA_VISIBLE_DEVICES" not in env and _gpus() > 1:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)  # one worker per GPU
    cmd = [sys.executable, "-m", "celery", "-A", "worker.app", "worker", "--pool", "solo", "--queues", "sth",
           "--hostname", name, "--loglevel", "INFO", "--without-mingle", "--without-gossip"]  # fmt: skip
    return subprocess.Popen(cmd, env=env, preexec_fn=_die_with_parent)


def _gpus() -> int:
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return out.stdout.count("GPU ")
