"""Org units of my subtree, and the admin-extensible holiday table."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AdminUser, CurrentUser, EngineDep
from models.tables import Holiday, OrgUnit

router = APIRouter(prefix="/api", tags=["reference data"])


class OrgUnitPublic(BaseModel):
    id: int
    code: str
    name: str
    level: str
    parent_id: int | None
    path: str


class HolidayPublic(BaseModel):
    day: date
    workday: bool = Field(
        description="false: a statutory holiday; true: an adjusted working weekend (调休)"
    )
    name: str = ""


@router.get(
    "/org-units", response_model=list[OrgUnitPublic], summary="Org units of my subtree"
)
async def list_org_units(engine: EngineDep, user: CurrentUser) -> list[OrgUnitPublic]:
    def read() -> list[OrgUnitPublic]:
        with Session(engine) as s:
            rows = s.exec(
                select(OrgUnit)
                .where(col(OrgUnit.path).startswith(user.org_path))
                .order_by(col(OrgUnit.path))
            ).all()
            return [
                OrgUnitPublic(**r.model_dump(exclude={"level"}), level=str(r.level))
                for r in rows
            ]

    return await run_in_threadpool(read)


@router.get(
    "/holidays", response_model=list[HolidayPublic], summary="Admin holiday overrides"
)
async def list_holidays(
    engine: EngineDep, user: CurrentUser, year: int | None = None
) -> list[HolidayPublic]:
    """Days that override the `chinese-calendar` package (e.g. a year it does not cover yet)."""

    def read() -> list[HolidayPublic]:
        with Session(engine) as s:
            q = select(Holiday).order_by(col(Holiday.day))
            if year:
                q = q.where(
                    col(Holiday.day) >= date(year, 1, 1),
                    col(Holiday.day) <= date(year, 12, 31),
                )
            return [
                HolidayPublic.model_validate(h, from_attributes=True)
                for h in s.exec(q).all()
            ]

    return await run_in_threadpool(read)


@router.post(
    "/holidays",
    response_model=HolidayPublic,
    summary="Add or change a holiday override (admin)",
)
async def upsert_holiday(
    body: HolidayPublic, engine: EngineDep, user: AdminUser
) -> HolidayPublic:
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
