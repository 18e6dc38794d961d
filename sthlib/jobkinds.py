"""The job kinds, in one place: each kind's spec class and whether a worker runs it or it is a parent that advances
when its children end. Everything that branches on a kind looks it up here (the database's enum, the API's routes
and retry, the queue, the worker), and the layers that sthlib cannot import attach their part in one table each,
keyed by JobKind and checked against KINDS by tests/test_jobkinds.py:

- api.specs.PREFLIGHT: the server's checks before a job of the kind is queued (or retried; api.submission),
- worker.tasks.RUNNERS: the runner of each worker kind (train, evaluate),
- store.sweeps.ENDINGS: what a parent writes when its children have ended (sweep: the selection; report: the report).

A new kind is an enum member, an entry, its spec class (the methods JobSpec lists) and its runner or ending.
Torch-free.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sthlib.jobspecs import EvalJobSpec, SweepSpec
from sthlib.reproduce.protocols import ReportSpec
from sthlib.specs import TrainSpec
from sthlib.validation import SpecError, require


class JobKind(enum.StrEnum):
    train = "train"
    evaluate = "evaluate"
    sweep = "sweep"
    report = "report"  # a sweep of one protocol whose end writes a reproduction report

    @property
    def parent(self) -> bool:
        """A job that owns children and that no worker runs (it advances when they end)."""
        return KINDS[self].parent


# Every kind's spec answers to_dict(), spec_hash(), validate(), label() (a few words for lists), datasets() (dataset
# name -> the request field naming it) and job_setting(model_setting) (the setting the job belongs to, if one);
# a parent's also plan() (the SweepSpec of its children) and pinned() (what its job stores).
JobSpec = TrainSpec | EvalJobSpec | SweepSpec | ReportSpec
ParentSpec = SweepSpec | ReportSpec


@dataclass(frozen=True)
class KindEntry:
    kind: JobKind
    read: Callable[[Any], JobSpec]  # a stored spec's JSON -> its typed spec (SpecError naming the field)
    parent: bool  # True: no worker runs it; it plans children and advances when they end (store.sweeps)


KINDS: dict[JobKind, KindEntry] = {
    entry.kind: entry
    for entry in (
        KindEntry(JobKind.train, TrainSpec.from_dict, parent=False),  # one model: a preset and changes
        KindEntry(JobKind.evaluate, EvalJobSpec.from_dict, parent=False),  # evaluators on one stored model
        KindEntry(JobKind.sweep, SweepSpec.from_dict, parent=True),  # a grid of settings and seeds, then the selection
        KindEntry(JobKind.report, ReportSpec.from_dict, parent=True),  # a protocol re-run, the paper's claims judged
    )
}
PARENT_KINDS = frozenset(kind for kind, entry in KINDS.items() if entry.parent)
WORKER_KINDS = frozenset(KINDS) - PARENT_KINDS  # the kinds a worker claims and runs


def kind_of(name: str) -> JobKind:
    """The kind called `name` (SpecError at `kind` listing the kinds)."""
    require(name in KINDS, "kind", f"unknown job kind {name!r}", f"choose one of {', '.join(KINDS)}")
    return JobKind(name)


def read_spec(kind: str, data: dict[str, Any]) -> JobSpec:
    """A stored job spec read back as its typed object (the worker, the sweep and retry read specs this way)."""
    return KINDS[kind_of(kind)].read(data)


def as_parent(kind: JobKind, spec: JobSpec) -> ParentSpec | None:
    """`spec` as a parent's (with plan() and pinned()) when `kind` is a parent kind, else None."""
    return spec if KINDS[kind].parent else None  # type: ignore[return-value]  # parent kinds read ParentSpecs


def read_parent_spec(kind: str, data: dict[str, Any]) -> ParentSpec:
    """The spec of a parent job (SpecError at `kind` for a kind a worker runs)."""
    parent = as_parent(kind_of(kind), read_spec(kind, data))
    if parent is None:
        raise SpecError("kind", f"a {kind} job has no children")
    return parent
