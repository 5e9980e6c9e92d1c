"""retiree aftercare: the benefits' reference figures (national income by year, the
少尉 base pay, 丧葬费 and 遗属生活补助 by effective date), the case's aftercare
projection and its survivors

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 23:10:11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "aftercare",
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("veteran_id", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("died_on", sa.Date(), nullable=False),
        sa.Column("cause", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "overpayment", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
        ),
        sa.Column(
            "recovery", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("quote_round", sa.Integer(), nullable=True),
        sa.Column("quote", sa.JSON(), nullable=True),
        sa.Column(
            "benefit_total", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
        ),
        sa.Column(
            "paid_reference",
            sqlmodel.sql.sqltypes.AutoString(length=100),
            nullable=False,
        ),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("aftercare", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aftercare_veteran_id"), ["veteran_id"], unique=False
        )
    op.create_table(
        "aftercare_figure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column(
            "period", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False
        ),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "period", name="uq_aftercare_figure_period"),
    )
    with op.batch_alter_table("aftercare_figure", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aftercare_figure_kind"), ["kind"], unique=False
        )
    op.create_table(
        "aftercare_survivor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column(
            "id_number", sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False
        ),
        sa.Column(
            "relation", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("born_on", sa.Date(), nullable=False),
        sa.Column("allowance_eligible", sa.Boolean(), nullable=False),
        sa.Column(
            "monthly", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
        ),
        sa.Column("allowance_starts_on", sa.Date(), nullable=True),
        sa.Column(
            "allowance_status",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
        ),
        sa.Column(
            "next_confirmation_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True
        ),
        sa.Column(
            "stopped_reason",
            sqlmodel.sql.sqltypes.AutoString(length=2000),
            nullable=False,
        ),
        sa.Column("years_confirmed", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "n", name="uq_aftercare_survivor"),
    )
    with op.batch_alter_table("aftercare_survivor", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_aftercare_survivor_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("aftercare_survivor", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aftercare_survivor_case_id"))
    op.drop_table("aftercare_survivor")
    with op.batch_alter_table("aftercare_figure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aftercare_figure_kind"))
    op.drop_table("aftercare_figure")
    with op.batch_alter_table("aftercare", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_aftercare_veteran_id"))
    op.drop_table("aftercare")
