"""Sweeps, planned and advanced in one place: a parent job that owns trainings and evaluations (sthlib.jobspecs.
SweepSpec says which). No worker runs the sweep itself (one blocked on its children would starve a one-GPU server);
it advances whenever one of its children ends, and the reconciler advances every running sweep, so a worker that
died between a child's end and the advance delays a sweep but cannot stall it.

Advancing is idempotent: each trained model gets one evaluation (the parent row is locked while children are
added), and the summary is written once, when every child has succeeded. When transfer_fgsm names no source model
the sweep trains one more, unregularized model (seed `source_seed`); it is not evaluated itself, and the
evaluations, which attack with it, are queued once it is trained.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from sthlib.evalspecs import SWEEP_SOURCE, SourceRef
from sthlib.evaluate.metrics import normalized_auc, r0_u0, select_by_auc
from sthlib.evaluate.results import RobustnessCurve
from sthlib.jobspecs import EvalJobSpec, SweepSpec
from sthlib.reproduce.protocols import ReportSpec
from sthlib.specs import TrainSpec
from store import reports
from store.jobs import log_line, transition
from store.models import PARENT_KINDS, DeviceKind, EvalResult, Job, JobKind, JobStatus, Model

log = logging.getLogger(__name__)


def plan_of(parent: Job) -> SweepSpec:
    """What a parent job trains and evaluates: a sweep's own spec, or the sweep of a report's protocol."""
    if parent.kind is JobKind.report:
        return ReportSpec.from_dict(parent.spec).sweep()
    return SweepSpec.from_dict(parent.spec)


def create(session: Session, owner_id: str, sweep: SweepSpec, idempotency_key: str | None,
           report: ReportSpec | None = None, device: DeviceKind = DeviceKind.any) -> tuple[Job, list[Job]]:  # fmt: skip
    """The sweep's job (running: no worker runs it) and its queued trainings, committed; the caller enqueues them.
    With `report`, the parent is a report job that plans `sweep` (its protocol's) and ends with the report. Every
    child asks for the `device` kind the parent asked for."""
    stored = replace(report, planned=sweep) if report is not None else sweep  # the report's plan pinned
    parent = Job(kind=JobKind.report if report is not None else JobKind.sweep, owner_id=owner_id,
                 spec=stored.to_dict(), spec_hash=stored.spec_hash(), idempotency_key=idempotency_key,
                 device_kind=device)  # fmt: skip
    session.add(parent)
    session.flush()
    trainings = sweep.trainings()
    evaluations = sum(t.role != "source" for t in trainings)  # transfer_fgsm's source model is not evaluated
    progress = {"phase": "train", "fraction": 0.0, "done": 0, "jobs": len(trainings) + evaluations}
    transition(session, parent, JobStatus.running, progress=progress)
    jobs = [Job(kind=JobKind.train, owner_id=owner_id, parent_id=parent.id, spec=t.spec.to_dict(),
                spec_hash=t.spec.spec_hash(), setting=t.spec.setting_hash(), device_kind=device)
            for t in trainings]  # fmt: skip
    session.add_all(jobs)
    source = "" if sweep.source_seed is None else (
        f", and transfer_fgsm's unregularized source model (seed {sweep.source_seed})")  # fmt: skip
    log_line(session, parent.id, f"{len(jobs)} trainings queued ({len(sweep.points())} settings and the baseline, "
             f"seeds {list(sweep.seeds)}{source}); each model is evaluated once it is trained")  # fmt: skip
    session.commit()  # the database holds the jobs before the broker hears of them
    return parent, jobs


def advance(session: Session, sweep_id: str) -> list[Job]:
    """Add an evaluation for each newly trained model (returned: the caller commits, then enqueues them); end the
    sweep when all children have ended."""
    locked = select(Job).where(Job.id == sweep_id).options(lazyload(Job.owner)).with_for_update()  # no outer join
    parent = session.scalars(locked).one_or_none()
    if parent is None or not parent.kind.parent or parent.status.finished:
        return []
    sweep = plan_of(parent)
    children = list(session.scalars(select(Job).where(Job.parent_id == parent.id).order_by(Job.created_at)))
    trains = [c for c in children if c.kind is JobKind.train]
    specs = {t.id: TrainSpec.from_dict(t.spec) for t in trains}
    evals = {EvalJobSpec.from_dict(c.spec).model_id: c for c in children if c.kind is JobKind.evaluate}
    models = {m.job_id: m for m in session.scalars(select(Model).where(Model.job_id.in_([t.id for t in trains])))}
    ended_badly = [c for c in children if c.status in (JobStatus.failed, JobStatus.cancelled)]
    if ended_badly:
        _fail(session, parent, children, ended_badly[0])
        return []
    source_train = next((t for t in trains if specs[t.id].seed == sweep.source_seed), None)
    source = models.get(source_train.id) if source_train is not None else None
    subjects = [t for t in trains if t is not source_train]  # the trainings whose models are evaluated
    queued = []
    for train in subjects:
        model = models.get(train.id)
        if train.status is not JobStatus.succeeded or model is None or model.id in evals:
            continue
        calls = sweep.evaluators
        if source_train is not None:
            if source is None:
                continue  # transfer_fgsm attacks with the sweep's source model: it is still training
            calls = tuple(c.with_source(SourceRef.model(source.id)) if c.source == SWEEP_SOURCE else c for c in calls)
        spec = EvalJobSpec(model.id, calls)
        job = Job(kind=JobKind.evaluate, owner_id=parent.owner_id, parent_id=parent.id, spec=spec.to_dict(),
                  spec_hash=spec.spec_hash(), setting=model.setting, device_kind=parent.device_kind)  # fmt: skip
        session.add(job)
        evals[model.id] = job
        queued.append(job)
    session.flush()
    every = trains + list(evals.values())
    done = sum(c.status is JobStatus.succeeded for c in every)
    total = len(trains) + len(subjects)
    phase = "train" if any(t.status is not JobStatus.succeeded for t in trains) else "evaluate"
    parent.progress = {"phase": phase, "fraction": round(done / total, 4), "done": done, "jobs": total}
    if done == total and parent.kind is JobKind.report:
        try:
            result = reports.write(session, parent, sweep, [(t, specs[t.id]) for t in subjects], models, evals)
        except Exception as e:  # a report that cannot be written fails once, with the reason, not at every advance
            log.exception("report %s could not be written", parent.id)
            message = f"the report could not be written: {type(e).__name__}: {e}"
            log_line(session, parent.id, message, level="error")
            transition(session, parent, JobStatus.failed, error_code="ReportFailed", error_message=message)
            return queued
        result["source_model"] = source.id if source is not None else None
        log_line(session, parent.id, f"report written: {result['summary_line']}")
        transition(session, parent, JobStatus.succeeded, result=result)
    elif done == total:
        result = summarize(session, sweep, [(t, specs[t.id]) for t in subjects], models, evals)
        result["source_model"] = source.id if source is not None else None
        chosen = result["selected"]
        nothing = f"nothing: no setting keeps R0/U0 >= {result['min_r0_u0']}"
        log_line(session, parent.id, "selected " + (json.dumps(chosen["values"]) if chosen else nothing))
        for warning in result["warnings"]:
            log_line(session, parent.id, warning, level="warning")
        transition(session, parent, JobStatus.succeeded, result=result)
    return queued


def _fail(session: Session, sweep: Job, children: list[Job], culprit: Job) -> None:
    """One child failed or was cancelled: the sweep cannot select; stop the rest and say which."""
    for child in children:
        if child.status is JobStatus.queued:
            transition(session, child, JobStatus.cancelled)
        elif child.status is JobStatus.running:
            child.cancel_requested = True
    message = f"{culprit.kind.value} job {culprit.id} {culprit.status.value}"
    if culprit.error_message:
        message += f": {culprit.error_message}"
    log_line(session, sweep.id, message, level="error")
    transition(session, sweep, JobStatus.failed, error_code="ChildJobFailed", error_message=message)


def _value(spec: TrainSpec, key: str) -> Any:
    head, _, tail = key.partition(".")
    return getattr(spec.reg, tail) if tail else getattr(spec, head)


def summarize(session: Session, sweep: SweepSpec, trains: list[tuple[Job, TrainSpec]],
              models: dict[str | None, Model], evals: dict[str, Job]) -> dict[str, Any]:  # fmt: skip
    """Per setting (mean over seeds): clean test accuracy R0, R0/U0 against the baseline, normalized AUC of the
    `select_by` curves; then PAPER.md's rule: the largest AUC among settings with R0/U0 >= min_r0_u0."""
    select_by, minimum = sweep.select_by, sweep.min_r0_u0
    rows: dict[str, dict[str, Any]] = {}
    for train, spec in trains:
        model = models[train.id]
        baseline = not spec.reg.enabled
        values = {} if baseline else {key: _value(spec, key) for key in sweep.grid}
        results = session.scalars(select(EvalResult).where(EvalResult.job_id == evals[model.id].id,
                                                           EvalResult.evaluator == select_by,
                                                           EvalResult.kind == "curve"))  # fmt: skip
        aucs = [normalized_auc(RobustnessCurve.from_dict(r.data)) for r in results]
        row = rows.setdefault(json.dumps(values, sort_keys=True),
                              {"values": values, "baseline": baseline, "models": [], "r0": [], "auc": []})  # fmt: skip
        row["models"].append(model.id)
        row["r0"].append(float(model.metrics["test_acc"]))
        row["auc"].append(statistics.fmean(aucs))
    table = []
    for row in rows.values():
        table.append({**row, "r0": statistics.fmean(row["r0"]), "auc": statistics.fmean(row["auc"]),
                      "r0_per_seed": row["r0"], "auc_per_seed": row["auc"]})  # fmt: skip
    (base,) = [row for row in table if row["baseline"]]
    u0 = base["r0"]
    settings = [row for row in table if not row["baseline"]]
    for row in [*settings, base]:
        row["r0_u0"] = r0_u0(row["r0"], u0)
        row["eligible"] = row["r0_u0"] >= minimum
    picked = select_by_auc([(str(i), r["r0"], r["auc"]) for i, r in enumerate(settings)], u0, minimum)
    selected = None if picked is None else settings[int(picked)]
    warnings = []
    if selected is not None and selected["auc"] <= base["auc"]:
        warnings.append(f"the selected setting is not more robust than the baseline: {select_by} AUC "
                        f"{selected['auc']:.3f} vs {base['auc']:.3f} (means over seeds)")  # fmt: skip
    still_learning = [m for m in (models[t.id] for t, spec in trains if not spec.reg.enabled) if _still_learning(m)]
    if still_learning:
        gains = ", ".join(f"{_last_gain(m):+.3f}" for m in still_learning)
        warnings.append(f"the baseline looks undertrained: {len(still_learning)} of its {len(base['models'])} "
                        f"model(s) kept their last epoch and gained {gains} validation accuracy in it; U0 = {u0:.3f}. "
                        "Train longer (epochs) before reading R0/U0 and the selection")  # fmt: skip
    return {"select_by": select_by, "min_r0_u0": minimum, "u0": u0, "baseline": base, "settings": settings,
            "selected": selected, "warnings": warnings}  # fmt: skip


UNDERTRAINED_GAIN = 0.01  # validation accuracy gained in the last epoch, kept as the best: still learning


def _last_gain(model: Model) -> float:
    history = model.history or []
    return float(history[-1]["valid_acc"] - history[-2]["valid_acc"]) if len(history) >= 2 else 0.0


def _still_learning(model: Model | None) -> bool:
    """The model kept its last epoch, and that epoch raised validation accuracy by at least UNDERTRAINED_GAIN."""
    history = (model.history if model is not None else None) or []
    if len(history) < 2 or model is None:
        return False
    return bool(model.metrics.get("epoch") == history[-1].get("epoch") and _last_gain(model) >= UNDERTRAINED_GAIN)


def running_sweeps(session: Session) -> list[str]:
    query = select(Job.id).where(Job.kind.in_(PARENT_KINDS), Job.status == JobStatus.running)
    return list(session.scalars(query))
