"""The admin-extensible holiday table: overrides of the ``chinese-calendar`` package,
e.g. for a year the State Council has announced but the package does not cover yet."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

import structlog
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client
from temporalio.service import RPCError

from api.audit import record_audit
from api.deps import AdminUser, CurrentUser, EngineDep, TemporalDep
from api.params import BoundedDate
from api.queries import holidays_of
from models.contracts import CalendarChanged
from models.tables import Holiday, HumanTask

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/holidays", tags=["reference data"])


class HolidayPublic(BaseModel):
    day: BoundedDate
    workday: bool = Field(
        description="false: a statutory holiday; true: an adjusted working weekend (调休)"
    )
    name: str = Field(default="", max_length=100, description="e.g. 国庆节")


@router.get(
    "",
    response_model=list[HolidayPublic],
    summary="Holiday overrides / 节假日调整",
)
async def list_holidays(
    engine: EngineDep,
    user: CurrentUser,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
) -> list[HolidayPublic]:
    """The days that override `chinese-calendar` when deadlines are counted in working
    days, of one year or all."""

    def read() -> list[HolidayPublic]:
        with Session(engine) as s:
            return [
                HolidayPublic.model_validate(h, from_attributes=True)
                for h in holidays_of(s, year)
            ]

    return await run_in_threadpool(read)


class HolidaySet(HolidayPublic):
    cases_notified: int = Field(
        default=0,
        description="open cases told to recompute the due dates the change may move",
    )


@router.post(
    "",
    response_model=HolidaySet,
    summary="Add or change a holiday override (admin) / 设置节假日",
)
async def upsert_holiday(
    body: HolidayPublic, engine: EngineDep, temporal: TemporalDep, user: AdminUser
) -> HolidaySet:
    """Set one day as a holiday or as an adjusted working day; setting the same day
    again replaces it. Admin only (403 otherwise); audited with before and after.

    Every open case with a task whose deadline (or escalation ladder) the day may move
    is signalled; each recomputes its due dates and records the change in its history
    and the audit trail (the State Council publishes next year's holidays in November
    or December, after cases with January deadlines are open)."""

    def write() -> HolidayPublic:
        with Session(engine) as s:
            row = s.get(Holiday, body.day)
            before = {"workday": row.workday, "name": row.name} if row else None
            row = row or Holiday(day=body.day)
            row.workday, row.name = body.workday, body.name
            s.add(row)
            record_audit(
                s,
                actor=user.username,
                action="holiday_set",
                entity_type="holiday",
                entity_id=body.day.isoformat(),
                before=before,
                after={"workday": body.workday, "name": body.name},
            )
            s.commit()
            return body

    await run_in_threadpool(write)
    workflow_ids = await run_in_threadpool(cases_affected_by, engine, body.day)
    notified = await signal_calendar_changed(
        temporal, workflow_ids, body.day, user.username
    )
    return HolidaySet(**body.model_dump(), cases_notified=notified)


# A deadline counted in working days may move when a day up to this far before its
# due date changes (covers the escalation ladder's working days after the due date).
LADDER_REACH = timedelta(days=21)


def cases_affected_by(engine: Engine, day: date) -> list[str]:
    """Workflows with an open task opened on or before ``day`` whose due date is not
    long before it: the ones whose deadlines the changed day may move."""
    start = datetime.combine(day, time(0), tzinfo=UTC) + timedelta(days=1)
    with Session(engine) as s:
        rows = s.exec(
            select(HumanTask.workflow_id)
            .where(
                HumanTask.status == "open",
                col(HumanTask.due_at).is_not(None),
                col(HumanTask.created_at) < start,
                col(HumanTask.due_at) >= start - LADDER_REACH - timedelta(days=1),
            )
            .distinct()
        ).all()
    return sorted(rows)


async def signal_calendar_changed(
    temporal: Client, workflow_ids: list[str], day: date, actor: str
) -> int:
    """Tell each case, all at once and within one bounded wait; a case that closed
    meanwhile or does not answer is skipped (logged)."""
    change = CalendarChanged(days=[day.isoformat()], actor=actor)

    async def tell(workflow_id: str) -> bool:
        try:
            await temporal.get_workflow_handle(workflow_id).signal(
                "calendar_changed", change, rpc_timeout=timedelta(seconds=5)
            )
            return True
        except RPCError as exc:
            log.warning(
                "calendar_signal_failed", workflow_id=workflow_id, error=str(exc)
            )
            return False

    try:
        async with asyncio.timeout(10):
            told = await asyncio.gather(*(tell(w) for w in workflow_ids))
    except TimeoutError:
        log.warning("calendar_signal_timeout", cases=len(workflow_ids))
        return 0
    return sum(told)
