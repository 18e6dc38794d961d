"""A job in a few words, for lists (JobPublic.label): the setting and seed a training trains, the model and
evaluators an evaluation runs, the grid a sweep explores. Read from the job's typed spec; a stored spec that no
longer reads as one (an old job) has no label."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cache import SingleFlightCache
from sthlib.jobspecs import EvalJobSpec, SweepSpec, read_spec
from sthlib.reproduce.protocols import ReportSpec
from sthlib.specs import TrainSpec
from sthlib.validation import SpecError
from store.models import Job, Model


class Words(NamedTuple):
    text: str
    model_id: str | None  # an evaluation's model: its name, which may change, is looked up for every answer


# A job's spec never changes: its words are read once (reading a TrainSpec takes ~0.25 ms; a page lists 100 jobs)
_words: SingleFlightCache[Words | None] = SingleFlightCache(maxsize=4096)


def job_labels(session: Session, jobs: Iterable[Job]) -> dict[str, str]:
    """Job id -> label, for jobs whose spec reads; the models that evaluations name are loaded in one query."""
    words = {job.id: _words.get((job.id, job.spec_hash), partial(_read, job)) for job in jobs}
    wanted = {w.model_id for w in words.values() if w is not None and w.model_id}
    names: dict[str, str] = {}
    if wanted:
        rows = session.execute(select(Model.id, Model.name).where(Model.id.in_(wanted)))
        names = {ident: name for ident, name in rows}
    labels = {}
    for job_id, w in words.items():
        if w is not None:
            model = w.model_id and (names.get(w.model_id) or f"model {w.model_id[:8]} (deleted)")
            labels[job_id] = f"{model}: {w.text}" if model else w.text
    return labels


def _read(job: Job) -> Words | None:
    try:
        spec = read_spec(job.kind.value, job.spec)
    except SpecError:
        return None
    if isinstance(spec, TrainSpec):
        return Words(f"{spec.setting_label()} seed {spec.seed}", None)
    if isinstance(spec, EvalJobSpec):
        return Words(", ".join(call.name for call in spec.evaluators), spec.model_id)
    if isinstance(spec, ReportSpec):
        seeds = ",".join(map(str, spec.seeds))
        return Words(f"{spec.protocol}: {spec.sweep().base.setting_label()} vs alpha 0, seeds {seeds}", None)
    return Words(_sweep_words(spec), None)


def _sweep_words(sweep: SweepSpec) -> str:
    """'small_cnn mnist-5k e1: reg.alpha 0.1|1 x reg.threshold 0.2|0.8, 2 seeds, by gaussian'"""
    base = sweep.base
    grid = " x ".join(f"{key} {'|'.join(map(_short, values))}" for key, values in sweep.grid.items())
    seeds = f"seed {sweep.seeds[0]}" if len(sweep.seeds) == 1 else f"{len(sweep.seeds)} seeds"
    return f"{base.arch} {base.dataset} e{base.epochs}: {grid}, {seeds}, by {sweep.select_by}"


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
