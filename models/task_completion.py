"""What a completed task's row holds: one rule for the projection's write
(``activities.human_tasks.apply_close``) and for the API's answer to a completion,
which applies it to the row it read before the Update instead of reading it again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.contracts import TaskResult
from models.tables import aware


def completed_values(
    result: TaskResult, due_at: datetime | None, *, judge_overdue: bool = True
) -> dict[str, Any]:
    """The task row's columns once ``result`` is recorded (status aside). With
    ``judge_overdue`` and a due time, ``overdue`` too: a task is overdue when it was
    completed after its due time (one defined result whatever order the writes land
    in)."""
    values: dict[str, Any] = {
        "outcome": result.outcome,
        "result": result.data,
        "comment": result.comment,
        "completed_by": result.completed_by,
        "completed_at": result.completed_at,
        "assignee": result.completed_by,
    }
    due, done_at = aware(due_at), aware(result.completed_at)
    if judge_overdue and due is not None and done_at is not None:
        values["overdue"] = done_at > due
    return values
