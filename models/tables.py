"""SQLModel tables: reference data (org units, accounts, veterans, holidays) and the
process projection (cases, tasks, notices, archived histories) plus the audit trail.

Reference data is written by the API (with an audit record); the projection is written
only by activities, idempotently, and can be rebuilt from Temporal history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, overload

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive (they are stored in UTC): compare them as
    aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class OrgLevel(StrEnum):
    """一中心两站 plus the levels above them (002 §3.2)."""

    province = "province"
    city = "city"
    county = "county"  # 区/县 退役军人服务中心
    township = "township"  # 乡镇/街道 退役军人服务站
    village = "village"  # 村/社区 退役军人服务站


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_unit"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=200)
    level: OrgLevel
    parent_id: int | None = Field(default=None, foreign_key="org_unit.id", index=True)
    # Materialised path "/1/4/9/": a unit's subtree is every path that starts with it.
    path: str = Field(default="/", index=True, max_length=400)
    # Where a veteran finds the station, named in notices (一次性告知, 003 §7.6).
    address: str = Field(default="", max_length=300)
    phone: str = Field(default="", max_length=32)


class Account(SQLModel, table=True):
    """A staff account (table name avoids PostgreSQL's reserved word ``user``)."""

    __tablename__ = "account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(max_length=100)
    password_hash: str = Field(max_length=200)
    roles: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    email: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    # B角 (003 §7.7): takes over when this account is absent.
    backup_username: str | None = Field(default=None, max_length=64)
    absent: bool = Field(default=False)
    locale: str = Field(
        default="", max_length=10
    )  # "" = follow the browser (zh-CN first)
    active: bool = Field(default=True)


class Veteran(SQLModel, table=True):
    """一人一档 (003 §6.1.5): the registry entry of one veteran."""

    __tablename__ = "veteran"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    id_number: str = Field(unique=True, index=True, max_length=18)
    gender: str = Field(max_length=8)
    phone: str = Field(max_length=32)
    email: str | None = Field(default=None, max_length=200)
    category: str = Field(max_length=40)
    party_member: bool = Field(default=False)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Holiday(SQLModel, table=True):
    """Admin-maintained calendar days that override ``chinese-calendar``.

    ``workday`` False = a statutory holiday; True = an adjusted working weekend (调休).
    """

    __tablename__ = "holiday"

    day: date = Field(primary_key=True)
    workday: bool = Field(default=False)
    name: str = Field(default="", max_length=100)


class Case(SQLModel, table=True):
    """One process instance (projection of a Temporal workflow)."""

    __tablename__ = "case"

    id: str = Field(primary_key=True, max_length=120)  # = workflow id
    workflow_id: str = Field(index=True, max_length=120)
    run_id: str = Field(default="", max_length=64)
    process: str = Field(index=True, max_length=64)
    title: str = Field(default="", max_length=200)
    # None for a case about an org unit rather than a veteran (a county's payroll).
    veteran_id: int | None = Field(default=None, foreign_key="veteran.id", index=True)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(default="/", index=True, max_length=400)
    status: str = Field(default="running", index=True, max_length=32)
    # The process definition version the case started with (and keeps to its end).
    spec_version: int = Field(default=1)
    # The campaign that opened the case (the annual review's year campaign).
    campaign_id: str | None = Field(default=None, index=True, max_length=120)
    started_by: str = Field(default="", max_length=64)
    started_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )


# On PostgreSQL an ``org_path`` index column uses ``varchar_pattern_ops``: the subtree
# filter ``org_path LIKE '/1/4/%'`` can use it whatever the database collation (a
# default btree serves LIKE only under the C collation). SQLite ignores the option.
PATH_PATTERN_OPS = {"org_path": "varchar_pattern_ops"}


class HumanTask(SQLModel, table=True):
    """A human step of a case (projection; the workflow owns the state).

    Indexes follow the reads (api/inbox_queries.py, api/case_queries.py; their plans on
    PostgreSQL are checked in tests/api/test_inbox_plans.py): tasks of a subtree by
    status and due date (a small subtree through the path, a large one walking the due
    dates), the unclaimed open tasks of a role, a clerk's own tasks, a clerk's done
    tasks, a case's tasks by status.
    """

    __tablename__ = "human_task"
    __table_args__ = (
        # A subtree's open tasks: counted off the index alone (case_id is there for
        # the exclusion test), listed for a small subtree.
        Index(
            "ix_human_task_status_path_due",
            "status",
            "org_path",
            "due_at",
            "case_id",
            postgresql_ops=PATH_PATTERN_OPS,
        ),
        # A large subtree's first page: the due dates in order, the path checked in
        # the index.
        Index(
            "ix_human_task_status_due_path",
            "status",
            "due_at",
            "org_path",
            postgresql_ops=PATH_PATTERN_OPS,
        ),
        # The tabs: unclaimed open tasks of a role (claimable), a clerk's own (mine),
        # a clerk's done tasks, each by due date. The path and the case id make each
        # tab's count an index-only scan.
        Index(
            "ix_human_task_claimable",
            "candidate_role",
            "due_at",
            "org_path",
            "case_id",
            postgresql_ops=PATH_PATTERN_OPS,
            postgresql_where=text("status = 'open' AND assignee IS NULL"),
            sqlite_where=text("status = 'open' AND assignee IS NULL"),
        ),
        Index(
            "ix_human_task_assignee_status_due",
            "assignee",
            "status",
            "due_at",
            "org_path",
            "case_id",
            postgresql_ops=PATH_PATTERN_OPS,
        ),
        Index(
            "ix_human_task_completed_by_status_due",
            "completed_by",
            "status",
            "due_at",
            "org_path",
            "case_id",
            postgresql_ops=PATH_PATTERN_OPS,
        ),
        Index("ix_human_task_case_status", "case_id", "status", "due_at"),
        Index("ix_human_task_org_path", "org_path", postgresql_ops=PATH_PATTERN_OPS),
    )

    id: str = Field(primary_key=True, max_length=200)
    case_id: str = Field(foreign_key="case.id", max_length=120)
    workflow_id: str = Field(max_length=120)
    process: str = Field(index=True, max_length=64)
    step: str = Field(index=True, max_length=64)
    title: str = Field(max_length=200)
    regulation: str = Field(default="", max_length=200)
    candidate_role: str = Field(max_length=64)
    org_unit_id: int = Field(foreign_key="org_unit.id", index=True)
    org_path: str = Field(default="/", max_length=400)
    assignee: str | None = Field(default=None, max_length=64)
    status: str = Field(default="open", max_length=16)
    overdue: bool = Field(default=False, index=True)
    # Highest rung of the escalation ladder reached (0 = not escalated).
    escalation_level: int = Field(default=0)
    # Sequence of the last projection write the workflow made for this task: a write
    # carrying an older sequence (a late retry, an escalation racing a completion) is
    # ignored, so the row never goes backwards.
    seq: int = Field(default=0)
    round: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime | None = Field(default=None)
    remind_at: datetime | None = None
    outcomes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    form_schema: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    context: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    outcome: str | None = Field(default=None, max_length=64)
    result: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    comment: str | None = Field(default=None, sa_column=Column(Text))
    completed_by: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """Who did what, when, with the state before and after (an append-only trail)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(index=True, max_length=64)
    action: str = Field(index=True, max_length=64)
    entity_type: str = Field(max_length=32)
    entity_id: str = Field(index=True, max_length=200)
    case_id: str | None = Field(default=None, index=True, max_length=120)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    request_id: str | None = Field(default=None, max_length=64)
    # Idempotency for audit rows written by retried activities.
    dedupe_key: str | None = Field(default=None, unique=True, max_length=250)


class Notice(SQLModel, table=True):
    """Notification outbox: one row per notice event (the key is unique), delivered at
    least once (activities/notifications.py, activities/notice_outbox.py)."""

    __tablename__ = "notice"
    __table_args__ = (
        UniqueConstraint("key", name="uq_notice_key"),
        # The dispatcher's scan: pending rows it owns, by when they are due.
        Index("ix_notice_dispatch_due", "status", "dispatch", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=250)  # idempotency key from the workflow
    case_id: str | None = Field(default=None, index=True, max_length=120)
    task_id: str | None = Field(default=None, max_length=200)
    kind: str = Field(
        max_length=40
    )  # e.g. correction_request, overdue, reminder, summary
    recipient_type: str = Field(max_length=16)  # veteran | staff
    recipient: str = Field(max_length=200)  # username or veteran id
    address: str = Field(default="", max_length=200)  # email / phone used
    channel: str = Field(default="log", max_length=16)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", index=True, max_length=16)
    attempts: int = Field(default=0)
    error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # Who delivers it: None, the case's own DeliverNoticeWorkflow (engines before the
    # outbox); "outbox", the worker's dispatcher; "workflow", handed from the
    # dispatcher to a DeliverNoticeWorkflow for its notice_failed work item.
    dispatch: str | None = Field(default=None, max_length=16)
    next_attempt_at: datetime | None = None  # the dispatcher's next try
    claimed_until: datetime | None = None  # a dispatcher's lease on the row
    max_attempts: int | None = None  # then a notice_failed work item
    max_interval_seconds: float | None = None  # backoff cap between attempts
    # The notice_failed item's deadline policy (TaskPolicy JSON) for the handover.
    failed_policy: str | None = Field(default=None, sa_column=Column(Text))


class Incident(SQLModel, table=True):
    """A permanent failure of an activity that needs a person (like an Operate incident):
    the case waits at ``step`` until a manager or admin fixes the cause and retries."""

    __tablename__ = "incident"

    id: str = Field(primary_key=True, max_length=200)
    case_id: str = Field(index=True, max_length=120)
    workflow_id: str = Field(max_length=120)
    process: str = Field(default="", max_length=64)
    step: str = Field(default="", max_length=64)
    activity: str = Field(max_length=100)
    error_type: str = Field(max_length=100)
    message: str = Field(sa_column=Column(Text, nullable=False))
    org_unit_id: int | None = Field(default=None, index=True)
    org_path: str = Field(default="/", index=True, max_length=400)
    status: str = Field(default="open", index=True, max_length=16)  # open | resolved
    opened_at: datetime = Field(default_factory=utcnow)
    retried_by: str | None = Field(default=None, max_length=64)
    resolved_at: datetime | None = None


class HistoryArchive(SQLModel, table=True):
    """A closed case's full Temporal history, kept after Temporal's retention ends."""

    __tablename__ = "history_archive"

    workflow_id: str = Field(primary_key=True, max_length=120)
    run_id: str = Field(max_length=64)
    case_id: str = Field(index=True, max_length=120)
    archived_at: datetime = Field(default_factory=utcnow)
    event_count: int
    sha256: str = Field(max_length=64)
    history_json: str = Field(sa_column=Column(Text, nullable=False))


class SavedFilter(SQLModel, table=True):
    """An inbox filter a clerk saved: private, or shared with their org unit."""

    __tablename__ = "saved_filter"

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(index=True, max_length=64)
    name: str = Field(max_length=100)
    query: str = Field(max_length=2000)  # the inbox query string
    shared_org_unit_id: int | None = Field(
        default=None, foreign_key="org_unit.id", index=True
    )
    created_at: datetime = Field(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """A login: a page session (cookie) or an API token. Every request reads its row
    by primary key, so a revoked or expired session is refused at once."""

    __tablename__ = "auth_session"

    id: str = Field(primary_key=True, max_length=64)  # random, carried by the token
    username: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=8)  # page | api
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class LoginThrottle(SQLModel, table=True):
    """Failed logins counted per account ("user:<name>") and per client address
    ("addr:<ip>"), shared by every API process through the database."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=120)
    failures: int = Field(default=0)  # within the window that began at window_start
    window_start: datetime = Field(default_factory=utcnow)
    last_failure_at: datetime | None = None
    lock_count: int = Field(default=0)  # locks so far: each one lasts twice as long
    locked_until: datetime | None = None


class Campaign(SQLModel, table=True):
    """A campaign that opens one case per veteran of a category (the annual
    registration review of 001 第九条): projection of its Temporal workflow."""

    __tablename__ = "campaign"

    id: str = Field(primary_key=True, max_length=120)  # = workflow id
    process: str = Field(index=True, max_length=64)  # the process of its cases
    year: int = Field(index=True)
    status: str = Field(default="open", max_length=16)  # open | closed
    opened_by: str = Field(default="system", max_length=64)
    opened_at: datetime = Field(default_factory=utcnow)
    window_end: datetime
    cases_opened: int = Field(default=0)
    last_veteran_id: int = Field(default=0)  # the fan-out's cursor


class AnnualReviewLedger(SQLModel, table=True):
    """台账 of the annual registration review (001 第八条, 第九条): one line per
    veteran and year, written when the review passes or non-submission is recorded."""

    __tablename__ = "annual_review_ledger"
    __table_args__ = (UniqueConstraint("veteran_id", "year", name="uq_review_year"),)

    id: int | None = Field(default=None, primary_key=True)
    veteran_id: int = Field(foreign_key="veteran.id", index=True)
    year: int = Field(index=True)
    result: str = Field(max_length=32)  # passed | non_submission
    case_id: str = Field(max_length=120)
    rounds: int = Field(default=1)
    recorded_by: str = Field(default="", max_length=64)
    recorded_at: datetime = Field(default_factory=utcnow)


# --- the startup loan (003 §6.3.2.6–6.3.2.8) ----------------------------------------


class LoanPolicyVersion(SQLModel, table=True):
    """One version of a locality's startup-loan policy (``models.loan_policy``):
    admins add versions, never edit one; a case keeps the version effective on its
    application date."""

    __tablename__ = "loan_policy_version"

    version: str = Field(primary_key=True, max_length=60)
    locality: str = Field(default="*", index=True, max_length=200)
    effective_from: date = Field(index=True)
    source: str = Field(sa_column=Column(Text, nullable=False))
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    created_by: str = Field(default="system", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Bank(SQLModel, table=True):
    """A lending bank (承办银行). ``integrated``: it receives applications by signed
    webhook and answers by signed callback; otherwise a clerk records its decision."""

    __tablename__ = "bank"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    integrated: bool = Field(default=False)
    # Where applications are pushed; empty: the push is only logged (demo, a bank
    # that collects applications itself).
    webhook_url: str = Field(default="", max_length=500)
    active: bool = Field(default=True)


class BankApplication(SQLModel, table=True):
    """An application pushed to a bank: the bank's callbacks name it by ``ref``."""

    __tablename__ = "bank_application"

    ref: str = Field(primary_key=True, max_length=200)  # application_ref
    case_id: str = Field(index=True, max_length=120)
    workflow_id: str = Field(max_length=120)
    bank: str = Field(index=True, max_length=40)
    pushed_at: datetime = Field(default_factory=utcnow)
    delivered: bool = Field(default=False)


class BankCallback(SQLModel, table=True):
    """Each bank callback accepted once, by the bank's own reference: a replay of the
    same body gets the first answer again, another body under it is refused."""

    __tablename__ = "bank_callback"
    __table_args__ = (UniqueConstraint("bank", "reference", name="uq_bank_reference"),)

    id: int | None = Field(default=None, primary_key=True)
    bank: str = Field(max_length=40)
    reference: str = Field(max_length=80)
    body_sha256: str = Field(max_length=64)
    application_ref: str = Field(index=True, max_length=200)
    kind: str = Field(max_length=32)
    case_id: str = Field(default="", max_length=120)
    status_code: int = Field(default=200)
    answer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    received_at: datetime = Field(default_factory=utcnow)


class Loan(SQLModel, table=True):
    """A startup-loan case's loan (projection of its workflow): the terms, the
    follow-up schedule, how it ended, the subsidy and reward paid. Amounts are decimal
    strings in 元 (never floats)."""

    __tablename__ = "loan"

    case_id: str = Field(primary_key=True, max_length=120)
    veteran_id: int = Field(index=True)
    status: str = Field(default="", max_length=32)
    policy_version: str = Field(default="", max_length=60)
    loan_type: str = Field(default="", max_length=32)
    bank: str = Field(default="", max_length=40)
    application_ref: str = Field(default="", max_length=200)
    terms: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    followups_at: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    maturity_at: datetime | None = None
    ended_kind: str = Field(default="", max_length=32)
    ended_on: date | None = None
    subsidy_total: str | None = Field(default=None, max_length=20)
    reward_total: str | None = Field(default=None, max_length=20)
    paid_reference: str = Field(default="", max_length=100)
    updated_at: datetime = Field(default_factory=utcnow)


class LoanSubsidyLine(SQLModel, table=True):
    """One period of a case's computed subsidy plan (003 §6.3.2.7 贴息方案), per
    review round: what an auditor recomputes to the fen."""

    __tablename__ = "loan_subsidy_line"
    __table_args__ = (
        UniqueConstraint("case_id", "round", "period", name="uq_subsidy_line"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=120)
    round: int = Field(default=1)
    period: int
    start: date
    end: date
    days_in_period: int
    days_in_window: int
    interest_paid: str = Field(max_length=20)
    outstanding_principal: str = Field(max_length=20)
    subsidy: str = Field(max_length=20)
    rule: str = Field(max_length=16)
    policy_version: str = Field(max_length=60)
    computed_at: datetime = Field(default_factory=utcnow)


# --- a retired cadre's death and aftercare (004 §6.10; 军人抚恤优待条例 第十五–十八条) ---


class AftercareFigure(SQLModel, table=True):
    """One reference figure of the aftercare benefits (``models.aftercare_benefit``
    kinds): the national income of a year (``year``), or the 少尉 base pay, 丧葬费 or
    遗属生活补助 effective from a date (``effective_from``). Admins add rows with their
    source; a row is never edited. ``period`` is the year or the ISO date: the key a
    figure is unique by (a NULL year or date would make a plain unique key on those
    columns never fire)."""

    __tablename__ = "aftercare_figure"
    __table_args__ = (
        UniqueConstraint("kind", "period", name="uq_aftercare_figure_period"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True, max_length=32)
    year: int | None = None
    effective_from: date | None = None
    period: str = Field(max_length=10)
    value: str = Field(max_length=20)  # 元, two places
    source: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str = Field(default="system", max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Aftercare(SQLModel, table=True):
    """A retiree_aftercare case's projection: the death, the overpayment and how it
    was settled, the benefits planned (the quote with every component, amounts as
    decimal strings in 元) and paid."""

    __tablename__ = "aftercare"

    case_id: str = Field(primary_key=True, max_length=120)
    veteran_id: int = Field(index=True)
    stage: str = Field(default="", max_length=32)
    died_on: date
    cause: str = Field(max_length=16)
    overpayment: str | None = Field(default=None, max_length=20)
    recovery: str = Field(default="", max_length=16)  # recovered | offset | waived
    quote_round: int | None = None
    quote: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    benefit_total: str | None = Field(default=None, max_length=20)
    paid_reference: str = Field(default="", max_length=100)
    updated_at: datetime = Field(default_factory=utcnow)


class AftercareSurvivor(SQLModel, table=True):
    """One 遗属 of an aftercare case (第十八条), numbered ``n`` as the case lists them,
    and their living allowance (遗属生活补助) when eligible. The ID number is stored in
    full and masked on read unless the reader's role unmasks (audited)."""

    __tablename__ = "aftercare_survivor"
    __table_args__ = (UniqueConstraint("case_id", "n", name="uq_aftercare_survivor"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=120)
    n: int
    name: str = Field(max_length=50)
    id_number: str = Field(max_length=18)
    relation: str = Field(max_length=16)
    born_on: date
    allowance_eligible: bool = Field(default=False)
    monthly: str | None = Field(default=None, max_length=20)
    allowance_starts_on: date | None = None
    allowance_status: str = Field(default="none", max_length=16)  # none|active|stopped
    next_confirmation_at: datetime | None = None
    stopped_reason: str = Field(default="", max_length=2000)
    years_confirmed: int = Field(default=0)
    updated_at: datetime = Field(default_factory=utcnow)


class RatingLink(SQLModel, table=True):
    """A rating link offered to the person served (003 §9.1.3): one per closed case and
    per completed step the veteran took part in. Its id is the link's business key
    (``<case>:case`` or the task id), so the activity that issues it is idempotent; the
    signed token names only the id and the expiry. Single use: ``used_at`` is set by the
    one rating accepted."""

    __tablename__ = "rating_link"

    id: str = Field(primary_key=True, max_length=160)
    case_id: str = Field(index=True, max_length=120)
    task_id: str | None = Field(default=None, max_length=160)
    step: str = Field(default="", max_length=64)  # "" for the case as a whole
    step_title: str = Field(default="", max_length=200)
    process: str = Field(default="", max_length=64)
    # Who and what is rated: the unit and clerk that served (谁办理、谁负责).
    org_unit_id: int = Field(index=True)
    org_path: str = Field(default="/", max_length=400)
    clerk: str = Field(default="", max_length=64)
    veteran_id: int
    issued_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class Rating(SQLModel, table=True):
    """One rating (好差评) by the person served, per unit, step and clerk. The rater is
    not stored here beyond the link: reports count grades, never name raters, and the
    rated clerk reads none of it. ``counted`` is False once an appeal upheld it as 误评
    or 恶意差评 (003 §9.2.1)."""

    __tablename__ = "rating"

    id: int | None = Field(default=None, primary_key=True)
    link_id: str = Field(unique=True, max_length=160)
    process: str = Field(default="", max_length=64)
    step: str = Field(default="", max_length=64)
    org_unit_id: int = Field(index=True)
    org_path: str = Field(default="/", index=True, max_length=400)
    clerk: str = Field(default="", max_length=64)
    grade: str = Field(max_length=24)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    rated_at: datetime = Field(default_factory=utcnow, index=True)
    complaint_case_id: str | None = Field(default=None, max_length=120)
    counted: bool = Field(default=True)


class Complaint(SQLModel, table=True):
    """A complaint case's projection (written by activities): channel, kind, where it
    stands, how often the rectification was reopened, the 复核 clock's pauses. Nothing
    here names the complainant (see ComplaintParty)."""

    __tablename__ = "complaint"

    case_id: str = Field(primary_key=True, max_length=120)
    channel: str = Field(max_length=16)
    kind: str | None = Field(default=None, max_length=16)
    category: str = Field(default="other", max_length=16)
    org_unit_id: int = Field(index=True)
    org_path: str = Field(default="/", index=True, max_length=400)
    received_on: date
    stage: str = Field(default="", max_length=32)
    grade: str | None = Field(default=None, max_length=24)
    rating_id: int | None = Field(default=None)
    reopens: int = Field(default=0)
    extended_days: int = Field(default=0)
    paused_seconds: int = Field(default=0)
    # 复核 done: the same matter from the same petitioner is not accepted again.
    final: bool = Field(default=False)
    matter_key: str = Field(default="", index=True, max_length=64)
    related_case_id: str | None = Field(default=None, max_length=120)
    ledger: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    opened_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class ComplaintParty(SQLModel, table=True):
    """Who complained (信访人/投诉人/评价人) and whom a report names: confidential.
    Written once by the API when the case is registered (a rating: from the rated
    case's veteran); read in full only by roles that need it, never by the rated clerk
    or a reported person, each full read audited (信访工作条例 第三十条)."""

    __tablename__ = "complaint_party"

    case_id: str = Field(primary_key=True, max_length=120)
    name: str = Field(default="", max_length=50)
    phone: str = Field(default="", max_length=30)
    id_number: str = Field(default="", max_length=18)
    veteran_id: int | None = Field(default=None)
    representatives: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON)
    )
    reported_person: str = Field(default="", max_length=64)
    rated_case_id: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


class CaseExclusion(SQLModel, table=True):
    """Who may not see a case although it lies in their subtree: an account (the rated
    clerk kept from the rater, a reported person) or a unit and everything under it
    (the reported unit: 信访工作条例 第三十条). Every case and task read filters by it."""

    __tablename__ = "case_exclusion"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(index=True, max_length=120)
    username: str | None = Field(default=None, index=True, max_length=64)
    org_path: str | None = Field(default=None, max_length=400)
    reason: str = Field(default="", max_length=32)  # rated_clerk | reported
