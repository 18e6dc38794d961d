"""Sweeps: a parent job that owns trainings and evaluations. No worker runs the sweep itself (one blocked on its
children would starve a one-GPU server); it advances whenever one of its children ends, and the reconciler advances
every running sweep, so a worker that died between a child's end and the advance delays a sweep but cannot stall it.

Advancing is idempotent: each trained model gets one evaluation (the parent row is locked while children are
added), and the summary is written once, when every child has succeeded. When transfer_fgsm names no source model
the sweep trains one more, unregularized model (seed `source_seed`); it is not evaluated itself, and the
evaluations, which attack with it, are queued once it is trained.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from sthlib.evaluate.metrics import normalized_auc, r0_u0, select_by_auc
from sthlib.evaluate.results import RobustnessCurve
from store.db import session_scope
from store.jobs import SWEEP_SOURCE, log_line, spec_hash, transition
from store.models import EvalResult, Job, JobKind, JobStatus, Model


def advance(url: str, sweep_id: str, send: Callable[[str], object]) -> None:
    """Queue an evaluation for each newly trained model; end the sweep when all children have ended."""
    with session_scope(url) as session:
        queued = _advance(session, sweep_id)
    for job_id in queued:
        send(job_id)


def _advance(session: Session, sweep_id: str) -> list[str]:
    locked = select(Job).where(Job.id == sweep_id).options(lazyload(Job.owner)).with_for_update()  # no outer join
    sweep = session.scalars(locked).one_or_none()
    if sweep is None or sweep.kind is not JobKind.sweep or sweep.status.finished:
        return []
    children = list(session.scalars(select(Job).where(Job.parent_id == sweep.id).order_by(Job.created_at)))
    trains = [c for c in children if c.kind is JobKind.train]
    evals = {c.spec["model_id"]: c for c in children if c.kind is JobKind.evaluate}
    models = {m.job_id: m for m in session.scalars(select(Model).where(Model.job_id.in_([t.id for t in trains])))}
    ended_badly = [c for c in children if c.status in (JobStatus.failed, JobStatus.cancelled)]
    if ended_badly:
        _fail(session, sweep, children, ended_badly[0])
        return []
    source_train = _source_training(sweep, trains)
    source = models.get(source_train.id) if source_train is not None else None
    subjects = [t for t in trains if t is not source_train]  # the trainings whose models are evaluated
    queued = []
    for train in subjects:
        model = models.get(train.id)
        if train.status is not JobStatus.succeeded or model is None or model.id in evals:
            continue
        evaluators = sweep.spec["evaluators"]
        if source_train is not None:
            if source is None:
                continue  # transfer_fgsm attacks with the sweep's source model: it is still training
            evaluators = [_with_source(e, source.id) for e in evaluators]
        spec = {"model_id": model.id, "evaluators": evaluators}
        job = Job(kind=JobKind.evaluate, owner_id=sweep.owner_id, parent_id=sweep.id, spec=spec,
                  spec_hash=spec_hash(spec))  # fmt: skip
        session.add(job)
        evals[model.id] = job
        queued.append(job)
    session.flush()
    every = trains + list(evals.values())
    done = sum(c.status is JobStatus.succeeded for c in every)
    total = len(trains) + len(subjects)
    phase = "train" if any(t.status is not JobStatus.succeeded for t in trains) else "evaluate"
    sweep.progress = {"phase": phase, "fraction": round(done / total, 4), "done": done, "jobs": total}
    if done == total:
        result = summarize(session, sweep, subjects, models, evals)
        result["source_model"] = source.id if source is not None else None
        chosen = result["selected"]
        nothing = f"nothing: no setting keeps R0/U0 >= {result['min_r0_u0']}"
        log_line(session, sweep.id, "selected " + (json.dumps(chosen["values"]) if chosen else nothing))
        transition(session, sweep, JobStatus.succeeded, result=result)
    return [job.id for job in queued]


def _source_training(sweep: Job, trains: list[Job]) -> Job | None:
    """The unregularized model the sweep trains for transfer_fgsm (seed `source_seed`, no other training has it)."""
    seed = sweep.spec.get("source_seed")  # absent from sweeps created before transfer_fgsm was allowed in them
    if seed is None:
        return None
    return next((t for t in trains if t.spec["seed"] == seed), None)


def _with_source(evaluator: dict[str, Any], model_id: str) -> dict[str, Any]:
    if evaluator["params"].get("source") != SWEEP_SOURCE:
        return evaluator
    return {**evaluator, "params": {**evaluator["params"], "source": model_id}}


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


def _value(spec: dict[str, Any], key: str) -> Any:
    head, _, tail = key.partition(".")
    return spec[head][tail] if tail else spec[head]


def summarize(session: Session, sweep: Job, trains: list[Job], models: dict[str | None, Model],
              evals: dict[str, Job]) -> dict[str, Any]:  # fmt: skip
    """Per setting (mean over seeds): clean test accuracy R0, R0/U0 against the baseline, normalized AUC of the
    `select_by` curves; then PAPER.md's rule: the largest AUC among settings with R0/U0 >= min_r0_u0."""
    select_by, minimum = sweep.spec["select_by"], float(sweep.spec["min_r0_u0"])
    keys = list(sweep.spec["grid"])
    rows: dict[str, dict[str, Any]] = {}
    for train in trains:
        model = models[train.id]
        baseline = float(train.spec["reg"]["alpha"]) == 0
        values = {} if baseline else {key: _value(train.spec, key) for key in keys}
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
    return {"select_by": select_by, "min_r0_u0": minimum, "u0": u0, "baseline": base, "settings": settings,
            "selected": selected}  # fmt: skip


def running_sweeps(url: str) -> list[str]:
    with session_scope(url) as session:
        return list(session.scalars(select(Job.id).where(Job.kind == JobKind.sweep,
                                                         Job.status == JobStatus.running)))  # fmt: skip
