"""The startup loan over HTTP: the subsidy quote, the policy versions and banks (admin
writes, audited), a case's loan (scope: 404 outside the subtree), and the banks'
signed callbacks with every refusal (signature, stale timestamp, unknown or inactive
bank, body/headers mismatch, replay and reuse of a reference, unknown application)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from models.bank_signing import (
    HEADER_BANK,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    bank_key,
    sign_bank,
)
from models.loan_policy import QINGDAO_2024
from models.tables import (
    AuditEvent,
    Bank,
    BankApplication,
    BankCallback,
    Case,
    Loan,
    LoanSubsidyLine,
    OrgUnit,
    Veteran,
)
from tests.support import wait_for
from worker import build_worker

# --- the quote -----------------------------------------------------------------------

CREDIT_QUOTE = {
    "loan_type": "credit",
    "principal": "1000000.00",
    "annual_rate": "6.00",
    "lpr": "3.45",
    "contract_date": "2024-01-01",
    "repayments": [
        # 182 days; cap 1,000,000 × 0.5 × 3.45 % × 182/360 = 8720.8333… → 8720.83
        {"paid_on": "2024-07-01", "principal": "0", "interest": "30000.00"},
        # 2024-07-01 → 2026-07-01: 730 days, 549 inside the window (→ 2026-01-01):
        # share 20000 × 549/730 = 15041.0958…; cap 17250 × 549/360 = 26306.25
        # → 15041.10
        {"paid_on": "2026-07-01", "principal": "1000000", "interest": "20000.00"},
    ],
}


async def test_the_quote_answers_lines_rule_and_version_as_decimal_strings(http, auth):
    r = await http.post(
        "/api/loan-subsidy/quote", json=CREDIT_QUOTE, headers=await auth("village")
    )
    assert r.status_code == 200, r.text
    q = r.json()
    assert (q["rule"], q["subsidy_years"], q["policy_version"]) == (
        "half_lpr",
        2,
        "qingdao-2024",
    )
    assert "360" in q["rule_text"]
    assert q["window_end"] == "2026-01-01"
    assert [line["subsidy"] for line in q["lines"]] == ["8720.83", "15041.10"]
    assert [line["days_in_window"] for line in q["lines"]] == [182, 549]
    assert q["lines"][1]["outstanding_principal"] == "1000000.00"
    assert q["lines"][0]["lpr_cap"].startswith("8720.8333")
    assert q["total"] == "23761.93"  # 8720.83 + 15041.10


async def test_the_quote_refuses_bad_repayments_and_unknown_versions(http, auth):
    headers = await auth("county")
    out_of_order = {
        **CREDIT_QUOTE,
        "repayments": list(reversed(CREDIT_QUOTE["repayments"])),
    }
    r = await http.post("/api/loan-subsidy/quote", json=out_of_order, headers=headers)
    assert r.status_code == 422 and "repayments[1].paid_on" in r.text
    over = {
        **CREDIT_QUOTE,
        "repayments": [{**CREDIT_QUOTE["repayments"][0], "principal": "1000000.01"}],
    }
    r = await http.post("/api/loan-subsidy/quote", json=over, headers=headers)
    assert r.status_code == 422 and "more principal repaid than lent" in r.text
    far = {**CREDIT_QUOTE, "contract_date": "9999-01-01"}
    r = await http.post("/api/loan-subsidy/quote", json=far, headers=headers)
    assert r.status_code == 422
    r = await http.post(
        "/api/loan-subsidy/quote",
        json={**CREDIT_QUOTE, "policy_version": "nope"},
        headers=headers,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "policy_version"]
    r = await http.post("/api/loan-subsidy/quote", json=CREDIT_QUOTE)
    assert r.status_code == 401


# --- policy versions -----------------------------------------------------------------


def unit(engine, code: str) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.code == code)).one()


def county_policy(engine, version="sfx-2025", **changes) -> dict[str, Any]:
    """The Qingdao policy for the demo county from 2025, personal loans 24 months of
    full subsidy at most 2 years."""
    body = json.loads(QINGDAO_2024.model_dump_json())
    body.update(
        version=version,
        locality=unit(engine, "sfx").path,
        effective_from="2025-01-01",
        source="示范县创业贷款贴息办法(2025)",
    )
    body["products"]["personal"]["subsidy_years"] = 2
    body.update(changes)
    return body


async def test_admins_add_policy_versions_that_quotes_then_use(
    http, auth, seeded_engine
):
    admin, clerk, city = await auth("admin"), await auth("county"), await auth("city")
    body = county_policy(seeded_engine)
    r = await http.post("/api/loan-policies", json=body, headers=clerk)
    assert r.status_code == 403
    r = await http.post("/api/loan-policies", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "admin" and r.json()["builtin"] is False
    # Versions are never edited: the same name again, or the built-in one, is 409.
    r = await http.post(
        "/api/loan-policies", json={**body, "source": "改"}, headers=admin
    )
    assert r.status_code == 409
    r = await http.post(
        "/api/loan-policies",
        json={**body, "version": "qingdao-2024"},
        headers=admin,
    )
    assert r.status_code == 409
    with Session(seeded_engine) as s:
        audit = s.exec(
            select(AuditEvent).where(AuditEvent.action == "loan_policy_added")
        ).one()
    assert (audit.actor, audit.entity_id) == ("admin", "sfx-2025")
    assert audit.after["source"] == "示范县创业贷款贴息办法(2025)"

    r = await http.get("/api/loan-policies", headers=clerk)
    assert [p["version"] for p in r.json()] == ["sfx-2025", "qingdao-2024"]
    r = await http.get("/api/loan-policies/qingdao-2024", headers=clerk)
    assert "青岛" in r.json()["source"]
    r = await http.get("/api/loan-policies/sfx-2025", headers=clerk)
    assert r.json()["products"]["personal"]["subsidy_years"] == 2
    assert (await http.get("/api/loan-policies/nope", headers=clerk)).status_code == 404

    # A personal loan of 2025: the county's clerk is quoted the county's 2 years,
    # the city's clerk (above the county) the built-in 3 years.
    personal = {
        "loan_type": "personal",
        "principal": "100000.00",
        "annual_rate": "4.35",
        "lpr": "3.10",
        "contract_date": "2025-03-01",
        "repayments": [
            {"paid_on": "2028-03-01", "principal": "100000", "interest": "13050.00"}
        ],
    }
    r = await http.post("/api/loan-subsidy/quote", json=personal, headers=clerk)
    q = r.json()
    # 2025-03-01 → 2028-03-01: 1096 days; 2 years inside (→ 2027-03-01): 730 days;
    # 13050 × 730/1096 = 9,526,500/1096 = 8692.0620… → 8692.06
    assert (q["policy_version"], q["window_end"]) == ("sfx-2025", "2027-03-01")
    assert q["total"] == "8692.06"
    r = await http.post("/api/loan-subsidy/quote", json=personal, headers=city)
    assert r.json()["policy_version"] == "qingdao-2024"
    assert r.json()["total"] == "13050.00"
    # Named explicitly, the built-in version applies in the county too.
    r = await http.post(
        "/api/loan-subsidy/quote",
        json={**personal, "policy_version": "qingdao-2024"},
        headers=clerk,
    )
    assert r.json()["total"] == "13050.00"
    # Before the county's version takes effect: the built-in one.
    early = {
        **personal,
        "contract_date": "2024-12-31",
        "repayments": [
            {"paid_on": "2025-12-31", "principal": "100000", "interest": "4350.00"}
        ],
    }
    r = await http.post("/api/loan-subsidy/quote", json=early, headers=clerk)
    assert r.json()["policy_version"] == "qingdao-2024"


async def test_a_policy_version_needs_its_source_and_a_locality_of_the_admin(
    http, auth, seeded_engine
):
    admin = await auth("admin")
    r = await http.post(
        "/api/loan-policies",
        json=county_policy(seeded_engine, source="   "),
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "source"]
    missing = county_policy(seeded_engine)
    del missing["source"]
    r = await http.post("/api/loan-policies", json=missing, headers=admin)
    assert r.status_code == 422
    # Everywhere ("*"): only an admin of a top-level unit (the demo admin is the
    # county's).
    r = await http.post(
        "/api/loan-policies",
        json=county_policy(seeded_engine, locality="*"),
        headers=admin,
    )
    assert r.status_code == 403
    # The city above the county, or a path no unit has: not the county admin's.
    for locality in (unit(seeded_engine, "sfs").path, "/999/", "x"):
        r = await http.post(
            "/api/loan-policies",
            json=county_policy(seeded_engine, locality=locality),
            headers=admin,
        )
        assert r.status_code == 422, locality
    # A township of the county is.
    r = await http.post(
        "/api/loan-policies",
        json=county_policy(seeded_engine, locality=unit(seeded_engine, "sfx-ngz").path),
        headers=admin,
    )
    assert r.status_code == 201, r.text


# --- banks ---------------------------------------------------------------------------


async def test_admins_keep_the_bank_list_and_each_change_is_audited(
    http, auth, seeded_engine
):
    admin, clerk = await auth("admin"), await auth("county")
    body = {
        "code": "abc_sfx",
        "name": "农业银行示范县支行",
        "integrated": True,
        "webhook_url": "https://bank.example/apply",
    }
    assert (await http.post("/api/banks", json=body, headers=clerk)).status_code == 403
    r = await http.post("/api/banks", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["active"] is True and r.json()["key_configured"] is False
    assert (await http.post("/api/banks", json=body, headers=admin)).status_code == 409
    bad = {**body, "code": "ABC-1", "webhook_url": "ftp://x"}
    r = await http.post("/api/banks", json=bad, headers=admin)
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {
        ("body", "code"),
        ("body", "webhook_url"),
    }
    r = await http.put("/api/banks/abc_sfx", json={"active": False}, headers=clerk)
    assert r.status_code == 403
    r = await http.put("/api/banks/abc_sfx", json={"active": False}, headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["name"] == "农业银行示范县支行"  # left out: unchanged
    r = await http.put("/api/banks/nope", json={"active": False}, headers=admin)
    assert r.status_code == 404
    r = await http.get("/api/banks", headers=clerk)
    assert "abc_sfx" in [b["code"] for b in r.json()]
    with Session(seeded_engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "bank")
            .order_by(AuditEvent.id)
        ).all()
    assert [(a.action, a.actor) for a in rows] == [
        ("bank_added", "admin"),
        ("bank_changed", "admin"),
    ]
    assert rows[1].before["active"] is True and rows[1].after["active"] is False


# --- a case's loan -------------------------------------------------------------------


def loan_case(engine, case_id: str) -> str:
    """A startup-loan case of 张伟 (东关村) with its loan and two subsidy rounds, as
    the case's activities record them."""
    with Session(engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == "张伟")).one()
        unit_ = s.get(OrgUnit, vet.org_unit_id)
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process="startup_loan",
                veteran_id=vet.id,
                org_unit_id=vet.org_unit_id,
                org_path=unit_.path,
                status="subsidy_approval",
            )
        )
        s.add(
            Loan(
                case_id=case_id,
                veteran_id=vet.id,
                status="subsidy_approval",
                policy_version="qingdao-2024",
                loan_type="personal",
                bank="testbank",
                application_ref=f"{case_id}.bank.1",
                terms={
                    "application_ref": f"{case_id}.bank.1",
                    "bank": "testbank",
                    "bank_reference": "TB-1",
                    "loan_type": "personal",
                    "amount": "100000.00",
                    "annual_rate": "4.35",
                    "lpr": "3.45",
                    "term_months": 12,
                    "contract_date": "2024-01-01",
                    "policy_version": "qingdao-2024",
                    "subsidy_rule": "full",
                    "subsidy_years": 3,
                    # Never shown, even if a writer put it here.
                    "subsidy_account": "6222 0000 0000 0000",
                },
                followups_at=[
                    "2024-04-01T00:00:00+08:00",
                    "2024-07-01T00:00:00+08:00",
                ],
                maturity_at=datetime(2024, 12, 31, 16, tzinfo=UTC),
                ended_kind="repaid",
                ended_on=date(2025, 1, 1),
                subsidy_total="4350.00",
            )
        )
        for rnd, amount in ((1, "1.00"), (2, "4350.00")):
            s.add(
                LoanSubsidyLine(
                    case_id=case_id,
                    round=rnd,
                    period=1,
                    start=date(2024, 1, 1),
                    end=date(2025, 1, 1),
                    days_in_period=366,
                    days_in_window=366,
                    interest_paid=amount,
                    outstanding_principal="100000.00",
                    subsidy=amount,
                    rule="full",
                    policy_version="qingdao-2024",
                )
            )
        s.commit()
    return case_id


async def test_a_case_loan_is_shown_in_the_subtree_without_the_account(
    http, auth, seeded_engine, settings
):
    case_id = loan_case(seeded_engine, f"{settings.case_id_prefix}startup_loan-v1-1")
    r = await http.get(f"/api/cases/{case_id}/loan", headers=await auth("village"))
    assert r.status_code == 200, r.text
    loan = r.json()
    assert loan["terms"]["amount"] == "100000.00"
    assert loan["terms"]["contract_date"] == "2024-01-01"
    assert len(loan["followups_at"]) == 2 and loan["ended_kind"] == "repaid"
    assert loan["subsidy_total"] == "4350.00"
    # The latest round's lines only.
    assert loan["subsidy_round"] == 2
    assert [line["subsidy"] for line in loan["subsidy_lines"]] == ["4350.00"]
    assert "subsidy_account" not in r.text and "6222" not in r.text
    # Another township's clerk does not learn that it exists.
    r = await http.get(f"/api/cases/{case_id}/loan", headers=await auth("township2"))
    assert r.status_code == 404
    r = await http.get("/api/cases/nope/loan", headers=await auth("county"))
    assert r.status_code == 404
    assert (await http.get(f"/api/cases/{case_id}/loan")).status_code == 401


# --- the banks' signed callbacks -----------------------------------------------------


@pytest.fixture
def banks(seeded_engine, settings):
    with Session(seeded_engine) as s:
        s.add(Bank(code="testbank", name="测试银行", integrated=True))
        s.add(Bank(code="otherbank", name="另一银行", integrated=True))
        s.add(Bank(code="closedbank", name="停用银行", integrated=True, active=False))
        s.add(
            BankApplication(
                ref="gone.bank.1",
                case_id="gone",
                workflow_id=f"{settings.case_id_prefix}no-such-workflow",
                bank="testbank",
            )
        )
        s.commit()
    return seeded_engine


def event(**changes) -> dict[str, Any]:
    return {
        "bank": "testbank",
        "reference": "TB-0001",
        "kind": "approved",
        "application_ref": "gone.bank.1",
        "decision": {
            "bank_reference": "TB-0001",
            "amount": "100000.00",
            "annual_rate": "4.35",
            "lpr": "3.45",
            "term_months": 36,
            "contract_date": "2024-01-01",
        },
        **changes,
    }


def signed(
    settings, body: dict[str, Any] | bytes, bank="testbank", ts=None, key_of=None
) -> dict[str, Any]:
    """The request of a callback signed as the bank would sign it."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(int(time.time()) if ts is None else ts)
    key = bank_key(settings, key_of or bank)
    return {
        "content": raw,
        "headers": {
            "Content-Type": "application/json",
            HEADER_BANK: bank,
            HEADER_TIMESTAMP: stamp,
            HEADER_SIGNATURE: sign_bank(key, stamp, raw),
        },
    }


URL = "/api/bank/callbacks"


async def test_unsigned_or_wrongly_signed_callbacks_are_refused(http, banks, settings):
    # No headers at all, though the body is fine.
    r = await http.post(URL, json=event())
    assert r.status_code == 401 and "missing" in r.json()["detail"]
    # Signed with another bank's key.
    r = await http.post(URL, **signed(settings, event(), key_of="otherbank"))
    assert r.status_code == 401 and "bad signature" in r.json()["detail"]
    # A body changed after signing.
    req = signed(settings, event())
    req["content"] = req["content"].replace(b"100000.00", b"900000.00")
    r = await http.post(URL, **req)
    assert r.status_code == 401
    # A bank we do not know, and one no longer active, with their own keys.
    for code in ("nobank", "closedbank"):
        r = await http.post(URL, **signed(settings, event(bank=code), bank=code))
        assert r.status_code == 401, code
    # Garbage in the headers.
    req = signed(settings, event())
    req["headers"][HEADER_SIGNATURE] = "sha256=zz"
    assert (await http.post(URL, **req)).status_code == 401
    req = signed(settings, event())
    req["headers"][HEADER_BANK] = "TestBank"
    assert (await http.post(URL, **req)).status_code == 401
    # An unsigned body that is not even an event learns nothing of the schema.
    r = await http.post(URL, json={"x": 1}, headers={HEADER_BANK: "testbank"})
    assert r.status_code == 401


async def test_a_stale_timestamp_is_refused_even_when_signed(http, banks, settings):
    skew = settings.bank_callback_max_skew_seconds
    for ts in (int(time.time()) - skew - 60, int(time.time()) + skew + 60):
        r = await http.post(URL, **signed(settings, event(), ts=ts))
        assert r.status_code == 401
        assert "stale" in r.json()["detail"]
    r = await http.post(URL, **signed(settings, event(), ts="1e9"))
    assert r.status_code == 401


async def test_a_body_that_is_no_event_or_names_another_bank_is_422(
    http, banks, settings
):
    r = await http.post(URL, **signed(settings, event(kind="paid", reference="")))
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {
        ("body", "kind"),
        ("body", "reference"),
    }
    # Signed by testbank, claiming to be otherbank.
    r = await http.post(URL, **signed(settings, event(bank="otherbank")))
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "bank"]


async def test_an_unknown_application_is_404(http, banks, settings):
    r = await http.post(URL, **signed(settings, event(application_ref="nope.bank.1")))
    assert r.status_code == 404
    # Pushed to testbank, not to otherbank.
    r = await http.post(
        URL, **signed(settings, event(bank="otherbank"), bank="otherbank")
    )
    assert r.status_code == 404
    with Session(banks) as s:
        assert s.exec(select(BankCallback)).all() == []


async def test_a_replayed_reference_gets_its_answer_again_and_another_body_409(
    http, banks, settings
):
    """An earlier accepted callback (as the route stores it): the same body again
    answers the same, marked duplicate, without reaching the case; another body under
    the reference is refused."""
    body = event()
    raw = json.dumps(body).encode()

    answer = {
        "accepted": True,
        "result": "accepted",
        "bank": "testbank",
        "reference": "TB-0001",
        "application_ref": "gone.bank.1",
        "kind": "approved",
        "duplicate": False,
    }
    with Session(banks) as s:
        s.add(
            BankCallback(
                bank="testbank",
                reference="TB-0001",
                body_sha256=hashlib.sha256(raw).hexdigest(),
                application_ref="gone.bank.1",
                kind="approved",
                case_id="gone",
                status_code=200,
                answer=answer,
            )
        )
        s.commit()
    r = await http.post(URL, **signed(settings, raw))
    assert r.status_code == 200, r.text
    assert r.json() == {**answer, "duplicate": True}
    # Signed anew a minute later: still the same body, still the same answer.
    r = await http.post(URL, **signed(settings, raw, ts=int(time.time()) - 60))
    assert r.json()["duplicate"] is True
    r = await http.post(URL, **signed(settings, event(kind="rejected")))
    assert r.status_code == 409 and "another body" in r.json()["detail"]
    # The same reference of another bank is another event.
    r = await http.post(
        URL, **signed(settings, event(bank="otherbank"), bank="otherbank")
    )
    assert r.status_code == 404


async def test_a_callback_for_a_case_that_has_ended_is_409_and_frees_the_reference(
    http, banks, settings
):
    r = await http.post(URL, **signed(settings, event()))
    assert r.status_code == 409, r.text
    assert r.json()["detail"]["type"] == "CaseClosed"
    with Session(banks) as s:
        assert s.exec(select(BankCallback)).all() == []
        audit = s.exec(
            select(AuditEvent).where(AuditEvent.action == "bank_callback_refused")
        ).one()
    assert audit.actor == "bank:testbank" and audit.after["status"] == 409
    assert audit.entity_id == "gone.bank.1"


# --- a callback the case accepts -----------------------------------------------------


async def open_task(http, headers, case_id: str, step: str) -> dict[str, Any]:
    for _ in range(300):
        r = await http.get(
            "/api/tasks", params={"case_id": case_id, "status": "open"}, headers=headers
        )
        assert r.status_code == 200, r.text
        found = [t for t in r.json()["data"] if t["step"] == step]
        if found:
            return found[-1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no open {step}")


async def complete(http, headers, case_id, step, outcome, data) -> None:
    task = await open_task(http, headers, case_id, step)
    r = await http.post(
        f"/api/tasks/{task['id']}/complete",
        json={"outcome": outcome, "data": data, "comment": ""},
        headers=headers,
    )
    assert r.status_code == 200, r.text


async def test_a_case_at_the_bank_accepts_the_signed_approval_once(
    http, auth, client, settings, seeded_engine
):
    """A startup-loan case started and worked through the API to the bank; the bank's
    signed approval moves it on, its replay answers the same without a second
    decision, and a decision the case no longer waits for is 409."""
    village, county = await auth("village"), await auth("county")
    with Session(seeded_engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == "张伟")).one()
    async with build_worker(client, settings, seeded_engine):
        r = await http.post(
            "/api/cases",
            json={"process": "startup_loan", "veteran_id": vet.id},
            headers=county,
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        await complete(
            http,
            village,
            case_id,
            "demand_registration",
            "submitted",
            {
                "intent_field": "农产品电商",
                "needs_guidance": True,
                "contact_phone": "0531-8000 1234",
            },
        )
        await complete(
            http,
            county,
            case_id,
            "application",
            "submitted",
            {
                "loan_type": "personal",
                "amount": "150000.00",
                "term_months": 24,
                "bank": "qdbank",
                "subject_type": "individual",
                "business_plan": "开设农产品网店",
                "bank_data_consent": True,
                "consent_signed_on": "2024-05-20",
            },
        )
        await complete(
            http,
            county,
            case_id,
            "county_review",
            "approve",
            {"identity_verified": True, "subject_verified": True},
        )

        def pushed() -> BankApplication | None:
            with Session(seeded_engine) as s:
                return s.exec(
                    select(BankApplication).where(BankApplication.case_id == case_id)
                ).first()

        application = await wait_for(pushed)
        assert application.bank == "qdbank"
        approval = event(
            bank="qdbank",
            reference="QD-2024-0001",
            application_ref=application.ref,
            decision={**event()["decision"], "bank_reference": "QD-L-77"},
        )
        raw = json.dumps(approval).encode()
        r = await http.post(URL, **signed(settings, raw, bank="qdbank"))
        assert r.status_code == 200, r.text
        first = r.json()
        assert (first["result"], first["duplicate"]) == ("accepted", False)
        # The bank did not hear back and sends the same body again.
        r = await http.post(URL, **signed(settings, raw, bank="qdbank"))
        assert r.json() == {**first, "duplicate": True}
        # A rejection under a new reference: the case no longer waits for one.
        rejection = event(
            bank="qdbank",
            reference="QD-2024-0002",
            kind="rejected",
            application_ref=application.ref,
            decision={"bank_reference": "QD-L-78", "reason": "征信不足"},
        )
        r = await http.post(URL, **signed(settings, rejection, bank="qdbank"))
        assert r.status_code == 409, r.text
        assert r.json()["detail"]["type"] == "StaleBankEvent"

        def loan_terms() -> dict[str, Any] | None:
            with Session(seeded_engine) as s:
                loan = s.get(Loan, case_id)
                return loan.terms if loan is not None and loan.terms else None

        terms = await wait_for(loan_terms)
        assert terms["bank_reference"] == "QD-L-77"
        r = await http.get(f"/api/cases/{case_id}/loan", headers=county)
        assert r.status_code == 200, r.text
        assert r.json()["terms"]["amount"] == "100000.00"
        assert r.json()["bank"] == "qdbank"
    with Session(seeded_engine) as s:
        stored = s.exec(select(BankCallback)).all()
        actions = [
            a.action
            for a in s.exec(
                select(AuditEvent)
                .where(AuditEvent.actor == "bank:qdbank")
                .order_by(AuditEvent.id)
            ).all()
        ]
    assert [(c.reference, c.status_code) for c in stored] == [("QD-2024-0001", 200)]
    assert actions == ["bank_callback", "bank_callback_refused"]
    await client.get_workflow_handle(case_id).terminate("test over")
