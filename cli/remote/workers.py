"""`sth remote workers`: the Celery workers as they last reported themselves (api/routes/workers.py)."""

from __future__ import annotations

from rich.table import Column, Table

from cli.remote import console, http
from cli.remote.app import remote


@remote.command("workers")
def workers(as_json: console.JsonFlag = False) -> None:
    """The workers (alive first): kind (gpu or cpu: the jobs each takes), device, when last seen, its job now."""
    items = http.call("GET", "/v1/workers").json()
    if as_json:
        console.out.print_json(data=items)
        return
    table = Table(Column("name", no_wrap=True), "kind", "device", "alive", "last seen (UTC)", "job")
    for w in items:
        table.add_row(w["name"], w["kind"], w["device"], "yes" if w["alive"] else "no", console.clock(w["last_seen"]),
                      w["running_job"] or "")  # fmt: skip
    console.out.print(table)
    if not any(w["alive"] for w in items):
        console.err.print("no live worker: start one with `sth worker` (docs/multinode.md)")
