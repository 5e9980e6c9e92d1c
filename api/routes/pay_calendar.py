"""The monthly pay dates of a year (000 §6.4.2: the 10th, earlier on a holiday), each
with whether it moved, why, and which calendar decided."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, EngineDep
from models.workdays import (
    PaySource,
    explain_pay_date,
    pay_calendar_of,
    statutory_calendar_covers,
)

router = APIRouter(prefix="/api/pay-calendar", tags=["monthly pay"])


class PayMonth(BaseModel):
    month: int = Field(ge=1, le=12)
    nominal_date: date = Field(description="The 10th of the month")
    pay_date: date = Field(
        description="The 10th, or the last working day before it (000 §6.4.2)"
    )
    moved: bool = Field(description="True when the 10th is not a working day")
    reason: str = Field(description="Why it is paid that day, in Chinese")
    source: PaySource = Field(
        description="What decided: the admin holiday table, chinese-calendar, or the "
        "weekends-only fallback for a year neither covers"
    )
    warning: str | None = Field(
        default=None, description="Set when only weekends were known (weekends_only)"
    )


class PayCalendar(BaseModel):
    year: int
    statutory_calendar: bool = Field(
        description="Whether chinese-calendar holds the State Council's holidays of "
        "this year (otherwise: the admin table, then weekends only)"
    )
    warning: str | None = Field(
        default=None, description="Set when a month's date rests on weekends only"
    )
    months: list[PayMonth]


@router.get(
    "/{year}",
    response_model=PayCalendar,
    summary="Monthly pay dates of a year / 退役金发放日历",
)
async def get_pay_calendar(
    year: Annotated[int, Path(ge=2000, le=2100)],
    engine: EngineDep,
    user: CurrentUser,
) -> PayCalendar:
    """The twelve pay dates of ``year``: the 10th, or the last working day before it
    when the 10th is not a working day (a 调休 Saturday counts as one) — 000 §6.4.2
    "退役金发放时间一般为每月10日前。遇国家法定节假日，应当提前发放"; 001 第十条. The admin
    holiday table (`/api/holidays`) overrides chinese-calendar; a year neither covers
    falls back to weekends only, with a warning. Any staff member; 422 outside
    2000–2100."""

    def read() -> PayCalendar:
        with Session(engine) as s:
            cal, names = pay_calendar_of(s, year)
        months = [explain_pay_date(year, m, cal, names) for m in range(1, 13)]
        fallback = [m for m in months if m.warning]
        return PayCalendar(
            year=year,
            statutory_calendar=statutory_calendar_covers(year),
            warning=fallback[0].warning if fallback else None,
            months=[
                PayMonth(
                    month=m.month,
                    nominal_date=m.nominal,
                    pay_date=m.pay_date,
                    moved=m.moved,
                    reason=m.reason,
                    source=m.source,
                    warning=m.warning,
                )
                for m in months
            ],
        )

    return await run_in_threadpool(read)
