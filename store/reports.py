"""A report job's end: its models and their stored results read back as sthlib.reproduce's inputs, the report
built (JSON in the job's result) and rendered (HTML, stored as a blob). Runs where the report advances: in a
worker, after its last child (figures need matplotlib)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sthlib.jobspecs import SweepSpec
from sthlib.reproduce.claims import Cited, ModelResults
from sthlib.reproduce.protocols import ReportSpec
from sthlib.reproduce.report import ReportInputs, Side, build, figures, header, render_html
from sthlib.specs import TrainSpec
from store.blobs import put_blob
from store.models import EvalResult, Job, Model, aware, utcnow


def _model_results(session: Session, model: Model, spec: TrainSpec, evaluation: Job) -> ModelResults:
    rows = session.scalars(select(EvalResult).where(EvalResult.job_id == evaluation.id).order_by(EvalResult.created_at))
    cited = [Cited(r.id, r.evaluator, r.label, r.data) for r in rows]
    return ModelResults(model.id, spec.seed, float(model.metrics["test_acc"]), cited, list(model.history or []))


def write(session: Session, parent: Job, sweep: SweepSpec, trains: list[tuple[Job, TrainSpec]],
          models: dict[str | None, Model], evals: dict[str, Job]) -> dict[str, Any]:  # fmt: skip
    """The report of a finished report job: its JSON (with `html_blob`, the stored page) for the job's result."""
    spec = ReportSpec.from_dict(parent.spec)
    sides: dict[bool, list[ModelResults]] = {True: [], False: []}
    for train, train_spec in sorted(trains, key=lambda t: t[1].seed):
        model = models[train.id]
        sides[train_spec.reg.enabled].append(_model_results(session, model, train_spec, evals[model.id]))
    children = session.scalars(select(Job).where(Job.parent_id == parent.id))
    devices = sorted({c.device for c in children if c.device})
    seconds = (utcnow() - aware(parent.created_at)).total_seconds()
    base = sweep.base.replace(**{"reg.alpha": 0.0})
    inputs = ReportInputs(
        protocol=spec.protocol, seeds=list(sweep.seeds),
        baseline=Side(base.setting_hash(), base.setting_label(), base.to_dict(), sides[False]),
        sth=Side(sweep.base.setting_hash(), sweep.base.setting_label(), sweep.base.to_dict(), sides[True]),
        evaluators=[c.to_dict() for c in sweep.evaluators],
        header={**header(sweep, spec.protocol, ", ".join(devices) or "unknown", seconds), "report job": parent.id},
    )  # fmt: skip
    report = build(inputs)
    blob = put_blob(session, render_html(report, figures(inputs)).encode())
    counts = ", ".join(f"{n} {verdict}" for verdict, n in report["summary"].items() if n)
    return {**report, "html_blob": blob.id, "summary_line": counts}
