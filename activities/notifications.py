"""The notification outbox: every notice event is written once, keyed by the workflow.

Delivery is at-least-once with a dedup key: a retried activity finds a row already
``sent`` and does not deliver again, but a worker that dies after the adapter delivered
and before the row was marked ``sent`` delivers it again on the retry — the channel
carries the key (`X-Vetflow-Key`, the SMTP Message-ID) so the receiver drops the repeat.

Rows go pending → sent; pending → failed when the notice is refused for good (no
address on the channel, a gateway 4xx, a rejected recipient) or its retries are used
up — the delivering workflow then opens a ``notice_failed`` task — and failed →
resolved (sent to a corrected address, or the person informed another way).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from sqlalchemy import Select, bindparam, insert
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.notify_adapters import NoAddress, NoticeRejected, NotifyAdapter
from models.audit import add_audit_event
from models.contracts import (
    DeliverNoticeInput,
    NoticeFailedInput,
    NoticeInput,
    NoticeResolution,
    NoticeResult,
)
from models.db import (
    after_commit,
    core_connection,
    in_write_batch,
    read_once,
    session_scope,
)
from models.tables import Account, Case, Notice, OrgUnit, Veteran, utcnow

log = structlog.get_logger(__name__)

# China Standard Time has no daylight saving: a fixed offset needs no tz database.
CHINA_TIME = timezone(timedelta(hours=8), "CST")


def format_when(value: object) -> str:
    """A deadline as clerks and veterans read it: `2026-11-23 09:30` in Beijing time.

    Workflows pass ISO strings (UTC); naive datetimes are taken as UTC; anything that
    is not a date is shown as given, an empty value as 未设定.
    """
    if value in (None, ""):
        return "未设定"
    when: datetime
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "notices"),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text notices (mail and SMS), never rendered as HTML  # noqa: S701
    keep_trailing_newline=False,
    # The templates ship with the code: no stat of the file at every notice.
    auto_reload=False,
)
_templates.filters["when"] = format_when


def render_notice(template: str, context: dict[str, object]) -> tuple[str, str]:
    """(subject, body) of `notices/<template>.txt`: the first line is the subject."""
    text = _templates.get_template(f"{template}.txt").render(**context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


_ACCOUNTS = Account.__table__  # type: ignore[attr-defined]
_CASES = Case.__table__  # type: ignore[attr-defined]
_NOTICES = Notice.__table__  # type: ignore[attr-defined]
_UNITS = OrgUnit.__table__  # type: ignore[attr-defined]
_VETERANS = Veteran.__table__  # type: ignore[attr-defined]
# Built once; Core on the session's connection: a notice is queued inside another
# write's transaction (a task's opening), on the hot path of a clerk's action.
_ACCOUNT = core_select(
    _ACCOUNTS.c.display_name,
    _ACCOUNTS.c.phone,
    _ACCOUNTS.c.email,
    _ACCOUNTS.c.org_unit_id,
).where(_ACCOUNTS.c.username == bindparam("username"))
_CASE = core_select(_CASES.c.veteran_id, _CASES.c.org_unit_id).where(
    _CASES.c.id == bindparam("case_id")
)
_VETERAN = core_select(
    _VETERANS.c.org_unit_id, _VETERANS.c.phone, _VETERANS.c.email
).where(_VETERANS.c.id == bindparam("veteran_id"))
_UNIT = core_select(_UNITS.c.name, _UNITS.c.address, _UNITS.c.phone).where(
    _UNITS.c.id == bindparam("unit_id")
)
_QUEUED = core_select(_NOTICES.c.id).where(_NOTICES.c.key == bindparam("key"))
_INSERT_NOTICE = insert(_NOTICES)


def _row_once(session: Session, statement: Select[Any], **params: Any) -> Any:
    """The first row of ``statement``, read once per write batch (:func:`read_once`):
    a case's, a veteran's, a unit's or a person's contacts, which several notices
    of one batch name."""
    conn = core_connection(session)
    return read_once(
        session,
        (id(statement), *sorted(params.items())),
        lambda: conn.execute(statement, params).first(),
    )


def _account(session: Session, username: str) -> Any:
    return _row_once(session, _ACCOUNT, username=username)


def _veteran(session: Session, veteran_id: int) -> Any:
    return _row_once(session, _VETERAN, veteran_id=veteran_id)


def resolve_address(session: Session, inp: NoticeInput, channel: str) -> str:
    """Where the notice goes on ``channel``: e-mail for smtp, a mobile number for the
    SMS webhook; the log channel takes whatever identifies the person. Empty when
    the recipient has none (the adapter then refuses it and the notice is skipped)."""
    if inp.recipient_type == "staff":
        acc = _account(session, inp.recipient)
        if channel == "smtp":
            return (acc.email or "") if acc else ""
        if channel == "webhook":
            return (acc.phone or "") if acc else ""
        return str((acc.phone if acc else None) or inp.recipient)
    vet = _veteran(session, int(inp.recipient)) if inp.recipient.isdigit() else None
    if vet is None:
        return ""
    return str((vet.email or "") if channel == "smtp" else vet.phone)


def notice_facts(session: Session, inp: NoticeInput) -> dict[str, object]:
    """What a notice names besides its event: the veteran's own station (name, address,
    office phone — the nearest station above the veteran in the org tree) and, when
    the context names the handling clerk (``handled_by``), their name, office phone
    and office."""
    facts: dict[str, object] = {}
    case = _row_once(session, _CASE, case_id=inp.case_id) if inp.case_id else None
    veteran = _veteran(session, case.veteran_id) if case and case.veteran_id else None
    # A case about an org unit (no veteran): the unit itself.
    home = veteran.org_unit_id if veteran else (case.org_unit_id if case else None)
    unit = _row_once(session, _UNIT, unit_id=home) if home else None
    if unit is not None:
        facts["station"] = {
            "name": unit.name,
            "address": unit.address,
            "phone": unit.phone,
        }
    handler = inp.context.get("handled_by")
    if handler:
        acc = _account(session, handler)
        office = _row_once(session, _UNIT, unit_id=acc.org_unit_id) if acc else None
        # The 联系服务卡 of 003 §7.8.2: the clerk's name, office phone and office.
        facts["clerk"] = {
            "name": acc.display_name if acc else str(handler),
            "phone": (acc.phone or "") if acc else "",
            "unit": office.name if office else "",
            "address": office.address if office else "",
        }
    return facts


class NotificationActivities:
    """The `send_notice` activity, bound to the app database and one delivery adapter."""

    def __init__(self, engine: Engine, adapter: NotifyAdapter) -> None:
        self.engine = engine
        self.adapter = adapter
        # Called (from the activity's thread) after a notice is queued for the
        # outbox dispatcher: the worker's dispatcher wakes at once instead of at its
        # next poll.
        self.on_queued: Callable[[], None] | None = None

    @activity.defn
    def queue_notice(self, inp: DeliverNoticeInput) -> None:
        """Write the notice to the outbox for the worker's dispatcher (engine
        NOTICE_OUTBOX; run as the ``project`` local activity): rendered and addressed
        now, delivered by activities/notice_outbox.py with ``inp``'s bounded attempts,
        then a notice_failed work item. Once per key: a retry finds the row. A broken
        template is queued already failed, so the dispatcher hands it to a person."""
        try:
            with session_scope(self.engine) as session:
                self.queue_in(session, inp)
        except IntegrityError:  # a concurrent attempt queued the same key first
            if in_write_batch(self.engine):
                raise  # the batch's transaction is spoilt: its retry finds the row
        self.wake()

    def queue_in(self, session: Session, inp: DeliverNoticeInput) -> None:
        """Add the outbox row of ``inp`` to ``session`` (the caller commits, then
        calls :meth:`wake`): the ``queue_notice`` write, or part of another write's
        transaction (a task's opening that announces it, engine 0.9). Nothing when
        the key is already queued."""
        outbox = {
            "dispatch": "outbox",
            "next_attempt_at": utcnow(),
            "max_attempts": max(1, inp.attempts),
            "max_interval_seconds": inp.max_interval.total_seconds(),
            "failed_policy": inp.policy.model_dump_json(),
        }
        with structlog.contextvars.bound_contextvars(**_log_context(inp.notice)):
            try:
                self._queued(session, inp.notice, outbox)
            except TemplateError as exc:
                log.error("notice_template_error", error=str(exc))
                self._queued(
                    session,
                    inp.notice,
                    {
                        **outbox,
                        "max_attempts": 0,
                        "error": f"NoticeTemplateError: notice template "
                        f"{inp.notice.template}: {exc}",
                    },
                    render=False,
                )

    def wake(self) -> None:
        """Tell the worker's dispatcher a notice was queued, once it is committed
        (inside a ``write_batch``, after the batch commits)."""
        if self.on_queued is not None:
            after_commit(self.engine, self.on_queued)

    @activity.defn
    def send_notice(self, inp: NoticeInput) -> NoticeResult:
        """Queue the notice in the outbox (once per key) and deliver it.

        A transient failure is recorded on the row and re-raised so that Temporal
        retries (a bounded number of times). A permanent one — no address, a refused
        recipient, a broken template — marks the row failed and raises a
        non-retryable ``ApplicationError`` typed ``NoAddress`` / ``NoticeRejected`` /
        ``NoticeTemplateError``.
        """
        with structlog.contextvars.bound_contextvars(**_log_context(inp)):
            try:
                return self._send(inp)
            except TemplateError as exc:
                log.error("notice_template_error", error=str(exc))
                raise ApplicationError(
                    f"notice template {inp.template}: {exc}",
                    type="NoticeTemplateError",
                    non_retryable=True,
                ) from exc

    @activity.defn
    def mark_notice_failed(self, inp: NoticeFailedInput) -> None:
        """The notice failed for good: the row says so (and why) until a clerk settles it."""
        with session_scope(self.engine) as session:
            row = session.exec(select(Notice).where(Notice.key == inp.key)).first()
            if row is None or row.status in ("sent", "resolved"):
                return
            row.status = "failed"
            row.error = f"{inp.error_type}: {inp.message}"
            if row.dispatch == "outbox":
                # Its DeliverNoticeWorkflow owns it now (a resend is delivered there).
                row.dispatch, row.claimed_until = "workflow", None
            session.add(row)
        log.warning("notice_failed_for_good", key=inp.key, error_type=inp.error_type)

    @activity.defn
    def resolve_failed_notice(self, inp: NoticeResolution) -> None:
        """A clerk settled a failed notice: ``resend`` puts it back to pending with the
        corrected address (the workflow then delivers it), ``informed_otherwise``
        records how the person was told. Both are audited."""
        with session_scope(self.engine) as session:
            row = session.exec(select(Notice).where(Notice.key == inp.key)).first()
            if row is None or row.status not in ("failed", "pending"):
                return
            before = {"status": row.status, "address": row.address}
            if inp.outcome == "resend":
                row.status, row.address = "pending", inp.address
            else:
                row.status = "resolved"
                row.error = (
                    f"{row.error or ''} — 已通过其他方式告知: {inp.note}".strip()
                )
            session.add(row)
            add_audit_event(
                session,
                actor=inp.actor,
                action=f"notice_{inp.outcome}",
                entity_type="notice",
                entity_id=inp.key,
                case_id=row.case_id,
                before=before,
                after={"status": row.status, "address": row.address, "note": inp.note},
            )

    def _send(self, inp: NoticeInput) -> NoticeResult:
        notice = self._stored(inp)
        channel = notice.channel
        if notice.status != "pending":
            log.info("notice_duplicate", status=notice.status)
            return NoticeResult(
                key=inp.key, status=notice.status, channel=channel, duplicate=True
            )
        try:
            self.adapter.deliver(notice)
        except (NoAddress, NoticeRejected) as exc:
            kind = type(exc).__name__
            self._record(inp.key, status="failed", error=f"{kind}: {exc}")
            log.warning("notice_refused", reason=str(exc), kind=kind)
            raise ApplicationError(str(exc), type=kind, non_retryable=True) from exc
        except Exception as exc:
            attempts = self._record(
                inp.key, status="pending", error=f"{type(exc).__name__}: {exc}"
            )
            log.warning("notice_failed", error=str(exc), attempts=attempts)
            raise
        attempts = self._record(inp.key, status="sent", error=None)
        log.info("notice_sent", channel=channel, attempts=attempts)
        return NoticeResult(key=inp.key, status="sent", channel=channel)

    def _stored(self, inp: NoticeInput) -> Notice:
        """The outbox row of ``inp.key``, inserted if new."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                self._queued(session, inp)
                session.commit()
            except IntegrityError:  # a concurrent attempt queued the same key first
                session.rollback()
            return session.exec(select(Notice).where(Notice.key == inp.key)).one()

    def _queued(
        self,
        session: Session,
        inp: NoticeInput,
        extra: dict[str, Any] | None = None,
        *,
        render: bool = True,
    ) -> None:
        """Add the outbox row of ``inp.key`` (rendered, addressed, with the ``extra``
        columns) to ``session``'s transaction, unless it exists."""
        conn = core_connection(session)
        # Read first (not an insert that skips the key): a queued row is never
        # rendered again, since a later attempt's input may not render (a resend).
        if conn.execute(_QUEUED, {"key": inp.key}).first() is not None:
            return
        subject, body = (
            render_notice(inp.template, {**inp.context, **notice_facts(session, inp)})
            if render
            else ("(通知模板错误)", "")
        )
        conn.execute(
            _INSERT_NOTICE,
            {
                "key": inp.key,
                "case_id": inp.case_id,
                "task_id": inp.task_id,
                "kind": inp.kind,
                "recipient_type": inp.recipient_type,
                "recipient": inp.recipient,
                "address": resolve_address(session, inp, self.adapter.channel),
                "channel": self.adapter.channel,
                "subject": subject,
                "body": body,
                "status": "pending",
                "attempts": 0,
                "error": None,
                "created_at": utcnow(),
                "sent_at": None,
                "dispatch": None,
                "next_attempt_at": None,
                "claimed_until": None,
                "max_attempts": None,
                "max_interval_seconds": None,
                "failed_policy": None,
                **(extra or {}),
            },
        )

    def _record(self, key: str, *, status: str, error: str | None) -> int:
        """Count one delivery attempt on the row; returns the attempts so far."""
        with Session(self.engine) as session:
            row = session.exec(select(Notice).where(Notice.key == key)).one()
            row.attempts += 1
            row.status, row.error = status, error
            if status == "sent":
                row.sent_at = utcnow()
            session.add(row)
            session.commit()
            return row.attempts


def _log_context(inp: NoticeInput) -> dict[str, object]:
    """Key, case and task of the notice, plus the workflow and attempt when running
    as a Temporal activity (the function is also called directly in tests)."""
    context: dict[str, object] = {
        "key": inp.key,
        "kind": inp.kind,
        "case_id": inp.case_id,
        "task_id": inp.task_id,
    }
    if activity.in_activity():
        info = activity.info()
        context.update(
            workflow_id=info.workflow_id,
            activity=info.activity_type,
            attempt=info.attempt,
        )
    return context
