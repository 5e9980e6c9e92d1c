"""startup loan: policy versions, banks, pushed applications, bank callbacks, the
loan projection and its subsidy lines

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:21:15
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("integrated", sa.Boolean(), nullable=False),
        sa.Column(
            "webhook_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "bank_application",
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column(
            "workflow_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("bank", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("pushed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("ref"),
    )
    with op.batch_alter_table("bank_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bank_application_bank"), ["bank"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bank_application_case_id"), ["case_id"], unique=False
        )
    op.create_table(
        "bank_callback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bank", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column(
            "reference", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False
        ),
        sa.Column(
            "body_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column(
            "application_ref",
            sqlmodel.sql.sqltypes.AutoString(length=200),
            nullable=False,
        ),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("received_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bank", "reference", name="uq_bank_reference"),
    )
    with op.batch_alter_table("bank_callback", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bank_callback_application_ref"),
            ["application_ref"],
            unique=False,
        )
    op.create_table(
        "loan",
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("veteran_id", sa.Integer(), nullable=False),
        sa.Column(
            "status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        ),
        sa.Column(
            "policy_version",
            sqlmodel.sql.sqltypes.AutoString(length=60),
            nullable=False,
        ),
        sa.Column(
            "loan_type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        ),
        sa.Column("bank", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column(
            "application_ref",
            sqlmodel.sql.sqltypes.AutoString(length=200),
            nullable=False,
        ),
        sa.Column("terms", sa.JSON(), nullable=True),
        sa.Column("followups_at", sa.JSON(), nullable=True),
        sa.Column("maturity_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column(
            "ended_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False
        ),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column(
            "subsidy_total", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
        ),
        sa.Column(
            "reward_total", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True
        ),
        sa.Column(
            "paid_reference",
            sqlmodel.sql.sqltypes.AutoString(length=100),
            nullable=False,
        ),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_veteran_id"), ["veteran_id"], unique=False
        )
    op.create_table(
        "loan_policy_version",
        sa.Column(
            "version", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False
        ),
        sa.Column(
            "locality", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        ),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column(
            "created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )
    with op.batch_alter_table("loan_policy_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_policy_version_effective_from"),
            ["effective_from"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_loan_policy_version_locality"), ["locality"], unique=False
        )
    op.create_table(
        "loan_subsidy_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("period", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("days_in_period", sa.Integer(), nullable=False),
        sa.Column("days_in_window", sa.Integer(), nullable=False),
        sa.Column(
            "interest_paid", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False
        ),
        sa.Column(
            "outstanding_principal",
            sqlmodel.sql.sqltypes.AutoString(length=20),
            nullable=False,
        ),
        sa.Column(
            "subsidy", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False
        ),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column(
            "policy_version",
            sqlmodel.sql.sqltypes.AutoString(length=60),
            nullable=False,
        ),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "round", "period", name="uq_subsidy_line"),
    )
    with op.batch_alter_table("loan_subsidy_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_subsidy_line_case_id"), ["case_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("loan_subsidy_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_subsidy_line_case_id"))
    op.drop_table("loan_subsidy_line")
    with op.batch_alter_table("loan_policy_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_policy_version_locality"))
        batch_op.drop_index(batch_op.f("ix_loan_policy_version_effective_from"))
    op.drop_table("loan_policy_version")
    with op.batch_alter_table("loan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_veteran_id"))
    op.drop_table("loan")
    with op.batch_alter_table("bank_callback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_callback_application_ref"))
    op.drop_table("bank_callback")
    with op.batch_alter_table("bank_application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_application_case_id"))
        batch_op.drop_index(batch_op.f("ix_bank_application_bank"))
    op.drop_table("bank_application")
    op.drop_table("bank")
