"""A retired cadre's aftercare over HTTP: the benefit quote checked by hand with every
component and the figures' versions and sources, a missing year answered 422 naming
every missing figure (never a guess), the reference figures kept by admins (403 for
others, 409 for a second figure of the same year or date, audited), and a case's
aftercare in the caller's subtree with survivors' ID numbers masked unless the
role needs them (unmasked reads audited)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from models.aftercare_benefit import BenefitQuoteInput
from models.aftercare_figures import quote_benefits
from models.demo import DEMO_FIGURE_SOURCE
from models.idnumber import make_id_number
from models.tables import (
    Aftercare,
    AftercareSurvivor,
    AuditEvent,
    Case,
    OrgUnit,
    Veteran,
)

QUOTE = {
    "cause": "illness",
    "death_date": "2025-03-10",
    "monthly_base_pay": "8000.00",
    "honours": ["third_class_war_merit_or_second_class_merit"],
}


def audits(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(col(AuditEvent.action) == action)
                .order_by(col(AuditEvent.id))
            ).all()
        )


# --- the quote -----------------------------------------------------------------------


async def test_the_quote_of_the_issues_hand_example(http, auth):
    r = await http.post(
        "/api/aftercare/benefit-quote", json=QUOTE, headers=await auth("village")
    )
    assert r.status_code == 200, r.text
    q = r.json()
    # 2 × 54,188 + 40 × 8,000 = 428,376.00; × 1.15 = 492,632.40
    assert (q["income_year"], q["income"], q["income_multiplier"]) == (
        2024,
        "54188.00",
        2,
    )
    assert q["income_part"] == "108376.00"
    assert q["base_pay_used"] == "8000.00" and q["floor_applied"] is False
    assert q["base_pay_part"] == "320000.00"
    assert q["subtotal"] == "428376.00"
    assert q["honour"] == "third_class_war_merit_or_second_class_merit"
    assert q["honour_label"] == "立三等战功或二等功"
    assert (q["increment_rate"], q["increment"]) == ("0.15", "64256.4000")
    assert q["amount"] == "492632.40"
    # The demo's standards (labelled demo values): 丧葬费 20,000, 少尉 3,500.
    assert q["funeral_grant"] == "20000.00"
    assert q["ensign_base_pay"] == "3500.00"
    assert q["survivor_allowance_monthly"] == "1500.00"  # shown when known
    assert q["total"] == "512632.40"
    figures = {f["kind"]: f for f in q["figures"]}
    assert figures["national_income"]["version"] == "national_income@2024"
    assert "国家统计局" in figures["national_income"]["source"]
    assert figures["funeral_grant"]["source"] == DEMO_FIGURE_SOURCE
    assert set(figures) == {
        "national_income",
        "ensign_base_pay",
        "funeral_grant",
        "survivor_allowance",
    }
    assert "第十五、十六条" in q["rule_text"]


async def test_the_floor_and_line_of_duty_over_http(http, auth):
    body = {**QUOTE, "cause": "line_of_duty", "monthly_base_pay": "2000", "honours": []}
    r = await http.post(
        "/api/aftercare/benefit-quote", json=body, headers=await auth("county")
    )
    assert r.status_code == 200, r.text
    q = r.json()
    # 20 × 54,188 + 40 × 3,500 (the 少尉 floor) = 1,083,760 + 140,000
    assert q["floor_applied"] is True and q["base_pay_used"] == "3500.00"
    assert (q["monthly_base_pay"], q["base_pay_part"]) == ("2000.00", "140000.00")
    assert q["amount"] == "1223760.00"
    assert q["cause_label"] == "因公牺牲"


async def test_a_missing_year_is_refused_naming_it(http, auth):
    headers = await auth("county")
    r = await http.post(
        "/api/aftercare/benefit-quote",
        json={**QUOTE, "death_date": "2026-10-20"},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {
            "loc": ["body", "death_date"],
            "msg": "缺少2025年全国城镇居民人均可支配收入 (national_income for 2025 "
            "missing)",
            "type": "missing_figure",
        }
    ]
    # Every missing figure at once: before the demo's standards took effect.
    r = await http.post(
        "/api/aftercare/benefit-quote",
        json={**QUOTE, "death_date": "2019-06-01", "eligible_survivors": 1},
        headers=headers,
    )
    assert r.status_code == 422
    msgs = [d["msg"] for d in r.json()["detail"]]
    assert len(msgs) == 4
    assert msgs[0].startswith("缺少2018年全国城镇居民人均可支配收入")
    assert any("ensign_base_pay effective on 2019-06-01 missing" in m for m in msgs)
    assert any("funeral_grant" in m for m in msgs)
    assert any("survivor_allowance" in m for m in msgs)


async def test_the_quote_refuses_bad_input_and_strangers(http, auth):
    headers = await auth("county")
    for bad in (
        {**QUOTE, "honours": ["gold_star"]},
        {**QUOTE, "monthly_base_pay": "0"},
        {**QUOTE, "cause": "accident"},
        {**QUOTE, "death_date": "0001-01-01"},
        {**QUOTE, "eligible_survivors": -1},
    ):
        r = await http.post("/api/aftercare/benefit-quote", json=bad, headers=headers)
        assert r.status_code == 422, bad
    r = await http.post("/api/aftercare/benefit-quote", json=QUOTE)
    assert r.status_code == 401


# --- the figures ---------------------------------------------------------------------


async def test_admins_add_figures_that_quotes_then_use(http, auth, seeded_engine):
    admin, clerk = await auth("admin"), await auth("county")
    r = await http.get("/api/aftercare/figures", headers=clerk)
    assert r.status_code == 200
    years = [(f["kind"], f["year"]) for f in r.json() if f["year"]]
    assert years == [
        ("national_income", 2024),
        ("national_income", 2023),
    ]
    body = {
        "kind": "national_income",
        "year": 2025,
        "value": "58888.5",
        "source": "国家统计局 2025年统计公报(测试)",
    }
    r = await http.post("/api/aftercare/figures", json=body, headers=clerk)
    assert r.status_code == 403
    r = await http.post("/api/aftercare/figures", json=body, headers=admin)
    assert r.status_code == 201, r.text
    added = r.json()
    assert (added["value"], added["version"], added["created_by"]) == (
        "58888.50",
        "national_income@2025",
        "admin",
    )
    # Never edited: the same year again is 409, whatever the value.
    r = await http.post(
        "/api/aftercare/figures", json={**body, "value": "1.00"}, headers=admin
    )
    assert r.status_code == 409
    [audit] = audits(seeded_engine, "aftercare_figure_added")
    assert (audit.actor, audit.entity_id) == ("admin", "national_income@2025")
    assert audit.after is not None and audit.after["value"] == "58888.50"
    # A 2026 death now quotes with it.
    r = await http.post(
        "/api/aftercare/benefit-quote",
        json={**QUOTE, "death_date": "2026-10-20", "honours": []},
        headers=clerk,
    )
    assert r.status_code == 200, r.text
    assert r.json()["income"] == "58888.50"
    assert r.json()["amount"] == "437777.00"  # 2 × 58,888.50 + 320,000
    # A new funeral grant from a date: the kind's rows by date, newest first.
    r = await http.post(
        "/api/aftercare/figures",
        json={
            "kind": "funeral_grant",
            "effective_from": "2026-07-01",
            "value": "30000",
            "source": "示范县民政局 丧葬费标准(测试)",
        },
        headers=admin,
    )
    assert r.status_code == 201, r.text
    r = await http.get(
        "/api/aftercare/figures", params={"kind": "funeral_grant"}, headers=clerk
    )
    assert [f["effective_from"] for f in r.json()] == ["2026-07-01", "2020-01-01"]


async def test_a_figure_needs_its_source_and_the_right_period(http, auth):
    admin = await auth("admin")
    base = {"kind": "national_income", "year": 2026, "value": "58888.50"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "source": "   "}, "source"),
        ({**base}, "source"),
        ({**base, "source": "x", "effective_from": "2026-01-01"}, ""),
        ({**base, "source": "x", "year": None}, ""),
        (
            {
                "kind": "funeral_grant",
                "year": 2026,
                "value": "1",
                "source": "x",
            },
            "",
        ),
        ({**base, "source": "x", "value": "-1"}, "value"),
        ({**base, "source": "x", "kind": "pension"}, "kind"),
    ]
    for body, field in cases:
        r = await http.post("/api/aftercare/figures", json=body, headers=admin)
        assert r.status_code == 422, (body, r.text)
        if field:
            assert r.json()["detail"][0]["loc"][:2] == ["body", field], r.text
    r = await http.get("/api/aftercare/figures")
    assert r.status_code == 401


# --- a case's aftercare --------------------------------------------------------------


def aftercare_case(engine, case_id: str) -> tuple[str, str]:
    """黄建国 (军休干部, 城关镇) died: his case's aftercare row with the planned quote
    and two survivors, as the case's activities record them. Returns the widow's ID
    number and the case id."""
    widow_id = make_id_number("370102", date(1952, 3, 1), "028")
    with Session(engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == "黄建国")).one()
        unit = s.get(OrgUnit, vet.org_unit_id)
        assert unit is not None
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process="retiree_aftercare",
                veteran_id=vet.id,
                org_unit_id=vet.org_unit_id,
                org_path=unit.path,
                status="benefits_approval",
            )
        )
        quote = quote_benefits(
            s, BenefitQuoteInput.model_validate(QUOTE), Decimal("9000.00"), 1
        )
        s.add(
            Aftercare(
                case_id=case_id,
                veteran_id=vet.id or 0,
                stage="overpayment_settled",
                died_on=date(2025, 3, 10),
                cause="illness",
                overpayment="9000.00",
                recovery="offset",
                quote_round=1,
                quote=quote.model_dump(mode="json"),
            )
        )
        s.add(
            AftercareSurvivor(
                case_id=case_id,
                n=1,
                name="周桂兰",
                id_number=widow_id,
                relation="spouse",
                born_on=date(1952, 3, 1),
                allowance_eligible=True,
                monthly="1500.00",
                allowance_starts_on=date(2025, 4, 1),
                allowance_status="active",
                next_confirmation_at=datetime(2026, 3, 12, tzinfo=UTC),
            )
        )
        s.add(
            AftercareSurvivor(
                case_id=case_id,
                n=2,
                name="黄卫东",
                id_number=make_id_number("370102", date(1978, 6, 1), "013"),
                relation="child",
                born_on=date(1978, 6, 1),
            )
        )
        s.commit()
    return widow_id, case_id


async def test_a_case_aftercare_in_the_subtree_with_survivors_masked(
    http, auth, seeded_engine, settings
):
    widow_id, case_id = aftercare_case(
        seeded_engine, f"{settings.case_id_prefix}retiree_aftercare-v9"
    )
    # The township's own clerk: not an unmasking role.
    r = await http.get(
        f"/api/cases/{case_id}/aftercare", headers=await auth("township")
    )
    assert r.status_code == 200, r.text
    a = r.json()
    assert (a["stage"], a["cause_label"], a["overpayment"], a["recovery"]) == (
        "overpayment_settled",
        "病故",
        "9000.00",
        "offset",
    )
    assert a["quote"]["amount"] == "492632.40"
    assert a["quote"]["overpayment_offset"] == "9000.00"
    assert a["quote"]["total"] == "503632.40"
    assert a["quote_round"] == 1
    widow, son = a["survivors"]
    assert widow_id not in r.text
    assert widow["id_number"] == widow_id[:4] + "*" * 10 + widow_id[-4:]
    assert widow["id_number_masked"] is True
    assert (widow["relation_label"], widow["allowance_status"], widow["monthly"]) == (
        "配偶",
        "active",
        "1500.00",
    )
    assert son["allowance_status"] == "none" and son["monthly"] is None
    assert audits(seeded_engine, "unmask_id_number") == []
    # County staff need the full numbers: shown, each read audited.
    r = await http.get(f"/api/cases/{case_id}/aftercare", headers=await auth("county"))
    assert r.status_code == 200
    assert r.json()["survivors"][0]["id_number"] == widow_id
    assert r.json()["survivors"][0]["id_number_masked"] is False
    unmasked = audits(seeded_engine, "unmask_id_number")
    assert [(u.actor, u.entity_id, u.case_id) for u in unmasked] == [
        ("county", f"{case_id}:1", case_id),
        ("county", f"{case_id}:2", case_id),
    ]
    # Outside the subtree, unknown, or not yet recorded: 404 alike; anonymous 401.
    for who in ("township2", "village"):
        r = await http.get(f"/api/cases/{case_id}/aftercare", headers=await auth(who))
        assert r.status_code == 404, who
    r = await http.get("/api/cases/nope/aftercare", headers=await auth("county"))
    assert r.status_code == 404
    assert (await http.get(f"/api/cases/{case_id}/aftercare")).status_code == 401
