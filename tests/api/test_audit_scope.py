"""The audit trail (page and CSV) shows a viewer only the rows of their org subtree: an
auditor of one county does not read another county's form data, comments, veterans or
accounts; an auditor at the root unit reads both, and the rows of no unit."""

from __future__ import annotations

import csv
import io

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.audit import add_audit_event
from models.demo import DEMO_PASSWORD
from models.orgs import create_org_unit
from models.passwords import hash_password
from models.tables import Account, Case, OrgLevel, OrgUnit, Veteran
from tests.api.page_login import page_login

# What must never reach the other county's auditor.
SECRET_FORM = "西县秘密表单内容"
SECRET_COMMENT = "西县的办理意见"
SECRET_NAME = "西县王某"
SECRET_PHONE = "13911112222"


def _second_county(engine: Engine) -> None:
    """西县 under the demo's city, with a clerk, a veteran, a case and their audit rows;
    a root-level auditor at the city; and one row in the demo county for contrast."""
    with Session(engine, expire_on_commit=False) as s:
        city = s.exec(select(OrgUnit).where(OrgUnit.code == "sfs")).one()
        county = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx")).one()
        west = create_org_unit(s, "xx", "西县退役军人服务中心", OrgLevel.county, city)
        west_town = create_org_unit(
            s, "xx-dz", "东镇退役军人服务站", OrgLevel.township, west
        )
        pw = hash_password(DEMO_PASSWORD)
        for username, roles, unit in (
            ("west_clerk", ["township_staff"], west_town),
            ("city_auditor", ["auditor"], city),
        ):
            s.add(
                Account(
                    username=username,
                    display_name=username,
                    password_hash=pw,
                    roles=roles,
                    org_unit_id=unit.id or 0,
                )
            )
        vet = Veteran(
            name=SECRET_NAME,
            id_number="370102199001010011",
            gender="男",
            phone=SECRET_PHONE,
            category="自主就业退役士兵",
            org_unit_id=west_town.id or 0,
        )
        s.add(vet)
        s.flush()
        s.add(
            Case(
                id="west-case-1",
                workflow_id="west-case-1",
                process="return_home",
                veteran_id=vet.id or 0,
                org_unit_id=west_town.id or 0,
                org_path=west_town.path,
            )
        )
        s.flush()
        # The rows the writers of the trail make, as they make them.
        add_audit_event(
            s,
            actor="west_clerk",
            action="veteran_created",
            entity_type="veteran",
            entity_id=str(vet.id),
            after={"name": SECRET_NAME, "phone": SECRET_PHONE},
        )
        add_audit_event(
            s,
            actor="west_clerk",
            action="task_completed",
            entity_type="task",
            entity_id="west-case-1/file_receipt/1",
            case_id="west-case-1",
            after={"data": {"note": SECRET_FORM}, "comment": SECRET_COMMENT},
        )
        add_audit_event(
            s,
            actor="west_clerk",
            action="availability_set",
            entity_type="account",
            entity_id="west_clerk",
            after={"absent": True, "note": SECRET_NAME},
        )
        add_audit_event(
            s,
            actor="west_clerk",
            action="filter_saved",
            entity_type="saved_filter",
            entity_id="77",
            after={"name": SECRET_NAME, "query": "tab=mine"},
        )
        add_audit_event(
            s,
            actor="admin",
            action="holiday_set",
            entity_type="holiday",
            entity_id="2026-10-01",
            after={"workday": False, "name": "国庆节"},
        )
        add_audit_event(
            s,
            actor="county",
            action="availability_set",
            entity_type="account",
            entity_id="county",
            after={"absent": False, "backup_username": "county2"},
        )
        assert county.path.count("/") == 3 and city.path.count("/") == 2
        s.commit()


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_trail_is_scoped_to_the_viewers_subtree(http, seeded_engine):
    _second_county(seeded_engine)

    # The demo county's auditor: its own rows, none of 西县's, on the page and in the CSV.
    await page_login(http, "auditor")
    page = await http.get("/audit/trail")
    assert page.status_code == 200
    for secret in (SECRET_FORM, SECRET_COMMENT, SECRET_NAME, SECRET_PHONE):
        assert secret not in page.text
    assert "west_clerk" not in page.text and "west-case-1" not in page.text
    assert "holiday_set" in page.text and "availability_set" in page.text
    got = await http.get("/audit/trail.csv")
    assert got.status_code == 200
    rows = _csv_rows(got.text)
    for secret in (SECRET_FORM, SECRET_COMMENT, SECRET_NAME, SECRET_PHONE):
        assert secret not in got.text
    assert {(r["actor"], r["action"]) for r in rows} >= {
        ("admin", "holiday_set"),
        ("county", "availability_set"),
    }
    assert not [r for r in rows if r["actor"] in ("west_clerk", "system")]
    # Asking for the other county's case or actor by name finds nothing either.
    got = await http.get("/audit/trail.csv", params={"case_id": "west-case-1"})
    assert _csv_rows(got.text) == []
    page = await http.get("/audit/trail", params={"actor": "west_clerk"})
    assert page.status_code == 200 and "west_clerk" not in page.text.split("<tbody>")[1]

    # The city's auditor (a root unit): both counties, and the demo seed's system row.
    http.cookies.clear()
    await page_login(http, "city_auditor")
    got = await http.get("/audit/trail.csv")
    rows = _csv_rows(got.text)
    seen = {(r["actor"], r["action"], r["entity_type"]) for r in rows}
    assert seen >= {
        ("west_clerk", "veteran_created", "veteran"),
        ("west_clerk", "task_completed", "task"),
        ("west_clerk", "availability_set", "account"),
        ("west_clerk", "filter_saved", "saved_filter"),
        ("admin", "holiday_set", "holiday"),
        ("county", "availability_set", "account"),
        ("system", "seed_demo", "system"),
    }
    assert SECRET_FORM in got.text
    page = await http.get("/audit/trail")
    assert SECRET_COMMENT in page.text

    # 西县's own clerk is no auditor.
    http.cookies.clear()
    await page_login(http, "west_clerk")
    assert (await http.get("/audit/trail")).status_code == 403
    assert (await http.get("/audit/trail.csv")).status_code == 403
