"""The veterans registry (一人一档, 003 §6.1.5): register, read, search.

ID numbers are masked unless the caller's role needs them; every unmasked read is
audited. Staff see only veterans of their own org subtree (others: 404).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AuthUser, CurrentUser, EngineDep, SettingsDep
from api.errors import conflict, forbidden, not_found
from api.params import MAX_ID, IdPath, Offset
from api.queries import (
    id_number_taken,
    search_veterans,
    visible_org_unit,
    visible_veteran,
)
from models.idnumber import mask_id_number, validate_id_number
from models.tables import Veteran

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
    org_unit_id: int = Field(ge=1, le=MAX_ID)

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, v: str) -> str:
        # A ValueError here becomes FastAPI's 422 naming `id_number`, with our message.
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
    """One audit row per veteran whose full ID number the caller is shown."""
    for v in rows:
        record_audit(
            s,
            actor=user.username,
            action="unmask_id_number",
            entity_type="veteran",
            entity_id=str(v.id),
        )


# The one answer to a duplicate, wherever the existing record is registered: it names
# no unit, so a clerk learns only that the person is registered somewhere.
DUPLICATE = "该身份证号已登记 (a veteran with this ID number exists)"


def _audit_probe(s: Session, user: AuthUser, id_number: str) -> None:
    """Record (and commit) that ``user`` tried an ID number that is registered: the
    trail shows who probed which (masked) number, so repeated probing can be seen."""
    record_audit(
        s,
        actor=user.username,
        action="veteran_duplicate_probe",
        entity_type="id_number_probe",
        entity_id=mask_id_number(id_number),
        after={"id_number": mask_id_number(id_number)},
    )
    s.commit()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=VeteranPublic,
    summary="Register a veteran / 登记退役军人",
)
async def create_veteran(
    body: VeteranCreate, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> VeteranPublic:
    """Village, township and county staff (and admins) register a veteran at a unit of
    their subtree. 422 on a bad ID number (field `id_number`), 409 when the ID number is
    registered already (one answer wherever it is registered; the attempt is audited as
    `veteran_duplicate_probe` with the number masked), 404 when the org unit is not in
    my subtree, 403 for other roles.
    The creation is audited with the new record (ID number masked)."""
    if not user.has_role(*REGISTRAR_ROLES):
        raise forbidden("无权登记退役军人 (not allowed to register veterans)")

    def create() -> VeteranPublic:
        with Session(engine, expire_on_commit=False) as s:
            if visible_org_unit(s, body.org_unit_id, user.org_path) is None:
                raise not_found("机构", "org unit")
            if id_number_taken(s, body.id_number):
                _audit_probe(s, user, body.id_number)
                raise conflict(DUPLICATE)
            vet = Veteran(**body.model_dump())
            s.add(vet)
            try:
                s.flush()
            except IntegrityError:  # a concurrent registration of the same person won
                s.rollback()
                _audit_probe(s, user, body.id_number)
                raise conflict(DUPLICATE) from None
            record_audit(
                s,
                actor=user.username,
                action="veteran_created",
                entity_type="veteran",
                entity_id=str(vet.id),
                # The trail is readable by auditors; it keeps the number masked.
                after=body.model_dump() | {"id_number": mask_id_number(body.id_number)},
            )
            s.commit()
            return _public(vet, user.can_unmask(settings))

    return await run_in_threadpool(create)


@router.get(
    "/{veteran_id}",
    response_model=VeteranPublic,
    summary="One veteran / 退役军人档案",
)
async def get_veteran(
    veteran_id: IdPath, engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> VeteranPublic:
    """The record, if registered in my subtree (404 otherwise, not 403: other units'
    records are not acknowledged). The full ID number is shown only to roles that need
    it, and each such read is audited."""

    def read() -> VeteranPublic:
        with Session(engine) as s:
            vet = visible_veteran(s, veteran_id, user.org_path)
            if vet is None:
                raise not_found("退役军人", "veteran")
            unmask = user.can_unmask(settings)
            if unmask:
                _audit_unmasked(s, user, [vet])
                s.commit()
            return _public(vet, unmask)

    return await run_in_threadpool(read)


@router.get(
    "",
    response_model=VeteransPublic,
    summary="Search veterans / 查询退役军人",
)
async def list_veterans(
    engine: EngineDep,
    settings: SettingsDep,
    user: CurrentUser,
    q: Annotated[
        str | None, Query(description="Name prefix or a full ID number")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> VeteransPublic:
    """A page of the veterans of my subtree, by registration order, with the total
    count. Unmasked pages write one audit row per veteran shown."""

    def search() -> VeteransPublic:
        with Session(engine) as s:
            rows, total = search_veterans(s, user.org_path, q, limit, offset)
            unmask = user.can_unmask(settings)
            if unmask and rows:
                _audit_unmasked(s, user, rows)
                s.commit()
            return VeteransPublic(data=[_public(v, unmask) for v in rows], count=total)

    return await run_in_threadpool(search)
