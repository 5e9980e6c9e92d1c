"""The notification outbox: every notice event is written once, keyed by the workflow,
and delivered once — a retried or replayed activity finds the row already sent."""

from __future__ import annotations

from pathlib import Path

import structlog
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio import activity

from activities.notify_adapters import NotifyAdapter
from models.contracts import NoticeInput, NoticeResult
from models.tables import Account, Notice, Veteran, utcnow

log = structlog.get_logger(__name__)

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates" / "notices"),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text notices (mail and SMS), never rendered as HTML  # noqa: S701
    keep_trailing_newline=False,
)


def render_notice(template: str, context: dict[str, object]) -> tuple[str, str]:
    """(subject, body): the template's first line is the subject."""
    text = _templates.get_template(f"{template}.txt").render(**context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


def _address(session: Session, inp: NoticeInput, channel: str) -> str:
    if inp.recipient_type == "staff":
        acc = session.exec(
            select(Account).where(Account.username == inp.recipient)
        ).first()
        if acc is None:
            return inp.recipient
        if channel == "smtp":
            return acc.email or ""
        return acc.phone or acc.email or acc.username
    vet = session.get(Veteran, int(inp.recipient)) if inp.recipient.isdigit() else None
    if vet is None:
        return ""
    return (vet.email or "") if channel == "smtp" else vet.phone


class NotificationActivities:
    def __init__(self, engine: Engine, adapter: NotifyAdapter) -> None:
        self.engine = engine
        self.adapter = adapter

    @activity.defn
    def send_notice(self, inp: NoticeInput) -> NoticeResult:
        """Queue the notice in the outbox (once per key) and deliver it (once)."""
        notice = self._queued(inp)
        if notice.status == "sent":
            return NoticeResult(
                key=inp.key, status="sent", channel=notice.channel, duplicate=True
            )
        try:
            self.adapter.deliver(notice)
        except Exception as exc:
            self._mark(notice.key, error=str(exc))
            log.warning(
                "notice_failed", key=inp.key, error=str(exc), case_id=inp.case_id
            )
            raise
        self._mark(notice.key, error=None)
        log.info(
            "notice_sent",
            key=inp.key,
            kind=inp.kind,
            channel=self.adapter.channel,
            case_id=inp.case_id,
            task_id=inp.task_id,
        )
        return NoticeResult(key=inp.key, status="sent", channel=self.adapter.channel)

    def _queued(self, inp: NoticeInput) -> Notice:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.exec(select(Notice).where(Notice.key == inp.key)).first()
            if found is not None:
                return found
            subject, body = render_notice(inp.template, inp.context)
            row = Notice(
                key=inp.key,
                case_id=inp.case_id,
                task_id=inp.task_id,
                kind=inp.kind,
                recipient_type=inp.recipient_type,
                recipient=inp.recipient,
                address=_address(session, inp, self.adapter.channel),
                channel=self.adapter.channel,
                subject=subject,
                body=body,
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # a concurrent attempt queued it first
                session.rollback()
                return session.exec(select(Notice).where(Notice.key == inp.key)).one()
            return row

    def _mark(self, key: str, *, error: str | None) -> None:
        with Session(self.engine) as session:
            row = session.exec(select(Notice).where(Notice.key == key)).one()
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.error = "sent", utcnow(), None
            else:
                row.error = error
            session.add(row)
            session.commit()
