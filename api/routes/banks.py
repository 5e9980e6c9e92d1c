"""The lending banks (承办银行): which take applications by signed webhook and answer by
signed callback (``integrated``), and which a clerk records the decisions of. Their
HMAC keys live in settings (``VETFLOW_BANK_SECRETS``), never in this table or an
answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from api.audit import record_audit
from api.deps import AdminUser, CurrentUser, EngineDep, SettingsDep
from api.errors import conflict, not_found
from models.settings import Settings
from models.tables import Bank

router = APIRouter(prefix="/api/banks", tags=["startup loan"])

CODE_PATTERN = r"^[a-z0-9_]{1,40}$"
URL_PATTERN = r"^(https?://[^\s]+)?$"
BankCode = Annotated[str, Path(pattern=CODE_PATTERN, max_length=40)]


class BankBase(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="e.g. 农业银行青岛分行")
    integrated: bool = Field(
        default=False,
        description="true: receives applications by signed webhook and answers by "
        "POST /api/bank/callbacks; false: a clerk records its decisions",
    )
    webhook_url: str = Field(
        default="",
        max_length=500,
        pattern=URL_PATTERN,
        description="Where applications are pushed (empty: the push is only logged)",
    )
    active: bool = True


class BankCreate(BankBase):
    code: str = Field(pattern=CODE_PATTERN, description="e.g. abc_qingdao")


class BankUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    integrated: bool | None = None
    webhook_url: str | None = Field(default=None, max_length=500, pattern=URL_PATTERN)
    active: bool | None = None


class BankPublic(BankCreate):
    key_configured: bool = Field(
        description="true: its own key is set in VETFLOW_BANK_SECRETS; false: the key "
        "derived from the secret key is used"
    )


def _public(bank: Bank, settings: Settings) -> BankPublic:
    return BankPublic(
        code=bank.code,
        name=bank.name,
        integrated=bank.integrated,
        webhook_url=bank.webhook_url,
        active=bank.active,
        key_configured=bool(settings.bank_secrets.get(bank.code)),
    )


def _state(bank: Bank) -> dict[str, object]:
    return {
        "name": bank.name,
        "integrated": bank.integrated,
        "webhook_url": bank.webhook_url,
        "active": bank.active,
    }


@router.get("", response_model=list[BankPublic], summary="Lending banks / 承办银行")
async def list_banks(
    engine: EngineDep, settings: SettingsDep, user: CurrentUser
) -> list[BankPublic]:
    """Every bank, active or not, by code."""

    def read() -> list[BankPublic]:
        with Session(engine) as s:
            rows = s.exec(select(Bank).order_by(col(Bank.code))).all()
            return [_public(b, settings) for b in rows]

    return await run_in_threadpool(read)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=BankPublic,
    summary="Add a bank (admin) / 新增承办银行",
)
async def create_bank(
    body: BankCreate, engine: EngineDep, settings: SettingsDep, user: AdminUser
) -> BankPublic:
    """Add a bank. 409: the code exists. Admin only; audited (`bank_added`). Its
    callbacks are signed with `VETFLOW_BANK_SECRETS[code]` when set, else with a key
    derived from the secret key and the code."""

    def write() -> BankPublic:
        with Session(engine) as s:
            if s.get(Bank, body.code) is not None:
                raise conflict("银行代码已存在 (the bank code exists)")
            bank = Bank(**body.model_dump())
            s.add(bank)
            record_audit(
                s,
                actor=user.username,
                action="bank_added",
                entity_type="bank",
                entity_id=body.code,
                after=_state(bank),
            )
            try:
                s.commit()
            except IntegrityError:
                raise conflict("银行代码已存在 (the bank code exists)") from None
            return _public(bank, settings)

    result: BankPublic = await run_in_threadpool(write)
    return result


@router.put(
    "/{code}",
    response_model=BankPublic,
    summary="Change a bank (admin) / 修改承办银行",
)
async def update_bank(
    code: BankCode,
    body: BankUpdate,
    engine: EngineDep,
    settings: SettingsDep,
    user: AdminUser,
) -> BankPublic:
    """Change a bank's name, integration, webhook or whether it is active (an
    inactive bank's callbacks answer 401). Fields left out stay. 404: unknown code.
    Admin only; audited (`bank_changed`, before and after)."""

    def write() -> BankPublic | None:
        with Session(engine) as s:
            bank = s.get(Bank, code)
            if bank is None:
                return None
            before = _state(bank)
            for field, value in body.model_dump(exclude_none=True).items():
                setattr(bank, field, value)
            s.add(bank)
            record_audit(
                s,
                actor=user.username,
                action="bank_changed",
                entity_type="bank",
                entity_id=code,
                before=before,
                after=_state(bank),
            )
            s.commit()
            s.refresh(bank)
            return _public(bank, settings)

    result = await run_in_threadpool(write)
    if result is None:
        raise not_found("银行", "bank")
    return result
