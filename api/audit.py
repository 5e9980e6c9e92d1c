"""Audit records written by the API (reference-data changes, unmasked reads, replays),
tagged with the request id."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.audit import add_audit_event


def record_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    case_id: str | None = None,
    request_id: str | None = None,
) -> None:
    """Add an audit row to ``session``; it is committed with the change it records, so
    a change without its audit row cannot happen. ``request_id`` defaults to the one
    the request middleware bound, which ties the row to the request's log lines."""
    if request_id is None:
        request_id = structlog.contextvars.get_contextvars().get("request_id")
    add_audit_event(
        session,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        case_id=case_id,
        before=before,
        after=after,
        request_id=request_id,
    )


def record_case_action(
    engine: Engine, actor: str, action: str, case_id: str, after: dict[str, Any]
) -> None:
    """Record an action on a case that changes no data (a replay, an evidence export)."""
    with Session(engine) as s:
        record_audit(
            s,
            actor=actor,
            action=action,
            entity_type="case",
            entity_id=case_id,
            case_id=case_id,
            after=after,
        )
        s.commit()
