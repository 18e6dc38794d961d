"""`sth evaluate`: run evaluators on a checkpoint, write JSON and CSV (and figures), print a summary."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


def parse_param(text: str) -> tuple[str, Any]:
    """KEY=VALUE with VALUE parsed as JSON when it is JSON (numbers, lists, null), else kept as a string."""
    if "=" not in text:
        raise ValueError(f"--param takes KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


def build_params(
    attacks: list[str], shortcuts: dict[str, Any], pairs: list[str], thorough: bool = False
) -> dict[str, dict[str, Any]]:
    """Per evaluator: the shortcut flags it has, then each --param. `KEY=VALUE` goes to every chosen evaluator
    that has KEY (an error if none has it); `EVALUATOR.KEY=VALUE` goes to that one only. `thorough` gives the
    minimal-perturbation attacks THOROUGH_FACTOR times their default steps (unless steps are given)."""
    from sthlib.evalspecs import THOROUGH_FACTOR, eval_spec

    fields = {a: {f.name for f in dataclasses.fields(eval_spec(a).params)} for a in attacks}
    params = {a: {k: v for k, v in shortcuts.items() if v is not None and k in fields[a]} for a in attacks}
    for a in attacks:
        spec = eval_spec(a)
        if thorough and spec.kind == "perturbation" and "steps" not in params[a]:
            params[a]["steps"] = THOROUGH_FACTOR * spec.params().steps  # type: ignore[attr-defined]
    for text in pairs:
        key, value = parse_param(text)
        scope, _, name = key.rpartition(".")
        targets = [scope] if scope else [a for a in attacks if name in fields[a]]
        if scope and scope not in attacks:
            raise ValueError(f"--param {key}: {scope!r} is not one of the chosen evaluators ({', '.join(attacks)})")
        if not targets:
            known = sorted(set().union(*fields.values()))
            raise ValueError(f"unknown parameter {name!r} for {', '.join(attacks)}; known: {', '.join(known)}")
        if name == "source" and isinstance(value, str):  # a path: the checkpoint of a local source model
            value = {"kind": "checkpoint", "ref": value}
        for target in targets:
            params[target][name] = value
    return params


def write_results(results: list[Any], out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for result in results:
        suffix = result.params.get("corruption", "")
        name = f"{stem}_{result.evaluator}{'_' + suffix if suffix else ''}"
        for ext, text in (("json", result.to_json()), ("csv", result.to_csv())):
            path = out / f"{name}.{ext}"
            path.write_text(text)
            written.append(path)
    return written


def summary_tables(results: list[Any]) -> list[Table]:
    """One table for the curves and one for the minimal-perturbation reports (each fits 80 columns)."""
    from sthlib.evaluate.metrics import normalized_auc

    curves = Table("evaluator", "detail", "clean acc", "normalised AUC")
    reports = Table("evaluator", "images", "steps", "start", "success", "||d||^2/D score", "half-power f",
                    caption="score: mean over repeats of the median ||d||^2/D over successes (the paper's), +- its "
                    "sample std over repeats; images: n x repeats; success: mean over repeats")  # fmt: skip
    for r in results:
        if hasattr(r, "points"):
            detail = r.params.get("corruption", "") or f"{r.x_name} up to {max(r.strengths):g}"
            curves.add_row(r.evaluator, detail, f"{r.clean_accuracy:.4f}", f"{normalized_auc(r):.4f}")
        else:
            s, spectrum = r.summary, r.spectrum or {}
            half = spectrum.get("half_power_frequency")
            std = "" if math.isnan(s.score_std) else f" +- {s.score_std:.5f}"
            reports.add_row(r.evaluator, f"{r.n} x {len(r.success)}", str(r.params["steps"]), r.params["start"],
                            f"{s.success_rate:.3f}", f"{s.score:.5f}{std}",
                            "" if half is None else f"{half:.3f}")  # fmt: skip
    return [t for t in (curves, reports) if t.row_count]


def run_evaluations(
    checkpoint: Path, attacks: list[str], shortcuts: dict[str, Any], pairs: list[str], device: str, out: Path,
    plot: bool, console: Console, thorough: bool = False,
) -> list[Any]:  # fmt: skip
    from sthlib.evaluate import evaluate, get_evaluator, load_classifier
    from sthlib.train import resolve_device

    params = build_params(attacks, shortcuts, pairs, thorough)
    evaluators = [get_evaluator(a, **params[a]) for a in attacks]  # validate everything before loading
    loaded = load_classifier(checkpoint, device=resolve_device(device))
    results: list[Any] = []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=console) as bar:
        for evaluator in evaluators:
            task = bar.add_task(evaluator.name, total=1.0)

            def advance(fraction: float, task: TaskID = task) -> None:
                bar.update(task, completed=fraction)

            found = evaluate(loaded, evaluator, progress=advance)
            bar.update(task, completed=1.0)
            written = write_results(found, out, loaded.classifier.name)
            console.log(f"{evaluator.name}: {len(found)} result(s) -> {out} ({len(written)} files)")
            results.extend(found)
    if plot:
        write_figures(results, out, loaded.classifier.name, console)
    return results


def write_figures(results: list[Any], out: Path, stem: str, console: Console) -> None:
    from sthlib.evaluate.metrics import corruption_table
    from sthlib.evaluate.plots import plot_corruptions, plot_curves, plot_spectra, save_figure

    curves = [r for r in results if hasattr(r, "points") and r.evaluator != "corruption"]
    for evaluator in sorted({c.evaluator for c in curves}):
        save_figure(plot_curves([c for c in curves if c.evaluator == evaluator], title=evaluator),
                    out / f"{stem}_{evaluator}")  # fmt: skip
    for r in results:
        if not hasattr(r, "points") and r.spectrum:
            save_figure(plot_spectra({stem: r.spectrum}, title=f"{r.evaluator} perturbation spectrum"),
                        out / f"{stem}_{r.evaluator}_spectrum")  # fmt: skip
    corruptions = [r for r in results if hasattr(r, "points") and r.evaluator == "corruption"]
    if corruptions:
        save_figure(plot_corruptions({stem: corruption_table(corruptions)}), out / f"{stem}_corruption")
    console.log(f"figures (PNG and SVG) -> {out}")
