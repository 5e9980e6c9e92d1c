"""The append-only audit trail: one function for every writer (activities and the API)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, bindparam, insert, select
from sqlmodel import Session

from models.db import InsertOnce
from models.tables import AuditEvent, utcnow

_AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
# Built once: Core statements on the session's connection, without the ORM's unit of
# work (an audit row is never read back in the transaction that writes it).
_INSERT = insert(_AUDIT)
_DEDUPED = select(_AUDIT.c.id).where(_AUDIT.c.dedupe_key == bindparam("key")).limit(1)
# A keyed row in one statement: the insert does nothing when the key is there.
_INSERT_ONCE = InsertOnce(_AUDIT, _AUDIT.c.dedupe_key)


def add_audit_event(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    case_id: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    request_id: str | None = None,
    dedupe_key: str | None = None,
) -> None:
    """Write an audit row in ``session``'s transaction (committed with the change it
    records); with a ``dedupe_key``, a retried writer records the change once."""
    conn = session.connection()
    statement: Insert = _INSERT
    if dedupe_key is not None:
        once = _INSERT_ONCE.on(conn)
        if once is not None:
            statement = once
        elif conn.execute(_DEDUPED, {"key": dedupe_key}).first() is not None:
            return
    conn.execute(
        statement,
        {
            "at": utcnow(),
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "case_id": case_id,
            "before": before,
            "after": after,
            "request_id": request_id,
            "dedupe_key": dedupe_key,
        },
    )
