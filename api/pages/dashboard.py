"""The manager dashboard: where every case stands and what is late in the subtree, each
figure a link to the list behind it (open incidents, failed notices and escalated tasks
included), and bulk reassignment (reason required, audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api import task_actions
from api.case_queries import not_excluded
from api.dashboard_queries import NOTICE_FAILED_STEPS, dashboard_stats
from api.deps import AuthUser, EngineDep, SettingsDep, TemporalDep
from api.inbox_queries import urgency
from api.pages.dashboard_campaign import campaign_section, open_from_form
from api.pages.dashboard_satisfaction import satisfaction_csv, satisfaction_section
from api.params import ascii_int
from api.web.charts import Bar, bar_chart
from api.web.render import render, translator
from api.web.session import PageUser
from models.processes import SPEC_VERSIONS, SUPPORT_SPECS
from models.tables import Account, HumanTask, OrgUnit

# Roles that work some step (clerks, desks, finance, leaders): who may be given a task.
WORKING_ROLES = frozenset(
    step.role
    for spec in [
        *(s for versions in SPEC_VERSIONS.values() for s in versions.values()),
        *SUPPORT_SPECS.values(),
    ]
    for step in spec.steps
)

router = APIRouter(include_in_schema=False)
COLOURS = {
    "overdue": "#c53030",
    "at_risk": "#b7791f",
    "on_time": "#1e7d3a",
    "none": "#718096",
}


def _require_manager(user: AuthUser) -> None:
    if not user.has_role("manager", "admin"):
        raise HTTPException(403, detail="仅管理人员可访问")


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request, user: PageUser, engine: EngineDep, settings: SettingsDep
) -> HTMLResponse:
    _require_manager(user)
    stats = await run_in_threadpool(
        lambda: dashboard_stats(
            engine,
            user.org_path,
            datetime.now(UTC),
            settings.at_risk_hours,
            username=user.username,
        )
    )
    tr = translator(request)
    _ = tr.gettext

    def chart(
        key: str,
        title: str,
        item: str,
        bars: list[Bar],
        unit: str = "",
        described_by: str | None = None,
    ) -> str:
        """A chart named like its card, with its figures in a table (SC 1.1.1)."""
        return bar_chart(
            bars,
            title=title,
            chart_id=f"chart-{key}",
            gettext=_,
            item_header=item,
            value_header=_("小时") if unit == "h" else _("数量"),
            unit=unit,
            described_by=described_by,
        )

    charts = {
        "status": chart(
            "status",
            _("任务时限状态"),
            _("时限状态"),
            [
                Bar(
                    tr.gettext("已超期"),
                    stats.overdue,
                    COLOURS["overdue"],
                    "/dashboard/tasks?urgency=overdue",
                ),
                Bar(
                    tr.gettext("即将到期"),
                    stats.at_risk,
                    COLOURS["at_risk"],
                    "/dashboard/tasks?urgency=at_risk",
                ),
                Bar(
                    tr.gettext("正常"),
                    stats.on_time,
                    COLOURS["on_time"],
                    "/dashboard/tasks?urgency=on_time",
                ),
            ],
        ),
        "steps": chart(
            "steps",
            _("各环节待办"),
            _("环节"),
            [
                Bar(
                    tr.gettext(s.title),
                    s.count,
                    "#2b6cb0",
                    f"/dashboard/tasks?step={s.step}",
                )
                for s in stats.open_tasks_by_step
            ],
        ),
        "orgs": chart(
            "orgs",
            _("各机构待办"),
            _("机构"),
            [
                Bar(
                    o.org_unit_name,
                    o.count,
                    "#4a5568",
                    f"/dashboard/tasks?org_unit={o.org_unit_id}",
                )
                for o in stats.open_tasks_by_org_unit
            ],
        ),
        "ages": chart(
            "ages",
            _("积压时长"),
            _("积压时长"),
            [Bar(tr.gettext(k), v, "#805ad5") for k, v in stats.backlog_age.items()],
        ),
        "durations": chart(
            "durations",
            _("各环节办理用时(中位数，小时)"),
            _("环节"),
            [
                Bar(tr.gettext(d.title), d.median_hours, "#2c7a7b")
                for d in stats.step_durations
            ],
            unit="h",
            described_by="step-durations",
        ),
    }
    # The year's annual review (001 第九条): its figures and the form to open it.
    campaign = await campaign_section(request, engine, settings, user, tr)
    # 服务评价与投诉 (003 §9.1.3, §9.2.1; goal ≥ 90 %, 000 §4.1.5).
    satisfaction = await satisfaction_section(request, engine, user, tr)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "stats": stats,
            "charts": charts,
            "notice_failed_steps": NOTICE_FAILED_STEPS,
            **campaign,
            **satisfaction,
        },
    )


@router.get("/dashboard/satisfaction.csv")
async def dashboard_satisfaction_csv(
    request: Request, user: PageUser, engine: EngineDep
) -> Response:
    """The satisfaction report as CSV for the dashboard's link (managers, admins),
    audited like GET /api/reports/satisfaction.csv."""
    _require_manager(user)
    return await satisfaction_csv(engine, user, request)


@router.post("/dashboard/campaigns/annual-review")
async def open_campaign(
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> RedirectResponse:
    """Open the year's annual review by hand (managers, admins), once."""
    _require_manager(user)
    return await open_from_form(
        request, engine, temporal, settings, user, translator(request)
    )


def _tasks(
    engine: EngineDep, user: AuthUser, p: dict[str, str], at_risk_hours: float
) -> dict[str, Any]:
    now = datetime.now(UTC)
    with Session(engine) as s:
        q = select(HumanTask).where(
            col(HumanTask.org_path).startswith(user.org_path),
            not_excluded(user.username, user.org_path, col(HumanTask.case_id)),
            HumanTask.status == "open",
        )
        if p.get("step"):  # one step, or several separated by commas
            q = q.where(col(HumanTask.step).in_(p["step"].split(",")))
        rung = ascii_int(p.get("escalation"))
        if rung is not None:  # reached at least this rung
            q = q.where(col(HumanTask.escalation_level) >= rung)
        org_unit = ascii_int(p.get("org_unit"))
        if org_unit is not None:
            q = q.where(HumanTask.org_unit_id == org_unit)
        if p.get("assignee"):
            q = q.where(HumanTask.assignee == p["assignee"])
        rows = list(s.exec(q.order_by(col(HumanTask.due_at)).limit(500)).all())
        units = {
            u.id: u
            for u in s.exec(
                select(OrgUnit).where(col(OrgUnit.path).startswith(user.org_path))
            ).all()
        }
        staff = [
            a
            for a in s.exec(
                select(Account).where(
                    col(Account.org_unit_id).in_(units.keys()), Account.active
                )
            ).all()
            if WORKING_ROLES.intersection(a.roles)
        ]
    labelled = [(t, urgency(t, now, timedelta(hours=at_risk_hours))) for t in rows]
    if p.get("urgency"):
        labelled = [(t, u) for t, u in labelled if u == p["urgency"]]
    return {"rows": labelled, "units": units, "staff": staff, "params": p}


@router.get("/dashboard/tasks", response_class=HTMLResponse)
async def dashboard_tasks(
    request: Request, user: PageUser, engine: EngineDep, settings: SettingsDep
) -> HTMLResponse:
    """The open tasks behind a dashboard figure, with bulk reassignment."""
    _require_manager(user)
    ctx = await run_in_threadpool(
        _tasks, engine, user, dict(request.query_params), settings.at_risk_hours
    )
    return render(
        request,
        "dashboard/tasks.html",
        {**ctx, "qs": request.url.query, "flash": request.query_params.get("flash")},
    )


@router.post("/dashboard/reassign")
async def bulk_reassign(
    request: Request, user: PageUser, engine: EngineDep, temporal: TemporalDep
) -> RedirectResponse:
    """Reassign the selected tasks to one clerk, e.g. to cover an absence (reason required)."""
    _require_manager(user)
    form = await request.form()
    tr = translator(request)
    back = str(form.get("back") or "")
    ids = [str(v) for v in form.getlist("task_id")]
    username, reason = (
        str(form.get("username") or ""),
        str(form.get("reason") or "").strip(),
    )
    if not reason or not ids:
        msg = tr.gettext("请选择任务并填写转派原因")
        return RedirectResponse(
            f"/dashboard/tasks?{back}&{urlencode({'flash': msg})}", status_code=303
        )
    done, failed = 0, []
    for task_id in ids:
        try:
            task = await task_actions.load_task(engine, user, task_id)
            await task_actions.reassign(temporal, engine, task, user, username, reason)
            done += 1
        except HTTPException as exc:
            if isinstance(exc.detail, dict) and exc.detail.get("type") == (
                "AlreadyAssigned"
            ):
                done += 1  # already that clerk's: nothing to move
                continue
            failed.append(f"{task_id}: {exc.status_code}")
    msg = tr.gettext("已转派 {n} 项", n=done) + (
        f"; {tr.gettext('失败')}: {', '.join(failed)}" if failed else ""
    )
    return RedirectResponse(
        f"/dashboard/tasks?{back}&flash={quote(msg)}", status_code=303
    )
