"""spec versions, projection sequences, escalation ladder, incidents, station contacts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "address",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(
            sa.Column(
                "phone",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("spec_version", sa.Integer(), nullable=False, server_default="1")
        )
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "escalation_level", sa.Integer(), nullable=False, server_default="0"
            )
        )
        batch_op.add_column(
            sa.Column("seq", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_table(
        "incident",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column(
            "case_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column(
            "workflow_id", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False
        ),
        sa.Column(
            "process", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        ),
        sa.Column("step", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column(
            "activity", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False
        ),
        sa.Column(
            "error_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False
        ),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=True),
        sa.Column(
            "org_path", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False
        ),
        sa.Column(
            "status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False
        ),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column(
            "retried_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True
        ),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_case_id"), ["case_id"])
        batch_op.create_index(batch_op.f("ix_incident_org_unit_id"), ["org_unit_id"])
        batch_op.create_index(batch_op.f("ix_incident_org_path"), ["org_path"])
        batch_op.create_index(batch_op.f("ix_incident_status"), ["status"])


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_status"))
        batch_op.drop_index(batch_op.f("ix_incident_org_path"))
        batch_op.drop_index(batch_op.f("ix_incident_org_unit_id"))
        batch_op.drop_index(batch_op.f("ix_incident_case_id"))
    op.drop_table("incident")
    with op.batch_alter_table("human_task", schema=None) as batch_op:
        batch_op.drop_column("seq")
        batch_op.drop_column("escalation_level")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("spec_version")
    with op.batch_alter_table("org_unit", schema=None) as batch_op:
        batch_op.drop_column("phone")
        batch_op.drop_column("address")
