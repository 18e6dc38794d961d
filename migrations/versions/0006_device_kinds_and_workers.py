"""jobs.device_kind (the kind of device a job asks for: any, gpu or cpu) and the workers table (liveness)

A worker claims only jobs of its kind or of kind any (store.queue); workers record themselves (name, kind, device,
host, last seen) at start and on a heartbeat, so that a queued job no live worker can take says so. Jobs stored
before this revision ask for any device.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _kind() -> sa.Enum:
    return sa.Enum("any", "gpu", "cpu", name="devicekind", native_enum=False, length=16)


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_kind", _kind(), nullable=False, server_default="any"))
    op.create_table(
        "workers",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", _kind(), nullable=False),
        sa.Column("device", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_workers_last_seen", "workers", ["last_seen"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workers_last_seen", table_name="workers")
    op.drop_table("workers")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("device_kind")
