"""inbox indexes: composite indexes matching the inbox and per-case task reads, the
org_path prefix indexable on PostgreSQL whatever the collation (varchar_pattern_ops)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 03:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PATH_OPS = {"org_path": "varchar_pattern_ops"}

CLAIMABLE_WHERE = "status = 'open' AND assignee IS NULL"

# name, columns, PostgreSQL operator classes
NEW = [
    (
        "ix_human_task_status_path_due",
        ["status", "org_path", "due_at", "case_id"],
        PATH_OPS,
    ),
    ("ix_human_task_status_due_path", ["status", "due_at", "org_path"], PATH_OPS),
    (
        "ix_human_task_assignee_status_due",
        ["assignee", "status", "due_at", "org_path", "case_id"],
        PATH_OPS,
    ),
    (
        "ix_human_task_completed_by_status_due",
        ["completed_by", "status", "due_at", "org_path", "case_id"],
        PATH_OPS,
    ),
    ("ix_human_task_case_status", ["case_id", "status", "due_at"], {}),
]
# Single-column indexes the new ones lead with (status, assignee, case_id,
# candidate_role), and the due date's: alone, the role's drew the planner into bitmap
# ANDs of half the table, the due date's into walking every closed task's date.
SUPERSEDED = [
    ("ix_human_task_status", ["status"]),
    ("ix_human_task_assignee", ["assignee"]),
    ("ix_human_task_case_id", ["case_id"]),
    ("ix_human_task_candidate_role", ["candidate_role"]),
    ("ix_human_task_due_at", ["due_at"]),
]


def upgrade() -> None:
    for name, _ in SUPERSEDED:
        op.drop_index(name, table_name="human_task")
    for name, columns, ops in NEW:
        op.create_index(name, "human_task", columns, postgresql_ops=ops)
    op.create_index(
        "ix_human_task_claimable",
        "human_task",
        ["candidate_role", "due_at", "org_path", "case_id"],
        postgresql_ops=PATH_OPS,
        postgresql_where=sa.text(CLAIMABLE_WHERE),
        sqlite_where=sa.text(CLAIMABLE_WHERE),
    )
    # The subtree filter alone (no status): the path in pattern order.
    op.drop_index("ix_human_task_org_path", table_name="human_task")
    op.create_index(
        "ix_human_task_org_path", "human_task", ["org_path"], postgresql_ops=PATH_OPS
    )


def downgrade() -> None:
    op.drop_index("ix_human_task_org_path", table_name="human_task")
    op.create_index("ix_human_task_org_path", "human_task", ["org_path"])
    op.drop_index("ix_human_task_claimable", table_name="human_task")
    for name, _, _ in reversed(NEW):
        op.drop_index(name, table_name="human_task")
    for name, columns in SUPERSEDED:
        op.create_index(name, "human_task", columns)
