"""`sth remote` for models (api/routes/models.py): list them, their results' headlines, download a checkpoint with
its sha256 checked, upload one."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from cli.remote import console, http
from cli.remote.app import remote


@remote.command("models")
def models(
    setting: Annotated[str | None, typer.Option(help="the models of a setting (its seeds)")] = None,
    sweep: Annotated[str | None, typer.Option(help="the models a sweep trained")] = None,
    tag: Annotated[str | None, typer.Option()] = None,
    as_json: console.JsonFlag = False,
) -> None:  # fmt: skip
    """The team's models: setting (the spec without its seed), seed and clean test accuracy."""
    params = {k: v for k, v in {"setting": setting, "sweep_id": sweep, "tag": tag}.items() if v}
    items = http.call("GET", "/v1/models", params=params).json()
    if as_json:
        console.out.print_json(data=items)
        return
    table = Table(
        console.ID_COLUMN(), "name", Column("setting", no_wrap=True), "seed", Column("test acc", justify="right")
    )
    for m in items:
        acc = m["metrics"].get("test_acc")
        table.add_row(m["id"], m["name"], m["setting"] or "", "" if m["seed"] is None else str(m["seed"]),
                      "" if acc is None else f"{acc:.4f}")  # fmt: skip
    console.out.print(table)


@remote.command("results")
def results(
    model_id: str, evaluator: Annotated[str | None, typer.Option()] = None, as_json: console.JsonFlag = False
) -> None:
    """A model's results: the headline of each (normalised AUC of a curve, the score of a minimal perturbation
    report); --json for the full curves and reports."""
    if as_json:
        params = {"evaluator": evaluator} if evaluator else {}
        console.out.print_json(data=http.call("GET", f"/v1/models/{model_id}/results", params=params).json())
        return
    detail = http.call("GET", f"/v1/models/{model_id}").json()
    table = Table("evaluator", "label", "kind", "headline", Column("stored (UTC)", no_wrap=True),
                  title=f"{detail['name']} ({detail['setting_label'] or detail['arch']})",
                  caption="curve: clean accuracy and normalised AUC; perturbation: score = mean over repeats of "
                  "the median ||d||^2/D over successes, +- sample std over repeats")  # fmt: skip
    for r in detail["results"]:
        if evaluator and r["evaluator"] != evaluator:
            continue
        table.add_row(
            r["evaluator"], r["label"], r["kind"], _headline(r["headline"]), console.clock(r["created_at"])[:16]
        )
    console.out.print(table)


def _headline(h: dict[str, Any]) -> str:
    if "error" in h:
        return h["error"]
    if "normalized_auc" in h:
        return f"clean {h['clean_accuracy']:.3f}, AUC {h['normalized_auc']:.3f}"
    std = f" +- {h['score_std']:.5f}" if h.get("score_std") is not None else ""
    return f"{h['score']:.5f}{std} ({h['repeats']} rep., success {h['success_rate']:.2f})"


@remote.command("download")
def download(model_id: str, to: Annotated[Path, typer.Option("--out")] = Path("model.safetensors")) -> None:
    """Download a model's checkpoint and check its sha256."""
    digest = hashlib.sha256()
    with http.client() as c, c.stream("GET", f"/v1/models/{model_id}/checkpoint") as response:
        if response.status_code >= 400:
            response.read()
            console.err.print(f"[red]error {response.status_code}:[/red] {response.text}")
            raise typer.Exit(1)
        expected = response.headers["X-Checksum-SHA256"]
        with to.open("wb") as f:
            for chunk in response.iter_bytes():
                digest.update(chunk)
                f.write(chunk)
    if digest.hexdigest() != expected:
        console.err.print(f"[red]error:[/red] sha256 mismatch: got {digest.hexdigest()}, server says {expected}")
        raise typer.Exit(1)
    console.out.print(f"{to} (sha256 {expected})")


@remote.command("upload-model")
def upload_model(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a .safetensors checkpoint")],
    name: str,
    arch: Annotated[str | None, typer.Option(help="needed unless the file is an sthlib checkpoint")] = None,
    dataset: Annotated[str | None, typer.Option(help="the task's dataset (a name of `sth remote datasets`)")] = None,
) -> None:  # fmt: skip
    """Upload a model (safetensors only); prints its id."""
    form = {k: v for k, v in {"name": name, "arch": arch, "dataset": dataset}.items() if v}
    with file.open("rb") as f:
        body = http.call("POST", "/v1/models", data=form, files={"file": (file.name, f, "application/octet-stream")},
                    timeout=None).json()  # fmt: skip
    console.out.print(body["id"])
