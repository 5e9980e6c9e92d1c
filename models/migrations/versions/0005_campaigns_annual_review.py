"""campaigns (annual review), the review ledger, cases without a veteran

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 20:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.alter_column("veteran_id", existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(
            sa.Column(
                "campaign_id",
                sqlmodel.sql.sqltypes.AutoString(length=120),
                nullable=True,
            )
        )
        batch_op.create_index(
            batch_op.f("ix_case_campaign_id"), ["campaign_id"], unique=False
        )
    op.create_table(
        "campaign",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column(
            "process", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column(
            "opened_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("window_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("cases_opened", sa.Integer(), nullable=False),
        sa.Column("last_veteran_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_process"), ["process"])
        batch_op.create_index(batch_op.f("ix_campaign_year"), ["year"])
    op.create_table(
        "annual_review_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("veteran_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column(
            "result", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        ),
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column(
            "recorded_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["veteran_id"], ["veteran.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("veteran_id", "year", name="uq_review_year"),
    )
    with op.batch_alter_table("annual_review_ledger", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_annual_review_ledger_veteran_id"), ["veteran_id"]
        )
        batch_op.create_index(batch_op.f("ix_annual_review_ledger_year"), ["year"])


def downgrade() -> None:
    op.drop_table("annual_review_ledger")
    op.drop_table("campaign")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_campaign_id"))
        batch_op.drop_column("campaign_id")
        batch_op.alter_column("veteran_id", existing_type=sa.Integer(), nullable=False)
