"""`sth serve`: the API and its workers on one machine (the embedded default: SQLite and the filesystem broker); the
workers as `sth worker` starts them (one per GPU, or a CPU worker)."""

from __future__ import annotations

import os
import signal
from typing import Annotated

import typer

from cli.worker import CpuWorkersOption, GpusOption, Workers, gpu_count, plan_workers, visible_gpus


def serve(
    host: Annotated[str, typer.Option(help="address the API listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    gpus: GpusOption = None,
    cpu_workers: CpuWorkersOption = 1,
    api_processes: Annotated[int, typer.Option(help="API processes (uvicorn --workers): about one per core")] = 1,
) -> None:
    """Start the API and the workers (as `sth worker --gpus` does); on the first start, create an admin and print
    its API key."""
    import uvicorn
    from sqlalchemy import func, select

    from api.main import create_app
    from store.db import migrate, session_scope
    from store.keys import create_key, create_user
    from store.models import Role, User
    from store.settings import get_settings

    plans = plan_workers(gpus, visible_gpus(os.environ, gpu_count()), cpu_workers)  # a bad --gpus stops here
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
    typer.echo(f"Swagger UI: http://{host}:{port}/docs  (Authorize with the key)")
    typer.echo(f"Workers:    {', '.join(p.shown() for p in plans)}  (GET /v1/workers)\n")
    workers = Workers(plans)
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
        workers.close()


GRACEFUL_S = 30  # on SIGTERM: event streams end at once (api.lifecycle); uploads and downloads get this long


def _exit_on_signal(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)
