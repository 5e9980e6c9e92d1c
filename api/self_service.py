"""What the veteran's self-service pages read and record: the signed link resolved to
its task row, the per-address request limit, and the audit row of every refused use.

The link is the only credential (models/self_link.py): no account, no session. A
link is refused when it is not ours (404), expired (410), or its round is no longer
open — submitted, or withdrawn when the window closed (410). Requests are counted
per client address in the database (``login_throttle``, key ``self:<address>``), so
the limit holds across API processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.audit import record_audit
from models.processes.annual_review import PROCESS_KEY
from models.self_link import (
    STEP,
    LinkExpired,
    LinkInvalid,
    SelfLink,
    read_link,
)
from models.settings import Settings
from models.tables import Case, HumanTask, LoginThrottle, OrgUnit, Veteran, aware

log = structlog.get_logger(__name__)

RATE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Station:
    """Where the veteran can ask: the nearest unit above them with a phone."""

    name: str = ""
    phone: str = ""
    address: str = ""


@dataclass
class Refused(Exception):
    """A link the page does not honour: ``status`` 404 (not ours) or 410 (expired,
    used, closed); ``reason`` is what the audit row records."""

    status: int
    reason: str
    link: SelfLink | None = None
    station: Station = field(default_factory=Station)


@dataclass(frozen=True)
class OpenLink:
    """A valid link to an open ``submit_report`` round."""

    link: SelfLink
    task: HumanTask
    veteran_name: str
    year: int | None
    station: Station
    defects: list[str]
    previous: dict[str, Any]  # the report of the round before (correction rounds)


# ---- the request limit ---------------------------------------------------------


def _ensure_row(engine: Engine, key: str) -> None:
    with Session(engine) as s:
        if s.get(LoginThrottle, key) is not None:
            return
        s.add(LoginThrottle(key=key))
        try:
            s.commit()
        except IntegrityError:  # another process made it meanwhile
            s.rollback()


def count_request(engine: Engine, settings: Settings, address: str) -> int | None:
    """Count one request of ``address``; the seconds to wait when it is over the
    limit (None otherwise). The row is write-locked while counting (the no-op UPDATE
    takes PostgreSQL's row lock and SQLite's write lock), so parallel requests from
    several API processes count one after another."""
    key = f"self:{address[:100]}"
    _ensure_row(engine, key)
    limit = settings.self_link_requests_per_minute
    with Session(engine) as s:
        s.execute(
            update(LoginThrottle)
            .where(col(LoginThrottle.key) == key)
            .values(failures=LoginThrottle.failures)
        )
        row = s.exec(select(LoginThrottle).where(LoginThrottle.key == key)).one()
        now = datetime.now(UTC)
        start = aware(row.window_start)
        if now - start >= RATE_WINDOW:
            row.failures, row.window_start, start = 0, now, now
        row.failures += 1
        over = row.failures > limit
        first_refusal = row.failures == limit + 1
        if over:
            row.last_failure_at = now
        s.add(row)
        s.commit()
    if not over:
        return None
    wait = math.ceil((start + RATE_WINDOW - now).total_seconds())
    if first_refusal:  # once per window: a flood does not flood the audit trail
        audit_refusal(engine, None, "rate_limited", address)
    return max(1, wait)


# ---- the link ------------------------------------------------------------------


def station_of(session: Session, veteran: Veteran | None) -> Station:
    """The veteran's own unit, or the nearest one above it that has a phone."""
    unit = session.get(OrgUnit, veteran.org_unit_id) if veteran else None
    first = unit
    while unit is not None and not unit.phone:
        unit = session.get(OrgUnit, unit.parent_id) if unit.parent_id else None
    found = unit or first
    if found is None:
        return Station()
    return Station(name=found.name, phone=found.phone, address=found.address)


def resolve(engine: Engine, settings: Settings, token: str) -> OpenLink:
    """The open round ``token`` names, or ``Refused``."""
    try:
        link = read_link(settings.secret_key, token)
    except LinkExpired as exc:
        with Session(engine) as s:
            station = station_of(s, s.get(Veteran, exc.link.veteran_id))
        raise Refused(410, "expired", exc.link, station) from None
    except LinkInvalid as exc:
        raise Refused(404, f"invalid: {exc}") from None
    with Session(engine) as s:
        task = s.get(HumanTask, link.task_id)
        case = s.get(Case, link.case_id)
        veteran = s.get(Veteran, link.veteran_id)
        if (
            task is None
            or case is None
            or veteran is None
            or task.case_id != case.id
            or task.process != PROCESS_KEY
            or task.step != STEP
            or case.veteran_id != link.veteran_id
        ):
            # Signed by us, yet naming no such round of this veteran's case.
            raise Refused(404, "unknown_task", link)
        station = station_of(s, veteran)
        if task.status != "open":
            reason = "used" if task.status == "completed" else "closed"
            raise Refused(410, reason, link, station)
        return OpenLink(
            link=link,
            task=task,
            veteran_name=veteran.name,
            year=_year(case, task),
            station=station,
            defects=_defects(s, task),
            previous=_previous_report(s, link),
        )


def _year(case: Case, task: HumanTask) -> int | None:
    for source in (case.data, task.context):
        value = source.get("year") if isinstance(source, dict) else None
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return None


def _defects(s: Session, task: HumanTask) -> list[str]:
    """What the county asked to correct (一次性告知): the task's own context, else
    the latest county review of the case that asked for a correction."""
    given = task.context.get("defects") if isinstance(task.context, dict) else None
    if isinstance(given, list):
        return [str(d) for d in given if str(d).strip()]
    if task.round <= 1:
        return []
    review = s.exec(
        select(HumanTask)
        .where(
            HumanTask.case_id == task.case_id,
            HumanTask.step == "county_review",
            HumanTask.outcome == "correct",
        )
        .order_by(col(HumanTask.created_at).desc())
    ).first()
    found = review.result.get("defects", []) if review else []
    return [str(d) for d in found if str(d).strip()]


def _previous_report(s: Session, link: SelfLink) -> dict[str, Any]:
    """The report of the round before, to correct rather than retype."""
    if link.round <= 1:
        return {}
    row = s.get(HumanTask, link.task_id.rsplit(".", 1)[0] + f".{link.round - 1}")
    return dict(row.result) if row is not None and row.result else {}


# ---- audit ---------------------------------------------------------------------


def audit_refusal(
    engine: Engine, link: SelfLink | None, reason: str, address: str
) -> None:
    """One ``self_link_refused`` row: which link (when it was ours), why, from where."""
    with Session(engine) as s:
        record_audit(
            s,
            actor=f"veteran:{link.veteran_id}" if link else "anonymous",
            action="self_link_refused",
            entity_type="task",
            entity_id=link.task_id if link else "unknown",
            case_id=link.case_id if link else None,
            after={"reason": reason, "address": address},
        )
        s.commit()
    log.info(
        "self_link_refused",
        reason=reason,
        case_id=link.case_id if link else None,
        task_id=link.task_id if link else None,
    )
