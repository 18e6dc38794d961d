"""job specs in their typed form (sthlib.jobspecs): transfer sources as SourceRef objects, sweeps with a base spec

Evaluation specs named transfer_fgsm's source as a bare string (a model id, or "sweep" for the model a sweep
trains); they become {"kind": "model", "ref": ID} and {"kind": "sweep", "ref": ""}. Sweep specs stored the request
(preset, spec changes, source_seed); they become SweepSpec's {base, grid, seeds, evaluators, select_by, min_r0_u0},
with base the spec of the sweep's first training (its grid values are replaced per child, its seed by each seed).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

jobs = sa.table(
    "jobs",
    sa.column("id", sa.String),
    sa.column("kind", sa.String),
    sa.column("spec", sa.JSON),
    sa.column("parent_id", sa.String),
    sa.column("created_at", sa.DateTime),
)


def _source(value: Any) -> Any:
    if isinstance(value, str):
        return {"kind": "sweep", "ref": ""} if value == "sweep" else {"kind": "model", "ref": value}
    return value


def _evaluators(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fixed = []
    for call in calls:
        params = dict(call.get("params") or {})
        if "source" in params:
            params["source"] = _source(params["source"])
        fixed.append({"name": call["name"], "params": params})
    return fixed


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(jobs.c.id, jobs.c.kind, jobs.c.spec).where(jobs.c.kind.in_(["evaluate", "sweep"])))
    for ident, kind, spec in list(rows):
        if not isinstance(spec, dict):
            continue
        if kind == "evaluate" and isinstance(spec.get("evaluators"), list):
            new = {**spec, "evaluators": _evaluators(spec["evaluators"])}
        elif kind == "sweep" and "base" not in spec:
            first = bind.execute(sa.select(jobs.c.spec).where(jobs.c.parent_id == ident, jobs.c.kind == "train")
                                 .order_by(jobs.c.created_at).limit(1)).scalar()  # fmt: skip
            new = {"base": first or {}, "grid": spec.get("grid", {}), "seeds": spec.get("seeds", [0]),
                   "evaluators": _evaluators(spec.get("evaluators", [])), "select_by": spec.get("select_by"),
                   "min_r0_u0": spec.get("min_r0_u0", 0.9)}  # fmt: skip
        else:
            continue
        if new != spec:
            bind.execute(sa.update(jobs).where(jobs.c.id == ident).values(spec=new))


def downgrade() -> None:
    """The typed specs stay: older code reads evaluation specs' sources only as strings, and sweeps' requests are
    not kept; downgrading past this revision needs the database of before."""
