"""sth: train and inspect S^Th-regularized models from the command line."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

app = typer.Typer(
    help="STh Lab: pixel-similarity regularized training and robustness evaluation.", no_args_is_help=True
)
console = Console(stderr=True)


def _admin() -> None:
    from cli.admin import admin
    from cli.remote import remote
    from cli.serve import serve
    from cli.worker import worker

    app.add_typer(admin, name="admin")
    app.add_typer(remote, name="remote")
    app.command(help="Start the API and its workers (embedded default: SQLite, filesystem broker).")(serve)
    app.command()(worker)


_admin()

Opt = typer.Option


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


@app.command()
def train(
    preset: Annotated[str, Opt(help="start from a preset (see `sth presets`)")] = "quick",
    dataset: Annotated[str | None, Opt(help="classification dataset, or npz:PATH")] = None,
    arch: Annotated[str | None, Opt(help="resnet18, resnet18_narrow, resnet34, resnet50 or small_cnn")] = None,
    epochs: Annotated[int | None, Opt()] = None,
    batch_size: Annotated[int | None, Opt()] = None,
    lr: Annotated[float | None, Opt(help="peak SGD learning rate")] = None,
    color: Annotated[str | None, Opt(help="gray or rgb")] = None,
    train_limit: Annotated[int | None, Opt(help="use only this many training images")] = None,
    test_limit: Annotated[int | None, Opt(help="evaluate on only this many test images")] = None,
    seed: Annotated[int | None, Opt()] = None,
    alpha: Annotated[float | None, Opt(help="regularization weight; 0 trains the unregularized baseline")] = None,
    reg_dataset: Annotated[str | None, Opt(help="regularization images (default: the task's dataset)")] = None,
    n_images: Annotated[int | None, Opt(help="N regularization images")] = None,
    threshold: Annotated[float | None, Opt(help="Th in (0, 1)")] = None,
    variant: Annotated[str | None, Opt(help="all, high, low, positive, negative, double, continuous")] = None,
    threshold_low: Annotated[float | None, Opt(help="Th2 for variant double")] = None,
    reg_augment: Annotated[str | None, Opt(help="auto, frozen (one seeded crop+flip, CIFAR's default) or none")] = None,
    pairs: Annotated[int | None, Opt(help="k pairs per step")] = None,
    loss: Annotated[str | None, Opt(help="arctanh_square or mse")] = None,
    fused: Annotated[bool | None, Opt("--fused/--two-pass", help="one pass over both halves of the pairs")] = None,
    device: Annotated[str, Opt(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    out: Annotated[Path, Opt(help="where to write the best checkpoint")] = Path("runs/model.safetensors"),
    resume: Annotated[Path | None, Opt(help="continue from a training state written by an earlier run")] = None,
    quiet: Annotated[bool, Opt(help="no progress bar")] = False,
) -> None:
    """Train a model (a preset, changed by any flag given) and write its best-validation checkpoint."""
    from cli.progress import RichProgress, history_table
    from sthlib.specs import preset as get_preset
    from sthlib.train import Callback, EpochCheckpoint, Trainer

    changes: dict[str, Any] = {
        "dataset": dataset, "arch": arch, "epochs": epochs, "batch_size": batch_size, "lr": lr, "color": color,
        "train_limit": train_limit, "test_limit": test_limit, "seed": seed, "reg.alpha": alpha,
        "reg.dataset": reg_dataset, "reg.n_images": n_images, "reg.threshold": threshold, "reg.variant": variant,
        "reg.threshold_low": threshold_low, "reg.pairs_per_step": pairs, "reg.loss": loss, "reg.fused": fused,
        "reg.augment": reg_augment,
    }  # fmt: skip
    state_path = out.with_suffix(".state.safetensors")
    callbacks: list[Callback] = [EpochCheckpoint(state_path)]
    if not quiet:
        callbacks.append(RichProgress(console))
    try:
        if resume is not None:
            trainer = Trainer.resume(resume, device, callbacks)
        else:
            spec = get_preset(preset, **{k: v for k, v in changes.items() if v is not None})
            trainer = Trainer(spec, device, callbacks)
    except ValueError as e:
        _fail(str(e))
    console.print(f"training on {trainer.device}: {trainer.spec.to_json()}")
    try:
        result = trainer.fit()
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/yellow]; continue with: sth train --resume {state_path}")
        raise typer.Exit(130) from None
    trainer.save_best(out)
    console.print(history_table(result.history, result.best_epoch))
    console.print(f"checkpoint (epoch {result.best_epoch}): {out}\ntraining state: {state_path}")


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Argument(help="a checkpoint written by `sth train`")],
    attack: Annotated[list[str], Opt("--attack", "-a", help="evaluator (repeatable): see `sth evaluators`")],
    param: Annotated[list[str] | None, Opt("--param", "-p", help="KEY=VALUE (JSON values), repeatable")] = None,
    n_images: Annotated[int | None, Opt(help="a seeded random subset of the test split")] = None,
    seed: Annotated[int | None, Opt()] = None,
    steps: Annotated[int | None, Opt(help="attack iterations (boundary, hopskipjump, pgd)")] = None,
    thorough: Annotated[bool, Opt(help="boundary/hopskipjump: 4x their default steps (checks convergence)")] = False,
    repeats: Annotated[int | None, Opt(help="boundary/hopskipjump repeats (default 5, the paper's)")] = None,
    start: Annotated[str | None, Opt(help="boundary/hopskipjump: best (default), nearest or reference")] = None,
    source: Annotated[Path | None, Opt(help="transfer_fgsm: the unregularized source checkpoint")] = None,
    device: Annotated[str, Opt(help="auto, cpu, cuda ...")] = "auto",
    out: Annotated[Path, Opt(help="folder for JSON, CSV and figures")] = Path("runs/eval"),
    plot: Annotated[bool, Opt("--plot/--no-plot", help="also write PNG and SVG figures")] = True,
) -> None:
    """Evaluate a checkpoint: noise curves, transferred/white-box FGSM, PGD, boundary and HopSkipJump attacks,
    common corruptions. Writes one JSON and one CSV per result."""
    from cli.evaluate import run_evaluations, summary_tables

    checkpoint_source = {"kind": "checkpoint", "ref": str(source)} if source else None
    shortcuts = {"n_images": n_images, "seed": seed, "repeats": repeats, "source": checkpoint_source,
                 "steps": steps, "start": start}  # fmt: skip
    try:
        results = run_evaluations(checkpoint, attack, shortcuts, param or [], device, out, plot, console, thorough)
    except ValueError as e:
        _fail(str(e))
    for table in summary_tables(results):
        Console().print(table)


@app.command()
def evaluators() -> None:
    """List the evaluators and their parameters with defaults."""
    from sthlib.evalspecs import EVAL_SPECS

    table = Table("evaluator", "kind", "parameters (defaults)", "what it does")
    for spec in EVAL_SPECS.values():
        params = ", ".join(f"{p['name']}={p['default']}" for p in spec.catalogue()["parameters"])
        table.add_row(spec.name, spec.kind, params, spec.description)
    Console().print(table)


@app.command()
def presets() -> None:
    """List the presets: the paper's (task + regularization data) table, the quick demo and the smoke check."""
    from sthlib.specs import PRESETS

    # the datasets go in the caption (the paper's presets are named TASK+REG): 8 columns do not fit 80
    others = ", ".join(f"{name} on {spec.dataset}" for name, spec in sorted(PRESETS.items()) if "+" not in name)
    table = Table("arch", "epochs", "alpha", "Th", "N", caption=f"TASK+REG: the paper's table (task and "
                  f"regularization data); {others}")  # fmt: skip
    table.columns.insert(0, Column("preset", no_wrap=True))
    for name, spec in sorted(PRESETS.items()):
        reg = spec.reg
        table.add_row(name, spec.arch, str(spec.epochs), str(reg.alpha), str(reg.threshold), str(reg.n_images))
    Console().print(table)


@app.command()
def datasets() -> None:
    """Which datasets are on this machine, and how to provide the missing ones."""
    from sthlib.data import availability, dataset_names

    table = Table("dataset", "available", "where / how to provide")
    for name in dataset_names():
        a = availability(name)
        table.add_row(name, "yes" if a.available else "no", a.location or a.how_to_provide)
    Console().print(table)


@app.command()
def similarity(
    dataset: str,
    threshold: Annotated[float, Opt(help="Th to report the selected fractions at")] = 0.8,
    threshold_low: Annotated[float | None, Opt(help="Th2, to report variant double")] = None,
    n_images: Annotated[int, Opt(help="the first N training images (as the regularizer's reg.n_images)")] = 5000,
    color: Annotated[str, Opt()] = "gray",
    as_json: Annotated[bool, Opt("--json", help="print JSON")] = False,
) -> None:
    """Histogram of the pixel similarity S and what each variant selects at a threshold: choose Th with it."""
    from sthlib.data import load_dataset
    from sthlib.simstats import similarity_summary, unit_vectors

    try:
        images, _ = load_dataset(dataset, "train", color)
        summary = similarity_summary(unit_vectors(images[:n_images]), threshold, threshold_low)
    except ValueError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(summary.to_dict()))
        return
    print_summary(dataset, summary.to_dict())


@app.command()
def reproduce(
    protocol: Annotated[str, typer.Argument(help="a protocol (`sth reproduce --list`)")] = "",
    seeds: Annotated[str | None, Opt(help="comma-separated seeds (default: the protocol's)")] = None,
    set_: Annotated[list[str] | None, Opt("--set", "-s", help="KEY=VALUE change of the S^Th setting")] = None,
    local: Annotated[
        bool,
        Opt(
            "--local",
            help="run here, without the service (default: a report job on the service at STH_URL, with STH_API_KEY)",
        ),
    ] = False,
    out: Annotated[Path | None, Opt(help="folder for the report (default runs/report-PROTOCOL)")] = None,
    device: Annotated[str, Opt(help="auto, cpu, cuda ...")] = "auto",
    list_: Annotated[bool, Opt("--list", help="list the protocols with their expected durations")] = False,
) -> None:
    """Re-run the paper's claims at a budget: baseline and S^Th per seed, every evaluation, a report with a verdict
    per claim (report.json and report.html; with --local also results.json)."""
    from cli.evaluate import parse_param
    from sthlib.reproduce.protocols import PROTOCOLS, get_protocol
    from sthlib.specs import nest_dotted
    from sthlib.validation import SpecError

    if list_ or not protocol:
        table = Table("protocol", Column("what and how long", ratio=1), title="reproduction protocols")
        for p in PROTOCOLS.values():
            if not p.test_only:
                table.add_row(p.name, f"{p.description}. {p.duration}")
        Console().print(table)
        return
    try:
        chosen = get_protocol(protocol, test_only_ok=True)
        seed_list = [int(s) for s in seeds.split(",")] if seeds else None
        changes = nest_dotted(dict(parse_param(item) for item in set_ or []))
        chosen.sweep(seed_list, changes)  # refuses a bad change before anything trains
    except (SpecError, ValueError) as e:
        _fail(str(e))
    folder = out or Path(f"runs/report-{protocol}")
    if local:
        from sthlib.reproduce.local import run_local
        from sthlib.train import resolve_device

        report = run_local(chosen, seed_list, changes, folder, device=str(resolve_device(device)), say=console.print)
    else:
        report = _remote_report(protocol, seed_list, changes, folder)
    counts = ", ".join(f"{n} {verdict}" for verdict, n in report["summary"].items() if n)
    table = Table("claim", "verdict", Column("why", ratio=1), title=f"{protocol}: {counts}")
    for claim in report["claims"]:
        table.add_row(claim["id"], claim["verdict"], claim["reason"])
    Console().print(table)


def _remote_report(protocol: str, seeds: list[int] | None, changes: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The report job on the service (STH_URL, STH_API_KEY): queued, followed, then its JSON and page saved."""
    from cli.remote.follow import succeeded
    from cli.remote.http import call

    body = {"protocol": protocol, "changes": changes, **({"seeds": seeds} if seeds else {})}
    job = call("POST", "/v1/reports", json=body).json()
    console.print(f"report job {job['id']}: {job.get('label') or protocol}")
    succeeded(job["id"])
    report: dict[str, Any] = call("GET", f"/v1/reports/{job['id']}").json()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=1))
    (folder / "report.html").write_bytes(call("GET", f"/v1/reports/{job['id']}/html").content)
    console.print(f"wrote {folder / 'report.json'} and {folder / 'report.html'}")
    return report


def print_summary(dataset: str, summary: dict[str, Any]) -> None:
    """The selected fractions of a similarity summary (local or from the API) as a table."""
    table = Table("variant", "fraction of pairs", title=f"{dataset}: N={summary['n']}, Th={summary['threshold']}")
    for name, fraction in summary["selected_fraction"].items():
        table.add_row(name, f"{fraction:.4f}")
    for name, fraction in summary["target_fraction"].items():
        table.add_row(f"target {name}", f"{fraction:.4f}")
    Console().print(table)


@app.callback()
def main(verbose: Annotated[bool, Opt("--verbose", "-v")] = False) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)


if __name__ == "__main__":
    app()
