"""`sth remote` for datasets (api/routes/datasets.py): what the server has, upload a .npz, and what each
variant would train on at a threshold."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from cli.remote import console, http
from cli.remote.app import remote


@remote.command("datasets")
def datasets(as_json: console.JsonFlag = False) -> None:
    """Built-in and uploaded datasets: the names job specs use, and whether the server has them (and, below the
    table, how to provide the ones it lacks)."""
    items = http.call("GET", "/v1/datasets").json()
    if as_json:
        console.out.print_json(data=items)
        return
    table = Table(Column("name", no_wrap=True), "origin", "classes", "shape", "available / owner")
    for d in items:
        where = d["owner"] if d["origin"] == "uploaded" else ("yes" if d["available"] else "no")
        table.add_row(d["name"], d["origin"], str(d["classes"]), f"{d['channels']}x{d['size']}x{d['size']}", where)
    console.out.print(table)
    for d in items:
        if not d["available"] and d.get("how_to_provide"):
            console.out.print(f"[bold]{d['name']}[/bold]: {d['how_to_provide']}", highlight=False)


@remote.command("upload-dataset")
def upload_dataset(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".npz: images, labels (test_images, "
                                         "test_labels)")],
    name: Annotated[str, typer.Argument(help="jobs then name it upload:NAME")],
    description: Annotated[str, typer.Option()] = "",
) -> None:  # fmt: skip
    """Upload a .npz dataset; prints the name to use in job specs (upload:NAME)."""
    with file.open("rb") as f:
        body = http.call("POST", "/v1/datasets", data={"name": name, "description": description},
                    files={"file": (file.name, f, "application/octet-stream")}, timeout=None).json()  # fmt: skip
    console.err.print(f"{body['splits']} images, {body['classes']} classes, sha256 {body['sha256']}")
    console.out.print(body["name"])


@remote.command("similarity")
def similarity(
    dataset: str,
    threshold: Annotated[float, typer.Option(help="Th")] = 0.8,
    threshold_low: Annotated[float | None, typer.Option(help="Th2, for variant double")] = None,
    images: Annotated[int, typer.Option(help="the first N training images")] = 5000,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:  # fmt: skip
    """What each variant would train on at Th, computed by the server (as `sth similarity` locally)."""
    from cli.main import print_summary

    params = {"threshold": threshold, "images": images, **({"threshold_low": threshold_low} if threshold_low else {})}
    summary = http.call("GET", f"/v1/datasets/{dataset}/similarity", params=params).json()
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        print_summary(summary["dataset"], summary)
