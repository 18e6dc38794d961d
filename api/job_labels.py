"""A job in a few words, for lists (JobPublic.label): its typed spec's label() (the setting and seed a training
trains, the model and evaluators an evaluation runs, the grid a sweep explores, a report's protocol), with the
evaluated model's current name. A stored spec that no longer reads as one (an old job) has no label."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cache import SingleFlightCache
from sthlib.jobkinds import read_spec
from sthlib.specs import Label
from sthlib.validation import SpecError
from store.models import Job, Model

# A job's spec never changes: its words are read once (reading a TrainSpec takes ~0.25 ms; a page lists 100 jobs).
# An evaluation's model name may change: it is looked up for every answer.
_words: SingleFlightCache[Label | None] = SingleFlightCache(maxsize=4096)


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


def _read(job: Job) -> Label | None:
    try:
        return read_spec(job.kind.value, job.spec).label()
    except SpecError:
        return None
