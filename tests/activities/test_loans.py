"""The startup loan's activities against the real database (SQLite and PostgreSQL) and a
real local HTTP server standing in for the bank: the policy version a case keeps, the
signed push (a 4xx refused for good, a 5xx retried), the loan row and the subsidy
lines written idempotently, and the demo's banks."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import build_activities
from activities.loans import LoanActivities
from activities.notify_adapters import LogAdapter
from models.bank_signing import (
    HEADER_BANK,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    bank_key,
    verify_bank,
)
from models.demo import DEMO_BANKS, seed_demo
from models.loan_contracts import (
    BankPushInput,
    LoanPolicyInput,
    LoanRecordInput,
    LoanTerms,
    SubsidyPlanInput,
)
from models.loan_policy import QINGDAO_2024, LoanPolicy
from models.loan_subsidy import QuoteInput, Repayment
from models.orgs import create_org_unit
from models.settings import Settings
from models.tables import (
    AuditEvent,
    Bank,
    BankApplication,
    Case,
    Loan,
    LoanPolicyVersion,
    LoanSubsidyLine,
    OrgLevel,
    Veteran,
)

ID_NUMBER = "370102200203140113"
AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def bank_settings() -> Settings:
    return Settings(
        secret_key="s" * 48, bank_secrets={"qdbank": "qdbank-own-key-0123456789"}
    )


@pytest.fixture
def acts(engine: Engine, bank_settings: Settings) -> LoanActivities:
    return LoanActivities(engine, bank_settings)


def run(fn: Any, arg: Any) -> Any:
    return ActivityEnvironment().run(fn, arg)


def audits(engine: Engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)))


# --- registration ------------------------------------------------------------------


def test_registered_under_the_names_the_workflow_calls(engine, bank_settings):
    names = {
        activity._Definition.must_from_callable(fn).name
        for fn in build_activities(engine, None, LogAdapter(), bank_settings)
    }
    assert {"load_loan_policy", "push_to_bank", "record_loan", "plan_subsidy"} <= names


# --- the policy version --------------------------------------------------------------


def version(
    name: str, locality: str, effective: date, **changes: Any
) -> LoanPolicyVersion:
    policy = QINGDAO_2024.model_copy(
        update={
            "version": name,
            "locality": locality,
            "effective_from": effective,
            **changes,
        }
    )
    return LoanPolicyVersion(
        version=name,
        locality=locality,
        effective_from=effective,
        source=f"source of {name}",
        body=policy.model_dump(mode="json"),
    )


def policy_on(acts: LoanActivities, org_path: str, on: date) -> LoanPolicy:
    policy = run(
        acts.load_loan_policy, LoanPolicyInput(case_id="c-1", org_path=org_path, on=on)
    )
    assert isinstance(policy, LoanPolicy)
    return policy


def test_policy_falls_back_to_qingdao_when_the_table_is_empty(acts):
    assert policy_on(acts, "/1/2/", date(2026, 1, 1)) == QINGDAO_2024


def test_policy_by_locality_prefix_then_latest_effective_date(engine, acts):
    with Session(engine) as s:
        s.add_all(
            [
                version("all-2024", "*", date(2024, 1, 1)),
                version("all-2025", "*", date(2025, 1, 1), min_years_in_business=2),
                version("county-2024", "/1/2/", date(2024, 6, 1)),
                version("county-2030", "/1/2/", date(2030, 1, 1)),
                version("other", "/1/23/", date(2024, 1, 1)),
            ]
        )
        s.commit()
    # Before the county's own version takes effect: the latest everywhere-version.
    assert policy_on(acts, "/1/2/5/", date(2024, 3, 1)).version == "all-2024"
    # The most specific locality wins over a later version for everywhere.
    county = policy_on(acts, "/1/2/5/", date(2025, 6, 1))
    assert county.version == "county-2024" and county.locality == "/1/2/"
    assert county.source == "source of county-2024"
    assert county.products["personal"].max_amount == Decimal("200000.00")
    assert policy_on(acts, "/1/2/", date(2031, 1, 1)).version == "county-2030"
    # A locality is a whole path: /1/2/ does not cover /1/23/.
    assert policy_on(acts, "/1/3/", date(2025, 6, 1)).version == "all-2025"
    assert policy_on(acts, "/1/23/9/", date(2025, 6, 1)).version == "other"
    assert policy_on(acts, "/1/3/", date(2025, 6, 1)).min_years_in_business == 2
    # Nothing effective yet: the default.
    assert policy_on(acts, "/1/2/", date(2023, 12, 31)) == QINGDAO_2024


def test_a_damaged_policy_row_is_an_incident_not_a_retry(engine, acts):
    row = version("broken", "*", date(2024, 1, 1))
    row.body = {**row.body, "products": {"personal": {"max_amount": "-1"}}}
    with Session(engine) as s:
        s.add(row)
        s.commit()
    with pytest.raises(ApplicationError) as raised:
        policy_on(acts, "/1/", date(2025, 1, 1))
    assert raised.value.type == "InvalidLoanPolicy" and raised.value.non_retryable


# --- the push to the bank ------------------------------------------------------------


class BankServer(BaseHTTPRequestHandler):
    """A bank's application endpoint: records each request, answers as told."""

    answers: ClassVar[list[int]] = []
    requests: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        BankServer.requests.append((body, dict(self.headers)))
        status = BankServer.answers.pop(0) if BankServer.answers else 200
        answer = b'{"error": "duplicate applicant"}' if status >= 400 else b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def bank_url() -> Iterator[str]:
    BankServer.answers, BankServer.requests = [], []
    server = HTTPServer(("127.0.0.1", 0), BankServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/applications"
    server.shutdown()
    server.server_close()


@pytest.fixture
def veteran_case(engine: Engine) -> tuple[int, str]:
    """A veteran with a startup-loan case row: (veteran id, case id)."""
    with Session(engine) as s:
        county = create_org_unit(
            s, "t-cty", "示范县退役军人服务中心", OrgLevel.county, None
        )
        vet = Veteran(
            name="张伟",
            id_number=ID_NUMBER,
            gender="男",
            phone="13800000000",
            category="自主就业退役士兵",
            org_unit_id=county.id or 0,
        )
        s.add(vet)
        s.flush()
        case_id = f"startup_loan-v{vet.id}-1"
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process="startup_loan",
                veteran_id=vet.id,
                org_unit_id=county.id or 0,
                org_path=county.path,
            )
        )
        s.add_all(
            [
                Bank(code="qdbank", name="青岛银行", integrated=True),
                Bank(code="icbc", name="中国工商银行", integrated=True),
                Bank(code="rcc", name="农村信用合作社", integrated=False),
                Bank(code="old", name="旧银行", integrated=True, active=False),
            ]
        )
        s.commit()
        assert vet.id is not None
        return vet.id, case_id


def set_webhook(engine: Engine, code: str, url: str) -> None:
    with Session(engine) as s:
        bank = s.get(Bank, code)
        assert bank is not None
        bank.webhook_url = url
        s.add(bank)
        s.commit()


def push(
    veteran_case: tuple[int, str], bank: str, n: int = 1, **changes: Any
) -> BankPushInput:
    vid, case_id = veteran_case
    application = {
        "loan_type": "personal",
        "amount": "150000.00",
        "term_months": 24,
        "bank": bank,
        "subject_type": "individual",
        "business_plan": "社区便利店",
        "bank_data_consent": True,
        "consent_signed_on": "2026-03-01",
    }
    return BankPushInput(
        case_id=case_id,
        application_ref=f"{case_id}.bank.{n}",
        bank=bank,
        veteran_id=vid,
        application={**application, **changes},
        consent_signed_on=date(2026, 3, 1),
        at=AT,
    )


def application_row(engine: Engine, ref: str) -> BankApplication:
    with Session(engine) as s:
        row = s.get(BankApplication, ref)
        assert row is not None
        return row


@pytest.mark.parametrize("code", ["qdbank", "icbc"])
def test_push_is_signed_with_the_banks_own_key(
    engine, acts, bank_settings, veteran_case, bank_url, code
):
    set_webhook(engine, code, bank_url)
    inp = push(veteran_case, code)
    with structlog.testing.capture_logs() as logs:
        result = run(acts.push_to_bank, inp)
    assert result.integrated and result.bank == code
    ((body, headers),) = BankServer.requests
    assert headers[HEADER_BANK] == code
    assert abs(int(headers[HEADER_TIMESTAMP]) - time.time()) < 60
    key = bank_key(bank_settings, code)
    assert verify_bank(key, headers[HEADER_TIMESTAMP], body, headers[HEADER_SIGNATURE])
    other = bank_key(bank_settings, "icbc" if code == "qdbank" else "qdbank")
    assert not verify_bank(
        other, headers[HEADER_TIMESTAMP], body, headers[HEADER_SIGNATURE]
    )
    assert headers["X-Vetflow-Key"] == inp.application_ref
    payload = json.loads(body)
    assert payload["application_ref"] == inp.application_ref
    assert payload["case_id"] == inp.case_id and payload["bank"] == code
    assert payload["application"] == inp.application
    # With the veteran's recorded consent, the bank gets the name and full ID number.
    assert payload["veteran"] == {"name": "张伟", "id_number": ID_NUMBER}
    assert payload["consent_signed_on"] == "2026-03-01"
    assert datetime.fromisoformat(payload["pushed_at"]) == AT
    row = application_row(engine, inp.application_ref)
    assert row.delivered and row.bank == code and row.workflow_id == inp.case_id
    assert row.case_id == inp.case_id
    (audit,) = audits(engine, "bank_push")
    assert audit.after is not None
    assert audit.after["mode"] == "webhook"
    assert audit.after["disclosed"] == ["id_number", "name"]
    # The ID number never reaches the log.
    assert ID_NUMBER not in repr(logs)
    assert any(e["event"] == "bank_push_sent" and e["status"] == 200 for e in logs)


def test_a_5xx_is_retried_and_the_retry_is_the_same_application(
    engine, acts, veteran_case, bank_url
):
    set_webhook(engine, "qdbank", bank_url)
    inp = push(veteran_case, "qdbank")
    BankServer.answers = [503]
    with pytest.raises(ApplicationError) as raised:
        run(acts.push_to_bank, inp)
    assert raised.value.type == "BankUnavailable" and not raised.value.non_retryable
    # Recorded before the push (a callback may beat the activity), not yet delivered.
    assert not application_row(engine, inp.application_ref).delivered
    assert run(acts.push_to_bank, inp).integrated
    assert application_row(engine, inp.application_ref).delivered
    keys = [h["X-Vetflow-Key"] for _, h in BankServer.requests]
    assert keys == [inp.application_ref] * 2
    with Session(engine) as s:
        assert len(s.exec(select(BankApplication)).all()) == 1
    assert len(audits(engine, "bank_push")) == 1


@pytest.mark.parametrize("status", [400, 409, 422])
def test_a_4xx_is_the_bank_refusing_for_good(
    engine, acts, veteran_case, bank_url, status
):
    set_webhook(engine, "qdbank", bank_url)
    BankServer.answers = [status]
    with pytest.raises(ApplicationError) as raised:
        run(acts.push_to_bank, push(veteran_case, "qdbank"))
    assert raised.value.type == "BankRejectedPush" and raised.value.non_retryable
    assert str(status) in str(raised.value) and "duplicate applicant" in str(
        raised.value
    )


def test_429_and_an_unreachable_bank_are_retried(engine, acts, veteran_case, bank_url):
    set_webhook(engine, "qdbank", bank_url)
    BankServer.answers = [429]
    with pytest.raises(ApplicationError) as limited:
        run(acts.push_to_bank, push(veteran_case, "qdbank"))
    assert limited.value.type == "BankUnavailable" and not limited.value.non_retryable
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    set_webhook(engine, "qdbank", f"http://127.0.0.1:{closed}/applications")
    with pytest.raises(ApplicationError) as down:
        run(acts.push_to_bank, push(veteran_case, "qdbank", n=2))
    assert down.value.type == "BankUnreachable" and not down.value.non_retryable


def test_integrated_without_an_address_logs_the_push(
    engine, acts, veteran_case, bank_url
):
    inp = push(veteran_case, "qdbank")
    with structlog.testing.capture_logs() as logs:
        result = run(acts.push_to_bank, inp)
    assert result.integrated and result.bank_name == "青岛银行"
    assert [e["event"] for e in logs if e["event"].startswith("bank_push")] == [
        "bank_push_logged"
    ]
    assert application_row(engine, inp.application_ref).delivered
    assert BankServer.requests == []
    (audit,) = audits(engine, "bank_push")
    assert audit.after is not None and audit.after["mode"] == "logged"
    assert audit.after["disclosed"] == []
    assert ID_NUMBER not in repr(logs)


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("rcc", "农村信用合作社"),
        ("old", "旧银行(已停用)"),
        ("nosuch", "未登记银行 nosuch"),
    ],
)
def test_a_bank_without_integration_is_left_to_a_clerk(
    engine, acts, veteran_case, bank_url, code, name
):
    set_webhook(engine, "rcc", bank_url)  # ignored: not integrated
    set_webhook(engine, "old", bank_url)  # ignored: inactive
    inp = push(veteran_case, code)
    result = run(acts.push_to_bank, inp)
    assert not result.integrated and result.bank == code and result.bank_name == name
    assert BankServer.requests == []
    row = application_row(engine, inp.application_ref)
    assert not row.delivered and row.bank == code
    (audit,) = audits(engine, "bank_push")
    assert audit.after is not None and audit.after["mode"] == "desk"


def test_nothing_is_pushed_without_the_veterans_consent(
    engine, acts, veteran_case, bank_url
):
    set_webhook(engine, "qdbank", bank_url)
    with pytest.raises(ApplicationError) as raised:
        run(acts.push_to_bank, push(veteran_case, "qdbank", bank_data_consent=False))
    assert raised.value.type == "NoBankDataConsent" and raised.value.non_retryable
    assert BankServer.requests == []
    with Session(engine) as s:
        assert s.exec(select(BankApplication)).all() == []


# --- the loan row ----------------------------------------------------------------------

TERMS = LoanTerms(
    application_ref="c-9.bank.1",
    bank="qdbank",
    bank_reference="QD-2026-0001",
    loan_type="personal",
    amount=Decimal("150000.00"),
    annual_rate=Decimal("3.9500"),
    lpr=Decimal("3.45"),
    term_months=24,
    contract_date=date(2026, 3, 10),
    policy_version="qingdao-2024",
    subsidy_rule="full",
    subsidy_years=3,
)


def record(stage: str, **fields: Any) -> LoanRecordInput:
    return LoanRecordInput(case_id="c-9", veteran_id=7, stage=stage, at=AT, **fields)


def loan_row(engine: Engine) -> Loan:
    with Session(engine) as s:
        row = s.get(Loan, "c-9")
        assert row is not None
        return row


def test_record_loan_writes_only_the_stages_fields_and_retries_change_nothing(
    engine, acts
):
    run(
        acts.record_loan,
        record(
            "applied",
            status="under_review",
            policy_version="qingdao-2024",
            loan_type="personal",
            bank="icbc",
        ),
    )
    pushed = record("pushed", status="at_bank", bank="qdbank", application_ref="r-1")
    run(acts.record_loan, pushed)
    row = loan_row(engine)
    assert (row.status, row.bank, row.application_ref) == ("at_bank", "qdbank", "r-1")
    assert (row.loan_type, row.policy_version) == ("personal", "qingdao-2024")
    points = [AT + timedelta(days=90), AT + timedelta(days=180)]
    servicing = record(
        "servicing",
        status="repaying",
        terms=TERMS,
        followups_at=points,
        maturity_at=AT + timedelta(days=730),
    )
    for _ in range(2):  # a retry writes the same again
        run(acts.record_loan, servicing)
    row = loan_row(engine)
    assert row.status == "repaying" and row.application_ref == "r-1"
    assert row.terms["amount"] == "150000.00" and row.terms["annual_rate"] == "3.9500"
    assert row.terms["contract_date"] == "2026-03-10"
    assert row.followups_at == [p.isoformat() for p in points]
    assert row.maturity_at is not None
    assert row.maturity_at.replace(tzinfo=UTC) == AT + timedelta(days=730)
    assert len(audits(engine, "loan_granted")) == 1
    run(
        acts.record_loan,
        record("subsidy", status="subsidy_paid", subsidy_total=Decimal("8625.5")),
    )
    run(acts.record_loan, record("reward", reward_total=Decimal(8000)))
    row = loan_row(engine)
    assert (row.subsidy_total, row.reward_total) == ("8625.50", "8000.00")
    assert row.status == "subsidy_paid"  # the reward stage gives no status
    assert row.terms["bank_reference"] == "QD-2026-0001"
    with Session(engine) as s:
        assert len(s.exec(select(Loan)).all()) == 1
    (paid,) = audits(engine, "loan_subsidy_paid")
    assert paid.after is not None and paid.after["subsidy_total"] == "8625.50"


# --- the subsidy plan ------------------------------------------------------------------


def plan(round_no: int, rule: str, repayments: list[Repayment]) -> SubsidyPlanInput:
    return SubsidyPlanInput(
        case_id="c-9",
        round=round_no,
        quote=QuoteInput(
            loan_type="credit",
            principal=Decimal("100000.00"),
            annual_rate=Decimal("4.00"),
            lpr=Decimal("3.45"),
            contract_date=date(2024, 1, 1),
            repayments=repayments,
        ),
        policy_version="qingdao-2024",
        subsidy_rule=rule,
        subsidy_years=2,
        at=AT,
    )


TWO = [
    Repayment(
        paid_on=date(2024, 7, 1), principal=Decimal(50000), interest=Decimal(2000)
    ),
    Repayment(
        paid_on=date(2025, 1, 1), principal=Decimal(50000), interest=Decimal(1000)
    ),
]


def lines(engine: Engine, round_no: int) -> list[LoanSubsidyLine]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(LoanSubsidyLine)
                .where(LoanSubsidyLine.case_id == "c-9")
                .where(LoanSubsidyLine.round == round_no)
                .order_by(col(LoanSubsidyLine.period))
            )
        )


def test_plan_subsidy_keeps_the_rounds_lines_once(engine, acts):
    # 50 % × LPR, by hand: 100000 × 0.5 × 3.45 % × 182/360 = 872.083… < 2000 → 872.08;
    # 50000 × 0.5 × 3.45 % × 184/360 = 440.833… < 1000 → 440.83; total 1312.91.
    for _ in range(2):
        quote = run(acts.plan_subsidy, plan(1, "half_lpr", TWO))
    assert quote.total == Decimal("1312.91") and quote.rule == "half_lpr"
    first = lines(engine, 1)
    assert [(x.period, x.subsidy, x.interest_paid) for x in first] == [
        (1, "872.08", "2000.00"),
        (2, "440.83", "1000.00"),
    ]
    assert [x.outstanding_principal for x in first] == ["100000.00", "50000.00"]
    assert {(x.rule, x.policy_version) for x in first} == {("half_lpr", "qingdao-2024")}
    assert (first[0].days_in_period, first[0].days_in_window) == (182, 182)
    # A second round (after a return for correction) keeps the first round's lines.
    one = [
        Repayment(
            paid_on=date(2025, 1, 1), principal=Decimal(100000), interest=Decimal(4000)
        )
    ]
    assert run(acts.plan_subsidy, plan(2, "full", one)).total == Decimal("4000.00")
    assert [x.subsidy for x in lines(engine, 2)] == ["4000.00"]
    assert len(lines(engine, 1)) == 2
    # Recomputing a round replaces its lines (fewer periods leave none behind).
    run(acts.plan_subsidy, plan(1, "full", one))
    assert [x.subsidy for x in lines(engine, 1)] == ["4000.00"]
    assert len(audits(engine, "loan_subsidy_planned")) == 2


def test_an_unknown_subsidy_rule_is_an_incident(engine, acts):
    with pytest.raises(ApplicationError) as raised:
        run(acts.plan_subsidy, plan(1, "double", TWO))
    assert raised.value.type == "InvalidLoanPolicy" and raised.value.non_retryable
    assert lines(engine, 1) == []


# --- demo data -----------------------------------------------------------------------


def test_demo_banks_and_policy_are_seeded_once(engine, acts):
    assert seed_demo(engine)
    assert not seed_demo(engine)
    with Session(engine) as s:
        banks = {b.code: b for b in s.exec(select(Bank))}
        assert len(s.exec(select(LoanPolicyVersion)).all()) == 1
    assert set(banks) == {code for code, *_ in DEMO_BANKS} == {"qdbank", "icbc", "rcc"}
    assert banks["qdbank"].integrated and banks["qdbank"].webhook_url == ""
    assert not banks["rcc"].integrated
    with structlog.testing.capture_logs() as logs:
        assert policy_on(acts, "/1/2/", date(2026, 1, 1)) == QINGDAO_2024
    assert [e["event"] for e in logs] == ["loan_policy_loaded"]


def test_an_older_demo_database_gets_the_banks_a_real_one_does_not(engine):
    seed_demo(engine)
    with Session(engine) as s:
        s.exec(delete(Bank))
        s.exec(delete(LoanPolicyVersion))
        s.commit()
    assert not seed_demo(engine)
    with Session(engine) as s:
        assert len(s.exec(select(Bank)).all()) == 3
        s.exec(delete(Bank))
        s.exec(delete(AuditEvent).where(col(AuditEvent.action) == "seed_demo"))
        s.commit()
    assert not seed_demo(engine)  # not the demo's data: nothing added
    with Session(engine) as s:
        assert s.exec(select(Bank)).all() == []
