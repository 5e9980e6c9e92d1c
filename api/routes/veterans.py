"""The veterans registry (一人一档, 003 §6.1.5): register, read, search.

ID numbers are masked unless the caller's role needs them; every unmasked read is
audited. Staff see only veterans of their own org subtree (others: 404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import or_
from sqlmodel import Session, col, func, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AuthUser, CurrentUser, EngineDep, SettingsDep
from models.idnumber import mask_id_number, validate_id_number
from models.tables import OrgUnit, Veteran

router = APIRouter(prefix="/api/veterans", tags=["veterans"])

REGISTRAR_ROLES = ("village_staff", "township_staff", "county_staff", "admin")


class VeteranCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    id_number: str = Field(
        description="18-digit 居民身份证号码 with a valid GB 11643 check digit"
    )
    gender: str = Field(pattern="^(男|女)$")
    phone: str = Field(min_length=5, max_length=32)
    email: str | None = Field(default=None, max_length=200)
    category: str = Field(
        min_length=1,
        max_length=40,
        description="e.g. 自主就业退役士兵, 逐月领取退役金退役军人, 军休干部, 转业军官",
    )
    party_member: bool = False
    org_unit_id: int

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        return validate_id_number(v)


class VeteranPublic(BaseModel):
    id: int
    name: str
    id_number: str = Field(
        description="Masked (`1101**********123X`) unless your role needs it"
    )
    id_number_masked: bool
    gender: str
    phone: str
    email: str | None
    category: str
    party_member: bool
    org_unit_id: int
    created_at: datetime


class VeteransPublic(BaseModel):
    data: list[VeteranPublic]
    count: int


def _public(v: Veteran, unmask: bool) -> VeteranPublic:
    return VeteranPublic(
        id=v.id or 0,
        name=v.name,
        id_number=v.id_number if unmask else mask_id_number(v.id_number),
        id_number_masked=not unmask,
        gender=v.gender,
        phone=v.phone,
        email=v.email,
        category=v.category,
        party_member=v.party_member,
        org_unit_id=v.org_unit_id,
        created_at=v.created_at,
    )


def _audit_unmasked(s: Session, user: AuthUser, rows: list[Veteran]) -> None:
    for v in rows:
        record_audit(
            s,
            actor=user.username,
            action="unmask_id_number",
            entity_type="veteran",
            entity_id=str(v.id),
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=VeteranPublic,
    summary="Register a veteran",
)
async def create_veteran(
    body: VeteranCreate, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> VeteranPublic:
    """422 on a bad ID number (field `id_number`), 409 on a duplicate, 404 when the org
    unit is not in my subtree."""
    if not user.has_role(*REGISTRAR_ROLES):
        raise HTTPException(
            403, detail="无权登记退役军人 (not allowed to register veterans)"
        )

    def create() -> VeteranPublic:
        with Session(engine, expire_on_commit=False) as s:
            unit = s.get(OrgUnit, body.org_unit_id)
            if unit is None or not unit.path.startswith(user.org_path):
                raise HTTPException(404, detail="机构不存在 (org unit not found)")
            if (
                s.exec(
                    select(Veteran.id).where(Veteran.id_number == body.id_number)
                ).first()
                is not None
            ):
                raise HTTPException(
                    409,
                    detail="该身份证号已登记 (a veteran with this ID number exists)",
                )
            vet = Veteran(**body.model_dump())
            s.add(vet)
            s.flush()
            after = body.model_dump(exclude={"id_number"}) | {
                "id_number": mask_id_number(body.id_number)
            }
            record_audit(
                s,
                actor=user.username,
                action="veteran_created",
                entity_type="veteran",
                entity_id=str(vet.id),
                after=after,
            )
            unmask = user.can_unmask(settings)
            s.commit()
            return _public(vet, unmask)

    return await run_in_threadpool(create)


@router.get("/{veteran_id}", response_model=VeteranPublic, summary="One veteran")
async def get_veteran(
    veteran_id: int, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> VeteranPublic:
    def read() -> VeteranPublic:
        with Session(engine) as s:
            vet = s.get(Veteran, veteran_id)
            unit = s.get(OrgUnit, vet.org_unit_id) if vet else None
            if vet is None or unit is None or not unit.path.startswith(user.org_path):
                raise HTTPException(404, detail="退役军人不存在 (veteran not found)")
            unmask = user.can_unmask(settings)
            if unmask:
                _audit_unmasked(s, user, [vet])
                s.commit()
            return _public(vet, unmask)

    return await run_in_threadpool(read)


@router.get("", response_model=VeteransPublic, summary="Search veterans")
async def list_veterans(
    engine: EngineDep,
    settings: SettingsDep,
    user: CurrentUser,
    q: Annotated[
        str | None, Query(description="Name prefix or a full ID number")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> VeteransPublic:
    def search() -> VeteransPublic:
        with Session(engine) as s:
            query = (
                select(Veteran)
                .join(OrgUnit, col(OrgUnit.id) == col(Veteran.org_unit_id))
                .where(col(OrgUnit.path).startswith(user.org_path))
            )
            if q:
                query = query.where(
                    or_(
                        col(Veteran.name).startswith(q),
                        col(Veteran.id_number) == q.strip().upper(),
                    )
                )
            total = s.exec(select(func.count()).select_from(query.subquery())).one()
            rows = list(
                s.exec(
                    query.order_by(col(Veteran.id)).offset(offset).limit(limit)
                ).all()
            )
            unmask = user.can_unmask(settings)
            if unmask and rows:
                _audit_unmasked(s, user, rows)
                s.commit()
            return VeteransPublic(
                data=[_public(v, unmask) for v in rows], count=int(total)
            )

    return await run_in_threadpool(search)
