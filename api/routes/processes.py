"""The processes vetflow runs, with their steps as the workflows define them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import CurrentUser
from models.processes import PROCESSES

router = APIRouter(prefix="/api/processes", tags=["processes"])


@router.get("", summary="Processes and their step definitions")
async def list_processes(user: CurrentUser) -> list[dict[str, Any]]:
    """Each process's key, title, version new cases start on, start-data JSON Schema,
    the veteran categories it does not serve (`excluded_categories`, with where they
    are served) and steps (key, title, clause, role, level, outcomes, the materials
    the step works from, form schema, what follows what). The workflows open their
    tasks from these same definitions, so a diagram drawn from here cannot drift."""
    return [spec.public() for spec in PROCESSES.values()]
