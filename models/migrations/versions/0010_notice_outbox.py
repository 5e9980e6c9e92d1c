"""notice outbox: rows the worker's dispatcher delivers (owner, next attempt, lease,
the delivery policy), instead of one child workflow per notice

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 07:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    sa.Column("dispatch", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column("next_attempt_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column("max_attempts", sa.Integer(), nullable=True),
    sa.Column("max_interval_seconds", sa.Float(), nullable=True),
    sa.Column("failed_policy", sa.Text(), nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        for column in COLUMNS:
            batch_op.add_column(column)
        batch_op.create_index(
            "ix_notice_dispatch_due", ["status", "dispatch", "next_attempt_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_index("ix_notice_dispatch_due")
        for column in reversed(COLUMNS):
            batch_op.drop_column(column.name)
