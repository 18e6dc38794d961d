"""`sth reproduce --local`: a protocol run in this process, without the service. It plans with the same SweepSpec
the service uses, trains and evaluates with the same sthlib code the workers run, and builds the report from the
same inputs, so it writes the same JSON (but for ids and times)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sthlib.jobspecs import EvaluatorCall
from sthlib.reproduce.claims import Cited, ModelResults
from sthlib.reproduce.protocols import Protocol
from sthlib.reproduce.report import ReportInputs, Side, build, figures, header, render_html
from sthlib.specs import TrainSpec
from sthlib.validation import json_safe

Say = Callable[[str], None]


def _evaluate(path: Path, calls: tuple[EvaluatorCall, ...], source: Path | None, device: str,
              key: str) -> list[Cited]:  # fmt: skip
    from sthlib.evaluate import evaluate, get_evaluator, load_classifier

    loaded = load_classifier(path, device=device)
    cited = []
    for call in calls:
        extra = {}
        if call.source is not None:
            if source is None:
                raise ValueError(f"{call.name} needs the protocol's transfer source model")
            extra["source_model"] = load_classifier(source, device=device).classifier
        for result in evaluate(loaded, get_evaluator(call.name, params=call.params, **extra)):
            data = json_safe(result.to_dict())
            label = data.get("params", {}).get("corruption", "") if data["kind"] == "curve" else ""
            cited.append(Cited(f"{key}:{call.name}" + (f":{label}" if label else ""), call.name, label, data))
    return cited


def run_local(protocol: Protocol, seeds: list[int] | None, changes: dict[str, Any] | None, out: Path,
              device: str = "cpu", say: Say = print) -> dict[str, Any]:  # fmt: skip
    """Run the protocol here and write into `out`: report.json, report.html, results.json (every result the
    report cites, by its id) and the trained models; returns the report."""
    from sthlib.train import Trainer

    began = time.perf_counter()
    sweep = protocol.sweep(seeds, changes)
    out.mkdir(parents=True, exist_ok=True)
    trained: dict[tuple[str, int], tuple[Path, dict[str, Any], TrainSpec]] = {}
    for training in sweep.trainings():
        spec, role = training.spec, training.role
        key = f"{role}-s{spec.seed}"
        say(f"training {key}: {spec.setting_label()}")
        trainer = Trainer(spec, device=device)
        result = trainer.fit()
        path = out / "models" / f"{key}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer.save_best(path)
        trained[role, spec.seed] = (path, {"best": result.best.to_dict(),
                                           "history": [m.to_dict() for m in result.history]}, spec)  # fmt: skip
    source = next((p for (role, _), (p, _, _) in trained.items() if role == "source"), None)
    sides: dict[str, list[ModelResults]] = {"baseline": [], "setting": []}
    for (role, seed), (path, metrics, _) in trained.items():
        if role == "source":
            continue
        key = f"{role}-s{seed}"
        say(f"evaluating {key}: {', '.join(c.name for c in sweep.evaluators)}")
        cited = _evaluate(path, sweep.evaluators, source, device, key)
        sides[role].append(ModelResults(key, seed, float(metrics["best"]["test_acc"]), cited,
                                        json_safe(metrics["history"])))  # fmt: skip
    base_spec = sweep.base.replace(**{"reg.alpha": 0.0})
    inputs = ReportInputs(
        protocol=protocol.name, seeds=list(sweep.seeds),
        baseline=Side(base_spec.setting_hash(), base_spec.setting_label(), base_spec.to_dict(), sides["baseline"]),
        sth=Side(sweep.base.setting_hash(), sweep.base.setting_label(), sweep.base.to_dict(), sides["setting"]),
        evaluators=[c.to_dict() for c in sweep.evaluators],
        header=header(sweep, protocol.name, device, time.perf_counter() - began),
    )  # fmt: skip
    report = build(inputs)
    by_id = {r.result_id: r.data for side in sides.values() for m in side for r in m.results}
    (out / "results.json").write_text(json.dumps(by_id))  # what the report cites, by result id
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.html").write_text(render_html(report, figures(inputs)))
    say(f"wrote {out / 'report.json'} and {out / 'report.html'}")
    return report
