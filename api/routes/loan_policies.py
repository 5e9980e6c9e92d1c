"""The startup-loan policy table (issue 9): versions by locality and effective date,
each with its source text. Admins add versions; a version is never edited (a case
keeps the version effective on its application date, recorded in its history)."""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AdminUser, AuthUser, CurrentUser, EngineDep
from api.errors import conflict, field_error, forbidden, not_found
from api.params import MAX_DATE, MIN_DATE
from models.loan_policy import ANY_LOCALITY, QINGDAO_2024, LoanPolicy
from models.loan_policy_store import all_versions, policy_version, row_of
from models.tables import LoanPolicyVersion, OrgUnit

router = APIRouter(prefix="/api/loan-policies", tags=["startup loan"])

_PATH = re.compile(r"(/[0-9]+)+/")


class LoanPolicyPublic(LoanPolicy):
    builtin: bool = Field(
        default=False,
        description="true: the built-in default (Qingdao), not a row of the table",
    )
    created_by: str = ""
    created_at: datetime | None = None


def _public(policy: LoanPolicy, row: LoanPolicyVersion | None) -> LoanPolicyPublic:
    return LoanPolicyPublic(
        **policy.model_dump(),
        builtin=row is None,
        created_by=row.created_by if row else "system",
        created_at=row.created_at if row else None,
    )


@router.get(
    "",
    response_model=list[LoanPolicyPublic],
    summary="Startup-loan policy versions / 创业贷款政策版本",
)
async def list_loan_policies(
    engine: EngineDep, user: CurrentUser
) -> list[LoanPolicyPublic]:
    """Every version, newest `effective_from` first, the built-in Qingdao default
    included. A case uses the version effective on its application date whose
    `locality` (an org path, or `*`) is the most specific one covering its unit."""

    def read() -> list[LoanPolicyPublic]:
        with Session(engine) as s:
            rows = {r.version: r for r in s.exec(select(LoanPolicyVersion)).all()}
            return [_public(p, rows.get(p.version)) for p in all_versions(s)]

    return await run_in_threadpool(read)


@router.get(
    "/{version}",
    response_model=LoanPolicyPublic,
    summary="One policy version / 政策版本",
)
async def get_loan_policy(
    version: str, engine: EngineDep, user: CurrentUser
) -> LoanPolicyPublic:
    """One version with its products, limits and source text; 404 if unknown."""

    def read() -> LoanPolicyPublic | None:
        with Session(engine) as s:
            policy = policy_version(s, version)
            row = s.get(LoanPolicyVersion, version)
        return None if policy is None else _public(policy, row)

    found = await run_in_threadpool(read)
    if found is None:
        raise not_found("政策版本", "policy version")
    return found


def _check_locality(s: Session, user: AuthUser, locality: str) -> None:
    """``*`` only for an admin of a top-level unit; otherwise the path of a unit in
    the admin's subtree (a county sets its own policy, not its neighbour's)."""
    if locality == ANY_LOCALITY:
        unit = s.get(OrgUnit, user.org_unit_id)
        if unit is None or unit.parent_id is not None:
            raise forbidden(
                "仅上级机关的管理员可设置全域政策 (only an admin of a top-level unit "
                "may set a policy for every locality '*')"
            )
        return
    if not _PATH.fullmatch(locality) or not locality.startswith(user.org_path):
        raise field_error(
            "locality", "须为本辖区内单位的路径或 * (an org path in your subtree, or *)"
        )
    found = s.exec(select(OrgUnit.id).where(col(OrgUnit.path) == locality)).first()
    if found is None:
        raise field_error(
            "locality", "须为本辖区内单位的路径或 * (an org path in your subtree, or *)"
        )


def _check_body(body: LoanPolicy) -> None:
    if not body.source.strip():
        raise field_error("source", "须记录政策来源原文 (the source text is required)")
    if not body.products:
        raise field_error("products", "至少设一种贷款 (at least one loan product)")
    if not MIN_DATE <= body.effective_from <= MAX_DATE:
        raise field_error(
            "effective_from",
            f"日期须在 {MIN_DATE} 至 {MAX_DATE} 之间 (date out of range)",
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=LoanPolicyPublic,
    summary="Add a policy version (admin) / 新增政策版本",
)
async def create_loan_policy(
    body: LoanPolicy, engine: EngineDep, user: AdminUser
) -> LoanPolicyPublic:
    """Add a version: its products and limits, the locality it covers (`*`, for an
    admin of a top-level unit, or the org path of a unit in your subtree), the day it
    takes effect and its source text (required). Versions are never edited: 409 when
    the version name exists (the built-in `qingdao-2024` included); publish a new
    one. Admin only (403 otherwise); audited (`loan_policy_added`)."""
    _check_body(body)

    def write() -> LoanPolicyPublic:
        with Session(engine) as s:
            _check_locality(s, user, body.locality)
            if (
                body.version == QINGDAO_2024.version
                or s.get(LoanPolicyVersion, body.version) is not None
            ):
                raise conflict(
                    "该政策版本已存在，版本不可修改 (the version exists; versions are "
                    "never edited, add a new one)"
                )
            row = row_of(body, user.username)
            s.add(row)
            record_audit(
                s,
                actor=user.username,
                action="loan_policy_added",
                entity_type="loan_policy",
                entity_id=body.version,
                after=body.model_dump(mode="json"),
            )
            try:
                s.commit()
            except IntegrityError:
                raise conflict("该政策版本已存在 (the version exists)") from None
            s.refresh(row)
            return _public(body, row)

    result: LoanPolicyPublic = await run_in_threadpool(write)
    return result
