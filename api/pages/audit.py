"""Auditors: search cases, read the timeline beside the raw Temporal events, replay the
history against today's code, download the evidence pack, read and export the audit
trail (who saw unmasked ID numbers, who reassigned what and why)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, time, timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_case_action
from api.case_queries import audit_scope, search_cases
from api.deps import AuthUser, EngineDep, ReplayPoolDep, TemporalDep, get_settings
from api.evidence import evidence_zip
from api.history_source import replay
from api.pages.cases import case_view, subject_units
from api.params import bounded_date
from api.routes.history import EXPORT_ROLES
from api.task_reads import TrailRow, mask_history, read_trail, task_data
from api.web.display import case_status
from api.web.render import render
from api.web.session import PageUser
from models.evidence_signing import signing_key as evidence_signing_key
from models.idnumber import mask_id_number
from models.processes import PROCESSES
from models.settings import Settings
from models.tables import AuditEvent, Case, Veteran
from models.workdays import TZ

router = APIRouter(include_in_schema=False)


def _require_auditor(user: AuthUser) -> None:
    if not user.has_role("auditor", "admin"):
        raise HTTPException(403, detail="仅审计人员可访问")


def _require_exporter(user: AuthUser) -> None:
    """The evidence pack leaves the system: the same roles as the history export."""
    if not EXPORT_ROLES.intersection(user.roles):
        raise HTTPException(403, detail="仅审计人员和主任可导出")


def _day(value: str | None, *, end: bool = False) -> datetime | None:
    d = bounded_date(value)  # out of range or not a date: no bound
    if d is None:
        return None
    return datetime.combine(d + timedelta(days=1) if end else d, time.min, tzinfo=TZ)


@router.get("/audit", response_class=HTMLResponse)
async def audit_search(
    request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    _require_auditor(user)
    p = dict(request.query_params)

    def search() -> list[tuple[Case, Veteran | None]]:
        return search_cases(
            engine,
            user.org_path,
            username=user.username,
            number=p.get("number", ""),
            veteran=p.get("veteran", ""),
            process=p.get("process", ""),
            started_from=_day(p.get("from")),
            started_before=_day(p.get("to"), end=True),
        )

    rows = await run_in_threadpool(search)
    return render(
        request,
        "audit/search.html",
        {
            "rows": rows,
            "units": await run_in_threadpool(subject_units, engine, rows),
            "case_status": case_status,
            "params": p,
            "processes": list(PROCESSES.values()),
            "mask": mask_id_number,
        },
    )


@router.get("/audit/cases/{case_id}", response_class=HTMLResponse)
async def audit_case(
    case_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> HTMLResponse:
    _require_auditor(user)
    view = await case_view(request, engine, temporal, user, case_id)
    raw = ""
    if view["history"]:
        events = view["history"].as_dict
        # The raw events carry the forms as submitted: sensitive fields masked
        # unless the reader's role may see them (then that read is audited).
        masked, any_masked = mask_history(events, view["case"].process)
        unmask = user.can_unmask(get_settings(request))
        if any_masked and unmask:
            await run_in_threadpool(
                record_case_action,
                engine,
                user.username,
                "unmask_task_data",
                case_id,
                {"fields": "history"},
            )
        raw = json.dumps(events if unmask else masked, ensure_ascii=False, indent=1)
    return render(request, "audit/case.html", {**view, "raw": raw})


@router.post("/audit/cases/{case_id}/replay", response_class=HTMLResponse)
async def audit_replay(
    case_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
    pool: ReplayPoolDep,
) -> HTMLResponse:
    """Replays the history against the current code; answers the verdict fragment (htmx)."""
    _require_auditor(user)
    view = await case_view(request, engine, temporal, user, case_id)
    loaded = view["history"]
    if loaded is None:
        raise HTTPException(404, detail="案件历史已不存在")
    error = await replay(loaded, pool)
    await run_in_threadpool(
        record_case_action,
        engine,
        user.username,
        "replay_history",
        case_id,
        {"ok": error is None, "sha256": loaded.sha256},
    )
    return render(
        request,
        "audit/_verdict.html",
        {
            "ok": error is None,
            "error": error,
            "loaded": loaded,
            "events": len(loaded.as_dict.get("events", [])),
        },
    )


@router.get("/audit/cases/{case_id}/evidence.zip")
async def audit_evidence(
    case_id: str,
    request: Request,
    user: PageUser,
    engine: EngineDep,
    temporal: TemporalDep,
) -> Response:
    _require_exporter(user)
    view = await case_view(request, engine, temporal, user, case_id)
    if view["history"] is None:
        raise HTTPException(404, detail="案件历史已不存在")
    key = await run_in_threadpool(evidence_signing_key, request.app.state.settings)
    # forms.json shows each form as the exporter may read it (sensitive fields
    # masked unless their role may see them); history.json is the complete record.
    unmask = user.can_unmask(get_settings(request))
    tasks = [
        t.model_copy(update={"result": task_data(t, unmask).data})
        for t in view["tasks"]
    ]
    data = evidence_zip(
        view["case"],
        tasks,
        view["timeline"],
        view["history"],
        user.username,
        key,
    )
    await run_in_threadpool(
        record_case_action,
        engine,
        user.username,
        "evidence_exported",
        case_id,
        {"sha256": view["history"].sha256},
    )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="evidence-{case_id}.zip"'
        },
    )


def _trail(
    engine: EngineDep,
    settings: Settings,
    user: AuthUser,
    p: dict[str, str],
    limit: int | None,
) -> list[TrailRow]:
    """The viewer's rows of the trail (``audit_scope``: their org subtree), filtered;
    the form data a row carries masked as the viewer may read it."""
    with Session(engine) as s:
        q = select(AuditEvent).where(audit_scope(user.org_path, username=user.username))
        if p.get("actor"):
            q = q.where(AuditEvent.actor == p["actor"].strip())
        if p.get("action"):
            q = q.where(AuditEvent.action == p["action"].strip())
        if p.get("case_id"):
            q = q.where(AuditEvent.case_id == p["case_id"].strip())
        if start := _day(p.get("from")):
            q = q.where(col(AuditEvent.at) >= start)
        if end := _day(p.get("to"), end=True):
            q = q.where(col(AuditEvent.at) < end)
        q = q.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        rows = list(s.exec(q.limit(limit) if limit else q).all())
    return read_trail(engine, settings, user, rows)


@router.get("/audit/trail", response_class=HTMLResponse)
async def audit_trail(
    request: Request, user: PageUser, engine: EngineDep
) -> HTMLResponse:
    _require_auditor(user)
    p = dict(request.query_params)
    rows = await run_in_threadpool(_trail, engine, get_settings(request), user, p, 500)
    return render(
        request,
        "audit/trail.html",
        {"rows": rows, "params": p, "qs": request.url.query},
    )


@router.get("/audit/trail.csv")
async def audit_trail_csv(
    request: Request, user: PageUser, engine: EngineDep
) -> Response:
    _require_auditor(user)
    rows = await run_in_threadpool(
        _trail,
        engine,
        get_settings(request),
        user,
        dict(request.query_params),
        None,
    )
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "at",
            "actor",
            "action",
            "entity_type",
            "entity_id",
            "case_id",
            "before",
            "after",
            "request_id",
        ]
    )
    for r in rows:
        at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
        w.writerow(
            [
                at.isoformat(),
                r.actor,
                r.action,
                r.entity_type,
                r.entity_id,
                r.case_id or "",
                json.dumps(r.before, ensure_ascii=False) if r.before else "",
                json.dumps(r.after, ensure_ascii=False) if r.after else "",
                r.request_id or "",
            ]
        )
    # A BOM so that spreadsheet programs read the Chinese text as UTF-8.
    return Response(
        "\ufeff" + buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit-trail.csv"'},
    )
