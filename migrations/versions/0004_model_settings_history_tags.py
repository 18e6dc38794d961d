"""models: setting (the spec without its seed, hashed), per-epoch history, library versions, tags, notes; jobs: setting

A model's setting groups the seeds of one experiment. It is the first 12 hex characters of the sha256 of the
training spec's canonical JSON without "seed" and "speed" (a non-default speed.amp stays; unregularized, reg is
only {"alpha": 0.0}), as sthlib.specs.setting_hash computes it (tested to agree). Stored
models and train jobs get theirs from their spec here; evaluation jobs from their model.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 11:10:00
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def setting_hash(spec: dict[str, Any]) -> str:
    setting = {key: value for key, value in spec.items() if key not in ("seed", "speed")}
    if not (setting.get("reg") or {}).get("alpha"):  # unregularized: the other reg fields train nothing
        setting["reg"] = {"alpha": 0.0}
    amp = (spec.get("speed") or {}).get("amp", "none")  # of "speed" only a non-default amp is part of a setting
    if amp != "none":
        setting["speed"] = {"amp": amp}
    return hashlib.sha256(json.dumps(setting, sort_keys=True).encode()).hexdigest()[:12]


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("setting", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("history", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("versions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("notes", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_models_setting"), ["setting"], unique=False)
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("setting", sa.String(length=16), nullable=True))
        batch_op.create_index(batch_op.f("ix_jobs_setting"), ["setting"], unique=False)
    bind = op.get_bind()
    models = sa.table("models", sa.column("id", sa.String), sa.column("spec", sa.JSON), sa.column("setting", sa.String))
    jobs = sa.table("jobs", sa.column("id", sa.String), sa.column("kind", sa.String), sa.column("spec", sa.JSON),
                    sa.column("setting", sa.String))  # fmt: skip
    settings: dict[str, str] = {}
    for ident, spec in list(bind.execute(sa.select(models.c.id, models.c.spec))):
        if isinstance(spec, dict) and spec:
            settings[ident] = setting_hash(spec)
            bind.execute(sa.update(models).where(models.c.id == ident).values(setting=settings[ident]))
    for ident, kind, spec in list(bind.execute(sa.select(jobs.c.id, jobs.c.kind, jobs.c.spec))):
        if not isinstance(spec, dict):
            continue
        if kind == "train" and "dataset" in spec:
            value: str | None = setting_hash(spec)
        elif kind == "evaluate":
            value = settings.get(str(spec.get("model_id")))
        else:
            continue
        if value is not None:
            bind.execute(sa.update(jobs).where(jobs.c.id == ident).values(setting=value))


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_setting"))
        batch_op.drop_column("setting")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_setting"))
        for column in ("notes", "tags", "versions", "history", "setting"):
            batch_op.drop_column(column)
