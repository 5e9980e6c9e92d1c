"""A monthly payroll case's list as a CSV file for the bank and the files (000 §6.4)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.case_queries import visible_case
from api.deps import AuthUser, CurrentUser, EngineDep, SettingsDep
from api.errors import conflict, forbidden
from models.processes import monthly_pay
from models.settings import Settings
from models.tables import Case, HumanTask, Veteran

router = APIRouter(prefix="/api/cases", tags=["monthly pay"])

# Who may take the list away: the county's finance staff and leaders who work it,
# managers and auditors of the subtree.
PAYROLL_ROLES = ("finance_staff", "leader", "manager", "auditor")
HEADER = ["序号", "姓名", "身份证号", "所属服务站", "状态", "暂缓原因"]
CSV_DOC = {
    200: {
        "description": "UTF-8 with a BOM and CRLF line ends (Excel opens it as is): "
        "序号, 姓名, 身份证号 (masked unless your role sees full numbers; every full "
        "read audited), 所属服务站, 状态 (发放/暂缓), 暂缓原因",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/{case_id}/payroll.csv",
    response_class=Response,
    responses=CSV_DOC,  # type: ignore[arg-type]
    summary="The month's payroll list as CSV / 退役金发放名单",
)
async def payroll_csv(
    case_id: str, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> Response:
    """The list of a `monthly_pay` case as its latest round prepared it: everyone on
    the month's list, paid (发放) or held (暂缓) with the reason. Finance staff,
    leaders, managers and auditors of the subtree (403 for other roles); 404 for a
    case outside the subtree or not a monthly payroll; 409 while the list is being
    prepared. The export is audited (`payroll_exported`)."""
    if not user.has_role(*PAYROLL_ROLES):
        raise forbidden(
            "仅财务、负责人、主任和审计人员可导出发放名单 (finance, leaders, managers "
            "and auditors only)"
        )
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    if case is None or case.process != monthly_pay.PROCESS_KEY:
        raise HTTPException(404, detail="案件不存在 (case not found)")
    body = await run_in_threadpool(_export, engine, settings, user, case)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="payroll-{case.id}.csv"'
        },
    )


def _export(engine: Any, settings: Settings, user: AuthUser, case: Case) -> bytes:
    with Session(engine) as s:
        prepared = s.exec(
            select(HumanTask)
            .where(HumanTask.case_id == case.id, HumanTask.step == "prepare_payroll")
            .order_by(col(HumanTask.round).desc())
        ).first()
        if prepared is None or prepared.status != "completed":
            raise conflict("发放名单正在编制，尚未完成 (the list is being prepared)")
        entries: list[dict[str, Any]] = list(prepared.context.get("veterans", []))
        held = {
            int(h["veteran_id"]): str(h.get("reason", ""))
            for h in prepared.result.get("held", [])
        }
        unmask = user.can_unmask(settings)
        numbers = (
            _id_numbers(s, [int(e["veteran_id"]) for e in entries]) if unmask else {}
        )
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(HEADER)
        for n, e in enumerate(entries, 1):
            vid = int(e["veteran_id"])
            w.writerow(
                [
                    n,
                    _cell(e.get("name", "")),
                    numbers.get(vid, e.get("id_number_masked", "")),
                    _cell(e.get("station", "")),
                    "暂缓" if vid in held else "发放",
                    _cell(held.get(vid, "")),
                ]
            )
        for vid in numbers:
            record_audit(
                s,
                actor=user.username,
                action="unmask_id_number",
                entity_type="veteran",
                entity_id=str(vid),
                case_id=case.id,
            )
        record_audit(
            s,
            actor=user.username,
            action="payroll_exported",
            entity_type="case",
            entity_id=case.id,
            case_id=case.id,
            after={
                "round": prepared.round,
                "rows": len(entries),
                "held": len(held),
                "unmasked": unmask,
            },
        )
        s.commit()
    # A BOM so that spreadsheet programs read the Chinese text as UTF-8.
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _cell(value: Any) -> str:
    """Text as a spreadsheet shows it, never as a formula (a reason typed as
    "=HYPERLINK(...)" stays text)."""
    text = str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _id_numbers(s: Session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = s.exec(select(Veteran).where(col(Veteran.id).in_(ids))).all()
    return {v.id or 0: v.id_number for v in rows}
