"""jobs.priority (set by an admin; higher runs first) and an index on jobs.finished_at for the fair-share order

Fair share (store.queue): a free worker takes the queued job with the highest priority, then the one whose owner
used the least device time over the last 24 h, then the oldest. Jobs stored before this revision get priority 0.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_jobs_finished_at", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_finished_at")
        batch_op.drop_column("priority")
