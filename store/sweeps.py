"""Parent jobs (sweeps and reports), planned and advanced in one place: a parent owns trainings and evaluations
(its spec's plan(), a sthlib.jobspecs.SweepSpec, says which). No worker runs the parent itself (one blocked on its
children would starve a one-GPU server); it advances whenever one of its children ends, and the reconciler
advances every running parent, so a worker that died between a child's end and the advance delays a parent but
cannot stall it.

Advancing is idempotent: each trained model gets one evaluation (the parent row is locked while children are
added), and the parent's ending (ENDINGS: a sweep's selection, a report's report) is written once, when every
child has succeeded. When transfer_fgsm names no source model the sweep trains one more, unregularized model (seed
`source_seed`); it is not evaluated itself, and the evaluations, which attack with it, are queued once it is
trained.
"""

from __future__ import annotations

import json
import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from sthlib import sweep_summary
from sthlib.evalspecs import SWEEP_SOURCE, SourceRef
from sthlib.evaluate.metrics import normalized_auc
from sthlib.evaluate.results import RobustnessCurve
from sthlib.jobkinds import PARENT_KINDS, ParentSpec, read_parent_spec
from sthlib.jobspecs import EvalJobSpec, SweepSpec
from sthlib.specs import TrainSpec
from sthlib.sweep_summary import SweptModel
from store import reports
from store.jobs import log_line, transition
from store.models import DeviceKind, EvalResult, Job, JobKind, JobStatus, Model

log = logging.getLogger(__name__)


def plan_of(parent: Job) -> SweepSpec:
    """What a parent job trains and evaluates: a sweep's own spec, or the sweep pinned in a report's."""
    return read_parent_spec(parent.kind.value, parent.spec).plan()


def create(session: Session, owner_id: str, kind: JobKind, spec: ParentSpec, idempotency_key: str | None,
           device: DeviceKind = DeviceKind.any) -> tuple[Job, list[Job]]:  # fmt: skip
    """The parent job of `kind` (running: no worker runs it), storing `spec` with its plan pinned, and the queued
    trainings of its plan, committed; the caller enqueues them. Every child asks for the `device` kind the parent
    asked for."""
    stored = spec.pinned()  # a report's plan is pinned: a protocol changed later does not change what it waits for
    sweep = stored.plan()
    parent = Job(kind=kind, owner_id=owner_id, spec=stored.to_dict(), spec_hash=stored.spec_hash(),
                 idempotency_key=idempotency_key, device_kind=device)  # fmt: skip
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


@dataclass(frozen=True)
class Children:
    """A parent's ended children, read back: its evaluated trainings (not the transfer source) with their specs,
    the models by training job id, the evaluation of each model by model id, and the transfer source model."""

    trains: list[tuple[Job, TrainSpec]]
    models: dict[str | None, Model]
    evals: dict[str, Job]
    source: Model | None


def advance(session: Session, sweep_id: str) -> list[Job]:
    """Add an evaluation for each newly trained model (returned: the caller commits, then enqueues them); end the
    parent with its kind's ENDINGS entry when all children have succeeded, or fail it when one did not."""
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
    if done == total:
        ENDINGS[parent.kind](session, parent, sweep, Children([(t, specs[t.id]) for t in subjects], models, evals,
                                                              source))  # fmt: skip
    return queued


def _end_sweep(session: Session, parent: Job, sweep: SweepSpec, children: Children) -> None:
    """The selection: the table of settings, the one selected, the warnings."""
    result = summarize(session, sweep, children.trains, children.models, children.evals)
    result["source_model"] = children.source.id if children.source is not None else None
    chosen = result["selected"]
    nothing = f"nothing: no setting keeps R0/U0 >= {result['min_r0_u0']}"
    log_line(session, parent.id, "selected " + (json.dumps(chosen["values"]) if chosen else nothing))
    for warning in result["warnings"]:
        log_line(session, parent.id, warning, level="warning")
    transition(session, parent, JobStatus.succeeded, result=result)


def _end_report(session: Session, parent: Job, sweep: SweepSpec, children: Children) -> None:
    """The reproduction report (store.reports); one that cannot be written fails once, with the reason, instead of
    failing again at every advance."""
    try:
        result = reports.write(session, parent, sweep, children.trains, children.models, children.evals)
    except Exception as e:
        log.exception("report %s could not be written", parent.id)
        message = f"the report could not be written: {type(e).__name__}: {e}"
        log_line(session, parent.id, message, level="error")
        transition(session, parent, JobStatus.failed, error_code="ReportFailed", error_message=message)
        return
    result["source_model"] = children.source.id if children.source is not None else None
    log_line(session, parent.id, f"report written: {result['summary_line']}")
    transition(session, parent, JobStatus.succeeded, result=result)


Ending = Callable[[Session, Job, SweepSpec, Children], None]
# What each parent kind writes when all its children have succeeded (tests/test_jobkinds.py: one per parent kind)
ENDINGS: dict[JobKind, Ending] = {JobKind.sweep: _end_sweep, JobKind.report: _end_report}


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
    """The stored models and their `select_by` curves, summarized by sthlib.sweep_summary (table, selection,
    warnings)."""
    swept = []
    for train, spec in trains:
        model = models[train.id]
        results = session.scalars(select(EvalResult).where(EvalResult.job_id == evals[model.id].id,
                                                           EvalResult.evaluator == sweep.select_by,
                                                           EvalResult.kind == "curve"))  # fmt: skip
        aucs = [normalized_auc(RobustnessCurve.from_dict(r.data)) for r in results]
        baseline = not spec.reg.enabled
        swept.append(SweptModel(model.id, {} if baseline else {key: _value(spec, key) for key in sweep.grid},
                                baseline, float(model.metrics["test_acc"]), statistics.fmean(aucs),
                                list(model.history or []), model.metrics.get("epoch")))  # fmt: skip
    return sweep_summary.summarize(sweep, swept)


def running_sweeps(session: Session) -> list[str]:
    query = select(Job.id).where(Job.kind.in_(PARENT_KINDS), Job.status == JobStatus.running)
    return list(session.scalars(query))
