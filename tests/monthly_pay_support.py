"""Helpers of the monthly payroll tests: more counties and accounts in the demo data,
and the opener run as the monthly Schedule runs it."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.worker import Replayer

from models.contracts import MonthlyPayOpened, OpenMonthlyPayInput
from models.demo import DEMO_PASSWORD
from models.idnumber import make_id_number
from models.orgs import create_org_unit
from models.passwords import hash_password
from models.processes import monthly_pay
from models.settings import Settings
from models.tables import Account, OrgLevel, OrgUnit, Veteran
from tests.support import record_history
from workflows.monthly_pay import OpenMonthlyPayWorkflow
from workflows.registry import ALL_WORKFLOWS

DEMO_COUNTY = "示范县退役军人服务中心"


def unit_named(engine: Engine, name: str) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.name == name)).one()


def veteran_named(engine: Engine, name: str) -> Veteran:
    with Session(engine) as s:
        return s.exec(select(Veteran).where(Veteran.name == name)).one()


def add_county(engine: Engine, code: str, name: str, *, veteran: str | None) -> int:
    """A county centre under the demo city with one village station, and (when
    ``veteran`` names one) a veteran on monthly pay there."""
    with Session(engine) as s:
        city = s.exec(select(OrgUnit).where(OrgUnit.level == OrgLevel.city)).one()
        county = create_org_unit(s, code, name, OrgLevel.county, city)
        town = create_org_unit(s, f"{code}-t", f"{name}镇站", OrgLevel.township, county)
        village = create_org_unit(s, f"{code}-v", f"{name}村站", OrgLevel.village, town)
        if veteran:
            s.add(
                Veteran(
                    name=veteran,
                    id_number=make_id_number(
                        "370103", date(1984, 5, 6), f"{county.id or 0:03d}"
                    ),
                    gender="男",
                    phone="13900000000",
                    category=monthly_pay.CATEGORY,
                    org_unit_id=village.id or 0,
                )
            )
        s.commit()
        return county.id or 0


def add_account(
    engine: Engine, username: str, roles: list[str], unit: str = DEMO_COUNTY
) -> None:
    """A staff account with the demo password (e.g. one holding two roles)."""
    with Session(engine) as s:
        org = s.exec(select(OrgUnit).where(OrgUnit.name == unit)).one()
        s.add(
            Account(
                username=username,
                display_name="测试 双岗",
                password_hash=hash_password(DEMO_PASSWORD),
                roles=roles,
                org_unit_id=org.id or 0,
            )
        )
        s.commit()


async def open_month(
    client: Client,
    settings: Settings,
    year: int = 2026,
    month: int = 5,
    *,
    scenario: str | None = None,
) -> MonthlyPayOpened:
    """Run the opener once, as the monthly Schedule's action does; its history is
    replayed against today's code (and kept under ``scenario`` when recording)."""
    handle = await client.start_workflow(
        OpenMonthlyPayWorkflow.run,
        OpenMonthlyPayInput(
            year=year,
            month=month,
            case_id_prefix=settings.case_id_prefix,
            policy=monthly_pay.FAST_POLICY,
            opened_by="schedule",
        ),
        id=f"{settings.case_id_prefix}open-monthly-pay-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )
    result = await handle.result()
    replayer = Replayer(workflows=ALL_WORKFLOWS, data_converter=client.data_converter)
    await replayer.replay_workflow(await handle.fetch_history())
    if scenario:
        await record_history(handle, "OpenMonthlyPayWorkflow", scenario)
    return result
