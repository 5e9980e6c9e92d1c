"""Startup-loan eligibility (models/loan_policy.py) under the Qingdao default, and the
lookup of the version effective for a unit on a date (models/loan_policy_store.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlmodel import Session

from models.loan_contracts import LoanTerms
from models.loan_policy import QINGDAO_2024, check_eligibility, full_years
from models.loan_policy_store import (
    all_versions,
    effective_policy,
    policy_version,
    row_of,
)

ON = date(2024, 6, 1)


def application(**fields):
    base = {
        "loan_type": "personal",
        "amount": "150000.00",
        "term_months": 36,
        "bank": "testbank",
        "subject_type": "individual",
        "bank_data_consent": True,
        "consent_signed_on": "2024-05-20",
    }
    return {**base, **fields}


def rules(app, on=ON):
    return [f.rule for f in check_eligibility(app, QINGDAO_2024, on)]


def test_an_individual_within_the_limits_is_eligible():
    assert rules(application()) == []
    # The limits themselves are allowed: 200,000 元 and 36 months.
    assert rules(application(amount="200000.00", term_months=36)) == []


def test_every_failing_rule_is_reported_at_once():
    failures = check_eligibility(
        application(
            amount="200000.01",
            term_months=48,
            subject_type="company",
            bank_data_consent=False,
        ),
        QINGDAO_2024,
        ON,
    )
    # Consent, amount, term, subject, and the company's missing registration date:
    # five defects told in one go (一次性告知).
    assert [f.rule for f in failures] == [
        "consent",
        "max_amount",
        "max_term",
        "subject",
        "registered_on",
    ]
    assert [f.field for f in failures] == [
        "bank_data_consent",
        "amount",
        "term_months",
        "subject_type",
        "registered_on",
    ]
    assert "200000" in failures[1].message and "36" in failures[2].message
    assert "个人信息保护法" in failures[0].message


def test_without_the_separate_consent_nothing_goes_to_a_bank():
    assert rules(application(bank_data_consent=False)) == ["consent"]


def test_an_unknown_loan_type_is_one_failure_beside_the_others():
    assert rules(application(loan_type="venture", bank_data_consent=False)) == [
        "consent",
        "loan_type",
    ]


@pytest.mark.parametrize(
    ("registered_on", "failing"),
    [
        ("2021-06-02", []),  # 2 full years on 2024-06-01: within ≤ 3 years
        ("2021-06-01", ["max_years_registered"]),  # exactly 3 years: too old
        ("2020-01-01", ["max_years_registered"]),
        ("2023-06-01", []),  # exactly 1 year: the minimum in business
        ("2023-06-02", ["years_in_business"]),  # 0 full years
    ],
)
def test_startup_sme_registered_under_three_years_and_one_in_business(
    registered_on, failing
):
    app = application(
        loan_type="startup_sme",
        amount="500000.00",
        subject_type="company",
        registered_on=registered_on,
    )
    assert rules(app) == failing


@pytest.mark.parametrize("subject", ["individual_business", "cooperative", "company"])
def test_credit_loans_need_a_subject_in_business_for_a_year(subject):
    young = application(
        loan_type="credit",
        amount="1500000.00",
        subject_type=subject,
        registered_on="2024-01-01",
    )
    assert rules(young) == ["years_in_business"]
    assert "满 1 年" in check_eligibility(young, QINGDAO_2024, ON)[0].message
    # Credit has no upper bound on the years registered.
    assert rules({**young, "registered_on": "2001-01-01"}) == []


def test_an_individual_may_not_take_a_business_loan_nor_a_firm_a_personal_one():
    assert rules(application(loan_type="mortgage", amount="100000.00")) == ["subject"]
    assert rules(application(subject_type="company", registered_on="2020-01-01")) == [
        "subject"
    ]


def test_full_years_counts_whole_years_and_leap_days():
    # A period ending in a month without its day ends on the month's last day
    # (民法典 第二百零二条): 29 Feb 2020 + 3 years is 28 Feb 2023.
    assert full_years(date(2020, 2, 29), date(2023, 2, 28)) == 3
    assert full_years(date(2020, 2, 29), date(2023, 2, 27)) == 2
    assert full_years(date(2020, 2, 29), date(2024, 2, 29)) == 4
    assert full_years(date(2023, 6, 2), ON) == 0


# --- the version effective for a unit on a date --------------------------------------


def version(name, locality, effective_from, months=36):
    product = QINGDAO_2024.products["personal"].model_copy(
        update={"max_term_months": months}
    )
    return QINGDAO_2024.model_copy(
        update={
            "version": name,
            "locality": locality,
            "effective_from": effective_from,
            "products": {"personal": product},
        }
    )


def test_the_most_specific_locality_then_the_latest_date_applies(engine):
    with Session(engine) as s:
        for v in [
            version("all-2025", "*", date(2025, 1, 1)),
            version("city-2025", "/1/", date(2025, 3, 1)),
            version("county-2025", "/1/2/", date(2025, 6, 1)),
            version("county-2026", "/1/2/", date(2026, 1, 1), months=24),
        ]:
            s.add(row_of(v, "admin"))
        s.commit()

        def pick(path, on):
            return effective_policy(s, path, on).version

        # Before any row: the built-in Qingdao policy.
        assert pick("/1/2/3/", date(2024, 12, 31)) == "qingdao-2024"
        assert pick("/1/2/3/", date(2025, 1, 1)) == "all-2025"
        assert pick("/1/2/3/", date(2025, 3, 1)) == "city-2025"
        assert pick("/1/2/3/", date(2025, 6, 1)) == "county-2025"
        # The county's own version beats a later one of everywhere.
        assert pick("/1/2/", date(2026, 6, 1)) == "county-2026"
        # Another county of the city: the city's; another city: everywhere's.
        assert pick("/1/9/", date(2026, 6, 1)) == "city-2025"
        assert pick("/7/", date(2026, 6, 1)) == "all-2025"
        # "/1/2/" is not a prefix of "/1/22/".
        assert pick("/1/22/", date(2026, 6, 1)) == "city-2025"

        policy = effective_policy(s, "/1/2/", date(2026, 1, 1))
        assert policy.products["personal"].max_term_months == 24
        assert policy.source == QINGDAO_2024.source
        assert policy.products["personal"].max_amount == Decimal("200000.00")

        assert policy_version(s, "qingdao-2024") == QINGDAO_2024
        assert policy_version(s, "county-2026") == policy
        assert policy_version(s, "nope") is None
        assert [p.version for p in all_versions(s)] == [
            "county-2026",
            "county-2025",
            "city-2025",
            "all-2025",
            "qingdao-2024",
        ]


def test_a_grant_beyond_the_policy_is_named_for_the_subsidy_review():
    """The application was within the limits; the bank granted more. The workflow
    does not refuse the loan (the bank decides it) but tells the subsidy review."""
    from workflows.startup_loan import beyond_policy

    terms = LoanTerms(
        application_ref="x.bank.1",
        bank="qdbank",
        bank_reference="QD-1",
        loan_type="personal",
        amount=Decimal("250000.00"),
        annual_rate=Decimal("3.95"),
        lpr=Decimal("3.45"),
        term_months=48,
        contract_date=date(2025, 1, 1),
        policy_version=QINGDAO_2024.version,
        subsidy_rule="full",
        subsidy_years=3,
    )
    warnings = beyond_policy(terms, QINGDAO_2024)
    assert warnings == [
        "银行核准金额 250000.00 元超过政策额度 200000.00 元",
        "贷款期限 48 个月超过政策期限 36 个月",
    ]
    within = terms.model_copy(
        update={"amount": Decimal("200000.00"), "term_months": 36}
    )
    assert beyond_policy(within, QINGDAO_2024) == []
