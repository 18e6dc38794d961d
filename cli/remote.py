"""`sth remote`: the REST API from the command line (STH_URL, STH_API_KEY)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Column, Table

from cli.events import follow

remote = typer.Typer(help="Use a running STh Lab server (STH_URL, default http://127.0.0.1:8000; STH_API_KEY).")
out = Console()
err = Console(stderr=True)


def ID_COLUMN() -> Column:
    return Column("id", no_wrap=True, min_width=32)  # ids are copied into other commands: never cut them


def client() -> httpx.Client:
    key = os.environ.get("STH_API_KEY", "")
    if not key:
        err.print("[red]error:[/red] set STH_API_KEY (printed by `sth serve`, or `sth admin create-key NAME`)")
        raise typer.Exit(2)
    url = os.environ.get("STH_URL", "http://127.0.0.1:8000")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def call(method: str, path: str, **kwargs: Any) -> Any:
    with client() as c:
        response = c.request(method, path, **kwargs)
    if response.status_code >= 400:
        try:
            error = response.json()["error"]
            message = error["message"]
        except (ValueError, KeyError):
            message = response.text
        err.print(f"[red]error {response.status_code}:[/red] {message}")
        raise typer.Exit(1)
    return response


def _pairs(items: list[str] | None) -> dict[str, Any]:
    """KEY=VALUE (JSON values) into a nested dict: reg.alpha=4 -> {"reg": {"alpha": 4}}."""
    from cli.evaluate import parse_param
    from sthlib.specs import nest_dotted

    return nest_dotted(dict(parse_param(item) for item in items or []))


WaitFlag = Annotated[bool, typer.Option("--wait", help="follow the job (on stderr) until it ends; exit 1 unless "
                                      "it succeeded")]  # fmt: skip
DeviceOption = Annotated[str, typer.Option("--device", help="the kind of worker that may run it: any, gpu or cpu "
                                           "(`sth remote workers` lists them)")]  # fmt: skip


@remote.command("train")
def submit_train(
    preset: Annotated[str, typer.Option()] = "quick",
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="KEY=VALUE, e.g. reg.alpha=0")] = None,
    key: Annotated[str | None, typer.Option(help="idempotency key")] = None,
    device: DeviceOption = "any",
    wait: WaitFlag = False,
) -> None:  # fmt: skip
    """Queue a training job; prints its id (with --wait: follows it, then prints the trained model's id)."""
    body = {"preset": preset, "spec": _pairs(set_), "idempotency_key": key, "device": device}
    job = call("POST", "/v1/train-jobs", json=body).json()
    _say_waiting(job)
    if not wait:
        out.print(job["id"])
        return
    _succeeded(job["id"])
    typer.echo(call("GET", f"/v1/jobs/{job['id']}").json()["model_id"])


@remote.command("evaluate")
def submit_eval(
    model_id: str,
    attack: Annotated[list[str], typer.Option("--attack", "-a")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="EVALUATOR.KEY=VALUE")] = None,
    source: Annotated[str | None, typer.Option(help="transfer_fgsm source model id")] = None,
    device: DeviceOption = "any",
    wait: WaitFlag = False,
) -> None:  # fmt: skip
    """Queue evaluators on a model; prints the job id (with --wait: once the job has succeeded)."""
    body = {"model_id": model_id, "evaluators": _calls(attack, _pairs(param), source), "device": device}
    job = call("POST", "/v1/eval-jobs", json=body).json()
    _say_waiting(job)
    if wait:
        _succeeded(job["id"])
    typer.echo(job["id"])


def _say_waiting(job: dict[str, Any]) -> None:
    """A queued job that no live worker can take says so (on stderr), instead of waiting silently."""
    if job.get("waiting_for"):
        err.print(f"[yellow]job {job['id']} waits:[/yellow] {job['waiting_for']}", highlight=False)


def _calls(attacks: list[str], params: dict[str, Any], source: str | None) -> list[dict[str, Any]]:
    """The evaluators of a request; --source goes to the ones that attack with a source model (transfer_fgsm)."""
    from sthlib.evalspecs import attacks_with_source

    calls = []
    for a in attacks:
        given = {"source_model_id": source} if source and attacks_with_source(a) else {}
        calls.append({"name": a, "params": params.get(a, {}), **given})
    return calls


def _events(c: httpx.Client, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        yield from follow(c, job_id)
    except httpx.HTTPStatusError as e:
        try:
            message = e.response.json()["error"]["message"]
        except (ValueError, KeyError):
            message = e.response.text
        err.print(f"[red]error {e.response.status_code}:[/red] {message}")
        raise typer.Exit(1) from None
    except httpx.TransportError as e:
        err.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None


@remote.command("watch")
def watch(job_id: str) -> None:
    """Follow a job's progress and log lines until it ends (server-sent events)."""
    status = _follow(job_id)
    out.print(f"job {job_id}: {status}")
    if status != "succeeded":
        raise typer.Exit(1)


def _succeeded(job_id: str) -> None:
    """--wait: follow the job; a job that did not succeed ends the command (exit 1) with its error."""
    status = _follow(job_id)
    if status != "succeeded":
        error = call("GET", f"/v1/jobs/{job_id}").json().get("error") or {}
        err.print(f"[red]error:[/red] job {job_id} {status}: {error.get('message', '')}".rstrip(": "), highlight=False)
        raise typer.Exit(1)


def _follow(job_id: str) -> str:
    """Progress bar and log lines on stderr until the job ends; its final status."""
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    status = "?"
    _say_waiting(call("GET", f"/v1/jobs/{job_id}").json())
    with client() as c, Progress(*columns, console=err) as bar:
        task = bar.add_task(job_id[:8], total=1.0)
        for event, data in _events(c, job_id):
            if event == "log":
                bar.console.print(f"[dim]{_clock(data.get('at'))}[/dim] {data['message']}", highlight=False)
            elif event == "progress":
                progress = data.get("progress", {})
                status = data["status"]
                bar.update(task, completed=progress.get("fraction", 0.0),
                           description=f"{job_id[:8]} {status} {progress.get('phase', '')}")  # fmt: skip
            elif event == "end":
                status = data["status"]
    return status


JsonFlag = Annotated[bool, typer.Option("--json", help="print the API's JSON instead of a table")]


def _clock(at: str | None) -> str:
    """An ISO timestamp as the UTC date and time a log line carries (YYYY-MM-DD HH:MM:SS)."""
    return (at or "")[:19].replace("T", " ")


@remote.command("jobs")
def jobs(
    status: Annotated[str | None, typer.Option()] = None, owner: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="train, evaluate or sweep")] = None,
    sweep: Annotated[str | None, typer.Option(help="a sweep's children")] = None,
    setting: Annotated[str | None, typer.Option(help="the jobs of a setting")] = None,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """The team's newest jobs (the model a training made: `sth remote job ID`, or --json)."""
    params = {k: v for k, v in {"status": status, "owner": owner, "kind": kind, "parent_id": sweep,
                                "setting": setting}.items() if v}  # fmt: skip
    items = call("GET", "/v1/jobs", params=params).json()["items"]
    if as_json:
        out.print_json(data=items)
        return
    table = Table(ID_COLUMN(), "kind", "status", "owner", Column("done", justify="right"))
    for j in items:
        status = j["status"] + (f"\n[yellow]{j['waiting_for']}[/yellow]" if j.get("waiting_for") else "")
        table.add_row(j["id"], j["kind"], status, j["owner"], f"{j['progress'].get('fraction', 0):.0%}")
    out.print(table)


@remote.command("workers")
def workers(as_json: JsonFlag = False) -> None:
    """The workers (alive first): kind (gpu or cpu: the jobs each takes), device, when last seen, its job now."""
    items = call("GET", "/v1/workers").json()
    if as_json:
        out.print_json(data=items)
        return
    table = Table(Column("name", no_wrap=True), "kind", "device", "alive", "last seen (UTC)", "job")
    for w in items:
        table.add_row(w["name"], w["kind"], w["device"], "yes" if w["alive"] else "no", _clock(w["last_seen"]),
                      w["running_job"] or "")  # fmt: skip
    out.print(table)
    if not any(w["alive"] for w in items):
        err.print("no live worker: start one with `sth worker` (docs/multinode.md)")


@remote.command("job")
def job(job_id: str) -> None:
    """One job as JSON."""
    out.print_json(data=call("GET", f"/v1/jobs/{job_id}").json())


@remote.command("logs")
def logs(job_id: str, as_json: JsonFlag = False) -> None:
    """A job's log lines, each with its own time (UTC)."""
    lines = call("GET", f"/v1/jobs/{job_id}/logs").json()
    if as_json:
        out.print_json(data=lines)
        return
    for line in lines:
        level = "" if line["level"] == "info" else f"[yellow]{line['level']}[/yellow] "
        out.print(f"[dim]{_clock(line['created_at'])}[/dim] {level}{line['message']}", highlight=False)


@remote.command("cancel")
def cancel(job_id: str) -> None:
    out.print(call("POST", f"/v1/jobs/{job_id}/cancel").json()["status"])


@remote.command("retry")
def retry(job_id: str) -> None:
    """Queue a failed or cancelled job again (its spec checked again); prints the new job's id."""
    out.print(call("POST", f"/v1/jobs/{job_id}/retry").json()["id"])


@remote.command("models")
def models(
    setting: Annotated[str | None, typer.Option(help="the models of a setting (its seeds)")] = None,
    sweep: Annotated[str | None, typer.Option(help="the models a sweep trained")] = None,
    tag: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:  # fmt: skip
    """The team's models: setting (the spec without its seed), seed and clean test accuracy."""
    params = {k: v for k, v in {"setting": setting, "sweep_id": sweep, "tag": tag}.items() if v}
    items = call("GET", "/v1/models", params=params).json()
    if as_json:
        out.print_json(data=items)
        return
    table = Table(ID_COLUMN(), "name", Column("setting", no_wrap=True), "seed", Column("test acc", justify="right"))
    for m in items:
        acc = m["metrics"].get("test_acc")
        table.add_row(m["id"], m["name"], m["setting"] or "", "" if m["seed"] is None else str(m["seed"]),
                      "" if acc is None else f"{acc:.4f}")  # fmt: skip
    out.print(table)


@remote.command("results")
def results(model_id: str, evaluator: Annotated[str | None, typer.Option()] = None, as_json: JsonFlag = False) -> None:
    """A model's results: the headline of each (normalised AUC of a curve, the score of a minimal perturbation
    report); --json for the full curves and reports."""
    if as_json:
        params = {"evaluator": evaluator} if evaluator else {}
        out.print_json(data=call("GET", f"/v1/models/{model_id}/results", params=params).json())
        return
    detail = call("GET", f"/v1/models/{model_id}").json()
    table = Table("evaluator", "label", "kind", "headline", Column("stored (UTC)", no_wrap=True),
                  title=f"{detail['name']} ({detail['setting_label'] or detail['arch']})",
                  caption="curve: clean accuracy and normalised AUC; perturbation: score = mean over repeats of "
                  "the median ||d||^2/D over successes, +- sample std over repeats")  # fmt: skip
    for r in detail["results"]:
        if evaluator and r["evaluator"] != evaluator:
            continue
        table.add_row(r["evaluator"], r["label"], r["kind"], _headline(r["headline"]), _clock(r["created_at"])[:16])
    out.print(table)


def _headline(h: dict[str, Any]) -> str:
    if "error" in h:
        return h["error"]
    if "normalized_auc" in h:
        return f"clean {h['clean_accuracy']:.3f}, AUC {h['normalized_auc']:.3f}"
    std = f" +- {h['score_std']:.5f}" if h.get("score_std") is not None else ""
    return f"{h['score']:.5f}{std} ({h['repeats']} rep., success {h['success_rate']:.2f})"


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
        err.print("[red]error:[/red] name an evaluator (-e NAME) or ask for --history, not both")
        raise typer.Exit(2)
    if history and fmt == "table":
        err.print("[red]error:[/red] --history gives json, csv, png or svg")
        raise typer.Exit(2)
    params = {"model_id": model or [], "setting": setting or [], "group_by": group_by,
              "format": "json" if fmt == "table" else fmt, **({"sweep_id": sweep} if sweep else {}),
              **({} if history else {"evaluator": evaluator})}  # fmt: skip
    response = call("GET", "/v1/compare/history" if history else "/v1/compare", params=params)
    if fmt == "table":
        out.print(_compare_table(response.json()))
        return
    if to is not None:
        to.write_bytes(response.content)
        out.print(f"wrote {to}")
    elif fmt in ("png", "svg"):
        err.print("[red]error:[/red] figures need --out FILE")
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


@remote.command("download")
def download(model_id: str, to: Annotated[Path, typer.Option("--out")] = Path("model.safetensors")) -> None:
    """Download a model's checkpoint and check its sha256."""
    digest = hashlib.sha256()
    with client() as c, c.stream("GET", f"/v1/models/{model_id}/checkpoint") as response:
        if response.status_code >= 400:
            response.read()
            err.print(f"[red]error {response.status_code}:[/red] {response.text}")
            raise typer.Exit(1)
        expected = response.headers["X-Checksum-SHA256"]
        with to.open("wb") as f:
            for chunk in response.iter_bytes():
                digest.update(chunk)
                f.write(chunk)
    if digest.hexdigest() != expected:
        err.print(f"[red]error:[/red] sha256 mismatch: got {digest.hexdigest()}, server says {expected}")
        raise typer.Exit(1)
    out.print(f"{to} (sha256 {expected})")


@remote.command("datasets")
def datasets(as_json: JsonFlag = False) -> None:
    """Built-in and uploaded datasets: the names job specs use, and whether the server has them (and, below the
    table, how to provide the ones it lacks)."""
    items = call("GET", "/v1/datasets").json()
    if as_json:
        out.print_json(data=items)
        return
    table = Table(Column("name", no_wrap=True), "origin", "classes", "shape", "available / owner")
    for d in items:
        where = d["owner"] if d["origin"] == "uploaded" else ("yes" if d["available"] else "no")
        table.add_row(d["name"], d["origin"], str(d["classes"]), f"{d['channels']}x{d['size']}x{d['size']}", where)
    out.print(table)
    for d in items:
        if not d["available"] and d.get("how_to_provide"):
            out.print(f"[bold]{d['name']}[/bold]: {d['how_to_provide']}", highlight=False)


@remote.command("upload-dataset")
def upload_dataset(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=".npz: images, labels (test_images, "
                                         "test_labels)")],
    name: Annotated[str, typer.Argument(help="jobs then name it upload:NAME")],
    description: Annotated[str, typer.Option()] = "",
) -> None:  # fmt: skip
    """Upload a .npz dataset; prints the name to use in job specs (upload:NAME)."""
    with file.open("rb") as f:
        body = call("POST", "/v1/datasets", data={"name": name, "description": description},
                    files={"file": (file.name, f, "application/octet-stream")}, timeout=None).json()  # fmt: skip
    err.print(f"{body['splits']} images, {body['classes']} classes, sha256 {body['sha256']}")
    out.print(body["name"])


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
    summary = call("GET", f"/v1/datasets/{dataset}/similarity", params=params).json()
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        print_summary(summary["dataset"], summary)


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
        body = call("POST", "/v1/models", data=form, files={"file": (file.name, f, "application/octet-stream")},
                    timeout=None).json()  # fmt: skip
    out.print(body["id"])


@remote.command("sweep")
def submit_sweep(
    grid: Annotated[list[str], typer.Option("--grid", "-g", help="FIELD=[VALUES], e.g. reg.alpha=[0.1,1,10]")],
    attack: Annotated[list[str], typer.Option("--attack", "-a", help="evaluators run on every model")],
    preset: Annotated[str, typer.Option()] = "quick",
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="KEY=VALUE shared by every training")] = None,
    seed: Annotated[list[int] | None, typer.Option("--seed", help="repeat for several seeds")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="EVALUATOR.KEY=VALUE")] = None,
    select_by: Annotated[str | None, typer.Option(help="the curve evaluator that ranks settings")] = None,
    min_r0_u0: Annotated[float, typer.Option(help="keep settings with R0/U0 at least this")] = 0.9,
    source: Annotated[str | None, typer.Option(help="transfer_fgsm source model id (default: the sweep trains an "
                                               "unregularized one)")] = None,
    device: DeviceOption = "any",
) -> None:  # fmt: skip
    """Queue a sweep: every grid combination (plus the unregularized baseline) trained and evaluated; prints its id.
    Follow it with `sth remote watch ID`, then `sth remote sweep-result ID`."""
    from cli.evaluate import parse_param

    points = dict(parse_param(g) for g in grid)
    scoped = _pairs(param)
    body = {"preset": preset, "spec": _pairs(set_), "grid": points, "seeds": seed or [0],
            "evaluators": _calls(attack, scoped, source),
            "select_by": select_by, "min_r0_u0": min_r0_u0, "device": device}  # fmt: skip
    job = call("POST", "/v1/sweeps", json=body).json()
    _say_waiting(job)
    out.print(job["id"])


@remote.command("sweep-result")
def sweep_result(sweep_id: str, as_json: JsonFlag = False) -> None:
    """A finished sweep's table: each setting's clean accuracy R0, R0/U0, robustness (AUC) and the selected one;
    then what the sweep warns about (a choice no better than the baseline, an undertrained baseline)."""
    sweep = call("GET", f"/v1/jobs/{sweep_id}").json()
    result = sweep.get("result")
    if not result:
        err.print(f"sweep {sweep_id} is {sweep['status']}: no result yet ({sweep['progress']})")
        raise typer.Exit(1)
    if as_json:
        out.print_json(data=result)
        return
    table = Table("setting", "models", "R0", "R0/U0", f"AUC {result['select_by']}", "eligible", "selected",
                  title=f"U0 = {result['u0']:.4f}, keep R0/U0 >= {result['min_r0_u0']}")  # fmt: skip
    chosen = (result["selected"] or {}).get("values")
    for row in [result["baseline"], *result["settings"]]:
        label = json.dumps(row["values"]) if row["values"] else "baseline (alpha 0)"
        table.add_row(label, str(len(row["models"])), f"{row['r0']:.4f}", f"{row['r0_u0']:.3f}", f"{row['auc']:.4f}",
                      "yes" if row["eligible"] else "no", "<-" if row["values"] == chosen else "")  # fmt: skip
    out.print(table)
    if result.get("source_model"):
        out.print(f"transfer_fgsm attacked with the sweep's unregularized source model {result['source_model']}")
    for warning in result.get("warnings", []):
        out.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
