"""Audit records written by the API (reference-data changes, unmasked reads, replays),
tagged with the request id."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from models.audit import add_audit_event


def record_audit(session: Session, **fields: Any) -> None:
    """`models.audit.add_audit_event` with the current request id."""
    fields.setdefault(
        "request_id", structlog.contextvars.get_contextvars().get("request_id")
    )
    add_audit_event(session, **fields)


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
