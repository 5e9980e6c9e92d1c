"""Managers' reports: service satisfaction and the complaint loop's clocks (issue 11).

Who may read: managers, admins, leaders and auditors, for their own unit's subtree
(any unit in it by ``org_unit_id``; outside it, or unknown: 404). Other staff: 403.
The dashboard (/dashboard) is for managers and admins; leaders (who approve
extensions) and auditors read the same figures here. Clerks do not: with a handful
of ratings a month, a station's own figures come close to naming the raters
(003 §9.1.3: the rated clerk never sees who rated).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AuthUser, CurrentUser, EngineDep
from api.errors import field_error, forbidden, not_found
from api.params import MAX_DATE, MAX_ID, MIN_DATE
from api.satisfaction_queries import (
    MAX_MONTHS,
    Period,
    default_period,
    month_count,
    org_unit,
    satisfaction_report,
)
from models.satisfaction_public import (
    PETITION_STAGES,
    SatisfactionFigures,
    SatisfactionReport,
)

router = APIRouter(prefix="/api/reports", tags=["reports"])

REPORT_ROLES = ("manager", "admin", "leader", "auditor")

FromQuery = Annotated[
    date | None,
    Query(
        alias="from",
        description="First day, YYYY-MM-DD (Asia/Shanghai); default: the 1st of "
        "this month",
    ),
]
ToQuery = Annotated[
    date | None,
    Query(alias="to", description="Last day, included; default: today"),
]
UnitQuery = Annotated[
    int | None,
    Query(
        ge=1,
        le=MAX_ID,
        description="A unit of my subtree (default: my own unit); else 404",
    ),
]


def _period(first: date | None, last: date | None) -> Period:
    """The asked period, or 422 naming the field."""
    for name, day in (("from", first), ("to", last)):
        if day is not None and not MIN_DATE <= day <= MAX_DATE:
            raise field_error(
                name,
                f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间 (date out of range)",
                location="query",
            )
    default = default_period(datetime.now(UTC))
    period = Period(first or default.first, last or default.last)
    if period.first > period.last:
        raise field_error(
            "from", "开始日期不能晚于结束日期 (from is after to)", location="query"
        )
    if month_count(period.first, period.last) > MAX_MONTHS:
        raise field_error(
            "to",
            f"统计期间最长 {MAX_MONTHS} 个月 (at most {MAX_MONTHS} months)",
            location="query",
        )
    return period


async def load_report(
    engine: Engine,
    user: AuthUser,
    first: date | None,
    last: date | None,
    unit_id: int | None,
) -> SatisfactionReport:
    """403 for a role that may not read it, 422 for a bad period, 404 for a unit
    outside the caller's subtree; else the report."""
    if not user.has_role(*REPORT_ROLES):
        raise forbidden(
            "仅主任、管理员、负责人和审计人员可查看满意度报表 (managers, admins, "
            "leaders and auditors only)"
        )
    period = _period(first, last)
    unit = await run_in_threadpool(org_unit, engine, unit_id or user.org_unit_id)
    if unit is None or not unit.path.startswith(user.org_path):
        raise not_found("机构", "org unit")
    return await run_in_threadpool(
        satisfaction_report, engine, unit, period, user.username, user.org_path
    )


@router.get(
    "/satisfaction",
    response_model=SatisfactionReport,
    summary="Service satisfaction and complaint clocks / 服务评价与投诉",
)
async def satisfaction(
    engine: EngineDep,
    user: CurrentUser,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    org_unit_id: UnitQuery = None,
) -> SatisfactionReport:
    """The satisfaction figures of a unit's subtree over Asia/Shanghai calendar days
    `from`–`to` (default: this month to date; `from` after `to` or a period over 36
    months: 422): counted ratings per grade, the satisfaction rate against the goal
    of 90 % (000 §4.1.5), bad reviews, ratings uncounted by an upheld appeal, the
    rectification on-time rate, the reopen rate, and each petition stage's on-time
    rate. Per unit (the unit itself, then each direct child rolled up), per month
    and in total; every rate is null when there is nothing to count.

    Counts only: no rater, complainant, rated case or clerk. A per-clerk breakdown
    is not offered (it would let raters be inferred). Managers, admins, leaders and
    auditors (others 403); a unit outside my subtree: 404."""
    return await load_report(engine, user, date_from, date_to, org_unit_id)


# --- CSV ------------------------------------------------------------------------------

GRADE_HEADERS = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
STAGE_HEADERS = {
    "acceptance_decision": "受理告知",
    "handling": "办理",
    "review": "复查",
    "recheck": "复核",
}
HEADER = [
    "范围",
    "机构",
    "月份",
    "评价数(计入)",
    *GRADE_HEADERS,
    "满意率",
    "达标(≥90%)",
    "差评数",
    "申诉成立不计入",
    "整改办结",
    "整改按期",
    "整改按期率",
    "投诉办结",
    "回访后重新整改",
    "重新整改率",
    *[
        f"{STAGE_HEADERS[s]}{part}"
        for s in PETITION_STAGES
        for part in ("办结", "按期", "按期率")
    ],
]
CSV_DOC = {
    200: {
        "description": "UTF-8 with a BOM and CRLF line ends (Excel opens it as is): "
        "one row for the totals (合计), one per unit (机构) and one per month (月份), "
        "the columns of the JSON report; rates as percentages, empty when null",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


def _pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def _cells(scope: str, unit: str, month: str, f: SatisfactionFigures) -> list[Any]:
    g = f.grades
    stages = [getattr(f.petition, s) for s in PETITION_STAGES]
    return [
        scope,
        _cell(unit),
        month,
        f.ratings,
        g.very_satisfied,
        g.satisfied,
        g.basically_satisfied,
        g.dissatisfied,
        g.very_dissatisfied,
        _pct(f.satisfaction_rate),
        "" if f.meets_goal is None else ("是" if f.meets_goal else "否"),
        f.bad_reviews,
        f.appeals_upheld,
        f.rectify_completed,
        f.rectify_on_time,
        _pct(f.rectify_on_time_rate),
        f.complaints_concluded,
        f.complaints_reopened,
        _pct(f.reopen_rate),
        *[
            v
            for st in stages
            for v in (st.completed, st.on_time, _pct(st.on_time_rate))
        ],
    ]


def _cell(value: Any) -> str:
    """Text as a spreadsheet shows it, never as a formula (a unit named "=…" stays
    text), as the payroll export does."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_csv(report: SatisfactionReport) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    period = f"{report.date_from}~{report.date_to}"
    w.writerow(_cells("合计", report.org_unit_name, period, report.totals))
    for u in report.units:
        name = u.org_unit_name if u.rolled_up else f"{u.org_unit_name}(本级)"
        w.writerow(_cells("机构", name, period, u))
    for m in report.months:
        w.writerow(_cells("月份", report.org_unit_name, m.month, m))
    # A BOM so that spreadsheet programs read the Chinese text as UTF-8.
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _record_export(engine: Engine, user: AuthUser, report: SatisfactionReport) -> None:
    with Session(engine) as s:
        record_audit(
            s,
            actor=user.username,
            action="satisfaction_report_exported",
            entity_type="org_unit",
            entity_id=str(report.org_unit_id),
            after={
                "from": report.date_from.isoformat(),
                "to": report.date_to.isoformat(),
                "rows": 1 + len(report.units) + len(report.months),
            },
        )
        s.commit()


@router.get(
    "/satisfaction.csv",
    response_class=Response,
    responses=CSV_DOC,  # type: ignore[arg-type]
    summary="The satisfaction report as CSV / 服务评价与投诉报表",
)
async def satisfaction_csv(
    engine: EngineDep,
    user: CurrentUser,
    date_from: FromQuery = None,
    date_to: ToQuery = None,
    org_unit_id: UnitQuery = None,
) -> Response:
    """The report of `GET /api/reports/satisfaction` (same parameters, same answers
    403 / 404 / 422) as a spreadsheet: totals, units and months, one row each.
    Every download is audited (`satisfaction_report_exported`)."""
    return await csv_download(engine, user, date_from, date_to, org_unit_id)


async def csv_download(
    engine: Engine,
    user: AuthUser,
    first: date | None,
    last: date | None,
    unit_id: int | None,
) -> Response:
    """The CSV answer (the API's and the dashboard's link), its download audited."""
    report = await load_report(engine, user, first, last, unit_id)
    await run_in_threadpool(_record_export, engine, user, report)
    name = f"satisfaction-{report.org_unit_id}-{report.date_from}-{report.date_to}.csv"
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
