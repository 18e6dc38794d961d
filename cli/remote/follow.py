"""Following a job from the command line: its progress bar and log lines on stderr (server-sent events, resumed
after a server restart: cli.events), what it waits for, and --wait's verdict. Tests replace `follow_job` here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from cli.events import follow
from cli.remote import console, http


def say_waiting(job: dict[str, Any]) -> None:
    """A queued job that no live worker can take says so (on stderr), instead of waiting silently."""
    if job.get("waiting_for"):
        console.err.print(f"[yellow]job {job['id']} waits:[/yellow] {job['waiting_for']}", highlight=False)


def _events(c: httpx.Client, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        yield from follow(c, job_id)
    except httpx.HTTPStatusError as e:
        try:
            message = e.response.json()["error"]["message"]
        except (ValueError, KeyError):
            message = e.response.text
        console.err.print(f"[red]error {e.response.status_code}:[/red] {message}")
        raise typer.Exit(1) from None
    except httpx.TransportError as e:
        console.err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None


def succeeded(job_id: str) -> None:
    """--wait: follow the job; a job that did not succeed ends the command (exit 1) with its error."""
    status = follow_job(job_id)
    if status != "succeeded":
        error = http.call("GET", f"/v1/jobs/{job_id}").json().get("error") or {}
        console.err.print(
            f"[red]error:[/red] job {job_id} {status}: {error.get('message', '')}".rstrip(": "), highlight=False
        )
        raise typer.Exit(1)


def follow_job(job_id: str) -> str:
    """Progress bar and log lines on stderr until the job ends; its final status."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    status = "?"
    say_waiting(http.call("GET", f"/v1/jobs/{job_id}").json())
    with http.client() as c, Progress(*columns, console=console.err) as bar:
        task = bar.add_task(job_id[:8], total=1.0)
        for event, data in _events(c, job_id):
            if event == "log":
                bar.console.print(f"[dim]{console.clock(data.get('at'))}[/dim] {data['message']}", highlight=False)
            elif event == "progress":
                progress = data.get("progress", {})
                status = data["status"]
                bar.update(task, completed=progress.get("fraction", 0.0),
                           description=f"{job_id[:8]} {status} {progress.get('phase', '')}")  # fmt: skip
            elif event == "end":
                status = data["status"]
    return status
