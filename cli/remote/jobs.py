"""`sth remote` for jobs (api/routes/jobs.py): queue a training, an evaluation or a sweep, follow one, list
them, read a job, its log lines or a sweep's table, cancel and retry."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from cli.remote import console, follow, http
from cli.remote.app import remote

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
    body = {"preset": preset, "spec": http.pairs(set_), "idempotency_key": key, "device": device}
    job = http.call("POST", "/v1/train-jobs", json=body).json()
    follow.say_waiting(job)
    if not wait:
        console.out.print(job["id"])
        return
    follow.succeeded(job["id"])
    typer.echo(http.call("GET", f"/v1/jobs/{job['id']}").json()["model_id"])


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
    body = {"model_id": model_id, "evaluators": _calls(attack, http.pairs(param), source), "device": device}
    job = http.call("POST", "/v1/eval-jobs", json=body).json()
    follow.say_waiting(job)
    if wait:
        follow.succeeded(job["id"])
    typer.echo(job["id"])


def _calls(attacks: list[str], params: dict[str, Any], source: str | None) -> list[dict[str, Any]]:
    """The evaluators of a request; --source goes to the ones that attack with a source model (transfer_fgsm)."""
    from sthlib.evalspecs import attacks_with_source

    calls = []
    for a in attacks:
        given = {"source_model_id": source} if source and attacks_with_source(a) else {}
        calls.append({"name": a, "params": params.get(a, {}), **given})
    return calls


@remote.command("watch")
def watch(job_id: str) -> None:
    """Follow a job's progress and log lines until it ends (server-sent events)."""
    status = follow.follow_job(job_id)
    console.out.print(f"job {job_id}: {status}")
    if status != "succeeded":
        raise typer.Exit(1)


@remote.command("jobs")
def jobs(
    status: Annotated[str | None, typer.Option()] = None, owner: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="train, evaluate or sweep")] = None,
    sweep: Annotated[str | None, typer.Option(help="a sweep's children")] = None,
    setting: Annotated[str | None, typer.Option(help="the jobs of a setting")] = None,
    as_json: console.JsonFlag = False,
) -> None:  # fmt: skip
    """The team's newest jobs (the model a training made: `sth remote job ID`, or --json)."""
    params = {k: v for k, v in {"status": status, "owner": owner, "kind": kind, "parent_id": sweep,
                                "setting": setting}.items() if v}  # fmt: skip
    items = http.call("GET", "/v1/jobs", params=params).json()["items"]
    if as_json:
        console.out.print_json(data=items)
        return
    table = Table(console.ID_COLUMN(), "kind", "status", "owner", Column("done", justify="right"))
    for j in items:
        status = j["status"] + (f"\n[yellow]{j['waiting_for']}[/yellow]" if j.get("waiting_for") else "")
        table.add_row(j["id"], j["kind"], status, j["owner"], f"{j['progress'].get('fraction', 0):.0%}")
    console.out.print(table)


@remote.command("job")
def job(job_id: str) -> None:
    """One job as JSON."""
    console.out.print_json(data=http.call("GET", f"/v1/jobs/{job_id}").json())


@remote.command("logs")
def logs(job_id: str, as_json: console.JsonFlag = False) -> None:
    """A job's log lines, each with its own time (UTC)."""
    lines = http.call("GET", f"/v1/jobs/{job_id}/logs").json()
    if as_json:
        console.out.print_json(data=lines)
        return
    for line in lines:
        level = "" if line["level"] == "info" else f"[yellow]{line['level']}[/yellow] "
        console.out.print(f"[dim]{console.clock(line['created_at'])}[/dim] {level}{line['message']}", highlight=False)


@remote.command("cancel")
def cancel(job_id: str) -> None:
    console.out.print(http.call("POST", f"/v1/jobs/{job_id}/cancel").json()["status"])


@remote.command("retry")
def retry(job_id: str) -> None:
    """Queue a failed or cancelled job again (its spec checked again); prints the new job's id."""
    console.out.print(http.call("POST", f"/v1/jobs/{job_id}/retry").json()["id"])


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
    scoped = http.pairs(param)
    body = {"preset": preset, "spec": http.pairs(set_), "grid": points, "seeds": seed or [0],
            "evaluators": _calls(attack, scoped, source),
            "select_by": select_by, "min_r0_u0": min_r0_u0, "device": device}  # fmt: skip
    job = http.call("POST", "/v1/sweeps", json=body).json()
    follow.say_waiting(job)
    console.out.print(job["id"])


@remote.command("sweep-result")
def sweep_result(sweep_id: str, as_json: console.JsonFlag = False) -> None:
    """A finished sweep's table: each setting's clean accuracy R0, R0/U0, robustness (AUC) and the selected one;
    then what the sweep warns about (a choice no better than the baseline, an undertrained baseline)."""
    sweep = http.call("GET", f"/v1/jobs/{sweep_id}").json()
    result = sweep.get("result")
    if not result:
        console.err.print(f"sweep {sweep_id} is {sweep['status']}: no result yet ({sweep['progress']})")
        raise typer.Exit(1)
    if as_json:
        console.out.print_json(data=result)
        return
    table = Table("setting", "models", "R0", "R0/U0", f"AUC {result['select_by']}", "eligible", "selected",
                  title=f"U0 = {result['u0']:.4f}, keep R0/U0 >= {result['min_r0_u0']}")  # fmt: skip
    chosen = (result["selected"] or {}).get("values")
    for row in [result["baseline"], *result["settings"]]:
        label = json.dumps(row["values"]) if row["values"] else "baseline (alpha 0)"
        table.add_row(label, str(len(row["models"])), f"{row['r0']:.4f}", f"{row['r0_u0']:.3f}", f"{row['auc']:.4f}",
                      "yes" if row["eligible"] else "no", "<-" if row["values"] == chosen else "")  # fmt: skip
    console.out.print(table)
    if result.get("source_model"):
        console.out.print(
            f"transfer_fgsm attacked with the sweep's unregularized source model {result['source_model']}"
        )
    for warning in result.get("warnings", []):
        console.out.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
