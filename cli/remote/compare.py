"""`sth remote compare` (api/routes/compare.py): one evaluator's results, or the training histories, side by side
per model or per setting, as a table (80 columns), JSON, CSV or a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from cli.remote import console, http
from cli.remote.app import remote


@remote.command("compare")
def compare(
    evaluator: Annotated[str | None, typer.Option("--evaluator", "-e", help="whose results to compare")] = None,
    model: Annotated[list[str] | None, typer.Option("--model", "-m", help="a model id (repeatable)")] = None,
    setting: Annotated[list[str] | None, typer.Option("--setting", help="a setting id (repeatable)")] = None,
    sweep: Annotated[str | None, typer.Option("--sweep", help="a sweep id: the models it trained")] = None,
    group_by: Annotated[str, typer.Option(help="model, or setting: mean and 95% t interval over seeds")] = "model",
    fmt: Annotated[str, typer.Option("--format", help="table, json, csv, png or svg")] = "csv",
    to: Annotated[Path | None, typer.Option("--out", help="write to this file instead of the terminal")] = None,
    history: Annotated[bool, typer.Option("--history", help="compare how they learned (per-epoch metrics) "
                                          "instead of an evaluator's results")] = False,
) -> None:  # fmt: skip
    """Results of one evaluator (or, with --history, the training histories) side by side: per model, or per
    setting (mean over its seeds with a 95% t interval)."""
    if (evaluator is None) == (not history):
        console.err.print("[red]error:[/red] name an evaluator (-e NAME) or ask for --history, not both")
        raise typer.Exit(2)
    if history and fmt == "table":
        console.err.print("[red]error:[/red] --history gives json, csv, png or svg")
        raise typer.Exit(2)
    params = {"model_id": model or [], "setting": setting or [], "group_by": group_by,
              "format": "json" if fmt == "table" else fmt, **({"sweep_id": sweep} if sweep else {}),
              **({} if history else {"evaluator": evaluator})}  # fmt: skip
    response = http.call("GET", "/v1/compare/history" if history else "/v1/compare", params=params)
    if fmt == "table":
        console.out.print(_compare_table(response.json()))
        return
    if to is not None:
        to.write_bytes(response.content)
        console.out.print(f"wrote {to}")
    elif fmt in ("png", "svg"):
        console.err.print("[red]error:[/red] figures need --out FILE")
        raise typer.Exit(2)
    else:
        typer.echo(response.text)


def _plus_minus(interval: dict[str, Any] | None, digits: int = 3) -> str:
    """mean +- half-width of its 95% interval ("mean" alone for n = 1)."""
    if not interval or interval.get("mean") is None:
        return "-"
    if interval.get("high") is None:
        return f"{interval['mean']:.{digits}f}"
    return f"{interval['mean']:.{digits}f}+-{(interval['high'] - interval['low']) / 2:.{digits}f}"


def _compare_table(data: dict[str, Any]) -> Table:
    """compare's JSON as a table: per group (and result label), n, clean accuracy R0, R0/U0 and the headline: the
    normalised AUC and the accuracy at the largest strength of a curve, the score and success of a report."""
    curve = data["kind"] == "curve"
    last = {g["points"][-1]["strength"] for g in data["groups"] if g.get("points")} if curve else set()
    at = f"acc at {next(iter(last)):g}" if len(last) == 1 else "at max"
    first = Column("model" if data["group_by"] == "model" else "setting", ratio=1, overflow="fold")
    table = Table(first, "n", "R0", "R0/U0", *(("AUC", at) if curve else ("score", "success")),
                  title=f"{data['evaluator']}: per {data['group_by']}",
                  caption="mean over the group's models (seeds) +- half-width of the 95% Student t interval (none "
                  "for n = 1); R0 clean accuracy, U0 its unregularized twin's; " + (
                      "AUC normalised area under the curve; accuracy at the largest strength" if curve else
                      "score mean over repeats of the median ||d||^2/D over successes"))  # fmt: skip
    for g in data["groups"]:
        label = g["label"] if g["result_label"] in ("", data["evaluator"]) else f"{g['label']} {g['result_label']}"
        ratio = "-" if g.get("r0_u0") is None else f"{g['r0_u0']:.3f}"
        if curve:
            end = g["points"][-1] if g.get("points") else None
            suffix = f" ({end['strength']:g})" if end and at == "at max" else ""
            headline = (_plus_minus(g["auc"]), f"{_plus_minus(end)}{suffix}" if end else "-")
        else:
            headline = (_plus_minus(g["score"], 5), _plus_minus(g["success_rate"], 2))
        table.add_row(label, str(g["n"]), _plus_minus(g["r0"]), ratio, *headline)
    if data.get("missing"):
        table.caption = f"{table.caption}; without a result: {', '.join(m[:8] for m in data['missing'])}"
    return table
