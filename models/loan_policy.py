"""The startup-loan policy table: loan products and their limits, by locality and
effective date, and the eligibility check an application goes through.

003_f9c5147b9b40820b.txt §6.3.2.6 names the four loan kinds (个人自主创业贷款, 小微企业
初创期贷款, 信用贷款, 抵押贷款); their limits are local. The default is Qingdao's
《退役军人创业扶持和困难帮扶实施办法(试行)》 (domain.md §3 b): admins add versions
through the API (``/api/loan-policies``), each with its source text; a case keeps the
version effective on its application date, recorded in its history.

Pure and deterministic (the workflow runs the check itself): pydantic and stdlib only.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from models.loan_subsidy import SubsidyRule, add_months

LoanType = Literal["personal", "startup_sme", "credit", "mortgage"]
SubjectType = Literal["individual", "individual_business", "company", "cooperative"]

LOAN_TYPE_LABELS = {
    "personal": "个人自主创业贷款",
    "startup_sme": "小微企业初创期贷款",
    "credit": "信用贷款",
    "mortgage": "抵押贷款",
}
SUBJECT_LABELS = {
    "individual": "个人(尚未登记注册)",
    "individual_business": "个体工商户",
    "company": "中小微企业",
    "cooperative": "农民专业合作社",
}
ANY_LOCALITY = "*"


class LoanProduct(BaseModel):
    """One loan kind's limits and subsidy."""

    max_amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    max_term_months: int = Field(gt=0, le=360)
    subsidy_rule: SubsidyRule
    subsidy_years: int = Field(ge=0, le=10)
    subjects: list[SubjectType] = Field(min_length=1)
    # 小微企业初创期: registered no longer ago than this (years); None: no limit.
    max_years_registered: int | None = Field(default=None, ge=0, le=50)


class LoanPolicy(BaseModel):
    """One version of one locality's policy."""

    version: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.:-]+$")
    # An org path prefix ("/1/2/") the version applies to, or "*" (everywhere).
    locality: str = Field(default=ANY_LOCALITY, max_length=200)
    effective_from: date
    source: str = Field(min_length=1, max_length=4000)
    # A subject other than an individual must have run the business this long
    # (个体工商户/企业/合作社 ≥ 1 年, 2025 national notice).
    min_years_in_business: int = Field(default=1, ge=0, le=50)
    products: dict[LoanType, LoanProduct]


QINGDAO_2024 = LoanPolicy(
    version="qingdao-2024",
    locality=ANY_LOCALITY,
    effective_from=date(2024, 1, 1),
    source=(
        "青岛市《退役军人创业扶持和困难帮扶实施办法(试行)》: 个人自主创业贷款最高20万元、"
        "期限不超过3年、全额贴息最长3年; 小微企业初创期(注册3年以内)贷款最高50万元、"
        "全额贴息最长2年; 后续发展信用贷款最高150万元、抵押贷款最高500万元、期限不超过3年, "
        "按签订合同时1年期LPR的50%贴息最长2年; 非个人主体须经营满1年 "
        "(domain.md §3 b; DB3702/T 41—2024 §6.3.2.6–6.3.2.7)"
    ),
    min_years_in_business=1,
    products={
        "personal": LoanProduct(
            max_amount=Decimal("200000.00"),
            max_term_months=36,
            subsidy_rule="full",
            subsidy_years=3,
            subjects=["individual"],
        ),
        "startup_sme": LoanProduct(
            max_amount=Decimal("500000.00"),
            max_term_months=36,
            subsidy_rule="full",
            subsidy_years=2,
            subjects=["individual_business", "company", "cooperative"],
            max_years_registered=3,
        ),
        "credit": LoanProduct(
            max_amount=Decimal("1500000.00"),
            max_term_months=36,
            subsidy_rule="half_lpr",
            subsidy_years=2,
            subjects=["individual_business", "company", "cooperative"],
        ),
        "mortgage": LoanProduct(
            max_amount=Decimal("5000000.00"),
            max_term_months=36,
            subsidy_rule="half_lpr",
            subsidy_years=2,
            subjects=["individual_business", "company", "cooperative"],
        ),
    },
)


class Failure(BaseModel):
    """One failed rule: told to the applicant with all the others at once (003 §7.6)."""

    rule: str
    field: str
    message: str


def full_years(since: date, on: date) -> int:
    """Whole years from ``since`` to ``on``."""
    years = on.year - since.year
    return years - 1 if add_months(since, 12 * years) > on else years


def check_eligibility(
    application: dict[str, object], policy: LoanPolicy, on: date
) -> list[Failure]:
    """Every rule the application (the ``application`` step's data) fails under
    ``policy`` on date ``on``; empty when eligible."""
    failures: list[Failure] = []
    loan_type = str(application.get("loan_type", ""))
    product = policy.products.get(loan_type)  # type: ignore[call-overload]
    if not application.get("bank_data_consent"):
        failures.append(
            Failure(
                rule="consent",
                field="bank_data_consent",
                message="未取得本人向银行提供信息的单独同意(个人信息保护法第二十三条)",
            )
        )
    if product is None:
        failures.append(
            Failure(
                rule="loan_type",
                field="loan_type",
                message=f"本地政策(版本 {policy.version})未设该贷款类型",
            )
        )
        return failures
    label = LOAN_TYPE_LABELS.get(loan_type, loan_type)
    amount = Decimal(str(application.get("amount", "0")))
    if amount > product.max_amount:
        failures.append(
            Failure(
                rule="max_amount",
                field="amount",
                message=f"{label}额度最高 {product.max_amount} 元",
            )
        )
    term = int(str(application.get("term_months", 0)))
    if term > product.max_term_months:
        failures.append(
            Failure(
                rule="max_term",
                field="term_months",
                message=f"{label}期限最长 {product.max_term_months} 个月",
            )
        )
    subject = str(application.get("subject_type", ""))
    if subject not in product.subjects:
        allowed = "、".join(SUBJECT_LABELS[s] for s in product.subjects)
        failures.append(
            Failure(
                rule="subject",
                field="subject_type",
                message=f"{label}的申请主体须为{allowed}",
            )
        )
    if subject != "individual":
        registered = application.get("registered_on")
        if not registered:
            failures.append(
                Failure(
                    rule="registered_on",
                    field="registered_on",
                    message="须填写经营主体的登记注册日期",
                )
            )
        else:
            years = full_years(date.fromisoformat(str(registered)), on)
            if years < policy.min_years_in_business:
                failures.append(
                    Failure(
                        rule="years_in_business",
                        field="registered_on",
                        message=(
                            f"经营主体须经营满 {policy.min_years_in_business} 年"
                            f"(现 {years} 年)"
                        ),
                    )
                )
            limit = product.max_years_registered
            if limit is not None and years >= limit:
                failures.append(
                    Failure(
                        rule="max_years_registered",
                        field="registered_on",
                        message=f"{label}限注册 {limit} 年以内的企业",
                    )
                )
    return failures
