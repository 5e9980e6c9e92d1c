"""The admin-extensible holiday table: overrides of the ``chinese-calendar`` package,
e.g. for a year the State Council has announced but the package does not cover yet."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AdminUser, CurrentUser, EngineDep
from api.queries import holidays_of
from models.tables import Holiday

router = APIRouter(prefix="/api/holidays", tags=["reference data"])


class HolidayPublic(BaseModel):
    day: date
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


@router.post(
    "",
    response_model=HolidayPublic,
    summary="Add or change a holiday override (admin) / 设置节假日",
)
async def upsert_holiday(
    body: HolidayPublic, engine: EngineDep, user: AdminUser
) -> HolidayPublic:
    """Set one day as a holiday or as an adjusted working day; setting the same day
    again replaces it. Admin only (403 otherwise); audited with before and after."""

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

    return await run_in_threadpool(write)
