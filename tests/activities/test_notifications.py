"""The notification outbox delivers each notice once — through the log, a real local
SMTP server (aiosmtpd) and a real local HTTP gateway — also when retried or raced."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import httpx
import pytest
import structlog
from aiosmtpd.controller import Controller
from jinja2 import UndefinedError
from sqlalchemy import event, insert
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notifications import (
    NotificationActivities,
    render_notice,
    resolve_address,
)
from activities.notify_adapters import (
    LogAdapter,
    SmtpAdapter,
    WebhookAdapter,
    make_adapter,
)
from models.contracts import NoticeInput
from models.settings import Settings
from models.tables import Notice

MATERIALS = [
    "党组织关系介绍信",
    "户口簿",
    "退出现役证件",
    "退役证(复印件不清晰，需原件)",
]
SUBJECT = "【退役军人服务】请补充材料(一次性告知)"


def correction(key: str, veteran_id: int) -> NoticeInput:
    """The one-time notification of everything missing (003 §7.6)."""
    return NoticeInput(
        key=key,
        case_id="case-1",
        task_id="case-1:archive_review:1",
        kind="correction_request",
        recipient_type="veteran",
        recipient=str(veteran_id),
        template="correction_request",
        context={
            "veteran_name": "张伟",
            "case_id": "case-1",
            "step_title": "档案审核",
            "materials": MATERIALS,
            "station_name": "东关村退役军人服务站",
            "contact": "李娜",
        },
    )


def rows(engine) -> list[Notice]:
    with Session(engine) as s:
        return list(s.exec(select(Notice)).all())


@dataclass
class Counting(LogAdapter):
    """The log adapter, remembering what it delivered."""

    sent: list[str] = field(default_factory=list)

    def deliver(self, notice: Notice) -> None:
        super().deliver(notice)
        self.sent.append(notice.key)


# --- log adapter and the outbox itself -----------------------------------------


def test_log_adapter_delivers_once_per_key(engine, people):
    adapter = Counting()
    acts = NotificationActivities(engine, adapter)
    env = ActivityEnvironment()
    with structlog.testing.capture_logs() as logs:
        first = env.run(acts.send_notice, correction("k1", people.with_email))
        again = env.run(acts.send_notice, correction("k1", people.with_email))
    assert first.status == "sent" and not first.duplicate and first.channel == "log"
    assert again.status == "sent" and again.duplicate
    assert adapter.sent == ["k1"]
    delivered = [e for e in logs if e["event"] == "notice_delivered"]
    assert [(e["key"], e["kind"], e["recipient"]) for e in delivered] == [
        ("k1", "correction_request", str(people.with_email))
    ]
    (row,) = rows(engine)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    assert row.address == "13800000001" and row.subject == SUBJECT
    assert all(m in row.body for m in MATERIALS)


def test_log_lines_carry_the_workflow_activity_case_and_task(engine, people):
    env = ActivityEnvironment()
    env.info = dataclasses.replace(
        env.info, workflow_id="return-home-case-1", activity_type="send_notice"
    )
    acts = NotificationActivities(engine, LogAdapter())
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        env.run(acts.send_notice, correction("k-log", people.with_email))
    (sent,) = [e for e in logs if e["event"] == "notice_sent"]
    assert sent["workflow_id"] == "return-home-case-1"
    assert sent["activity"] == "send_notice" and sent["attempt"] == 1
    assert sent["case_id"] == "case-1" and sent["task_id"] == "case-1:archive_review:1"
    assert sent["key"] == "k-log"
    # The binding ends with the activity: nothing leaks into the next log line.
    assert "workflow_id" not in structlog.contextvars.get_contextvars()


def test_address_follows_the_channel(engine, people):
    def staff(username: str) -> NoticeInput:
        return NoticeInput(
            key="x",
            kind="reminder",
            recipient_type="staff",
            recipient=username,
            template="reminder",
        )

    vet = correction("x", people.with_email)
    vet_no_mail = correction("x", people.without_email)
    with Session(engine) as s:
        assert resolve_address(s, staff("clerk"), "smtp") == "clerk@station.example"
        assert resolve_address(s, staff("clerk"), "webhook") == "13900000001"
        assert resolve_address(s, staff("clerk"), "log") == "13900000001"
        # Without a phone the log still names the person; mail and SMS have nowhere to go.
        assert resolve_address(s, staff("bare"), "log") == "bare"
        assert resolve_address(s, staff("bare"), "smtp") == ""
        assert resolve_address(s, staff("bare"), "webhook") == ""
        assert resolve_address(s, staff("nobody"), "webhook") == ""
        assert resolve_address(s, vet, "smtp") == "zhangwei@example.cn"
        assert resolve_address(s, vet, "webhook") == "13800000001"
        assert resolve_address(s, vet_no_mail, "smtp") == ""
        assert resolve_address(s, vet_no_mail, "webhook") == "13800000002"


def test_a_concurrent_attempt_that_queued_and_sent_the_key_wins(engine, people):
    """Two attempts race: the other one inserts (and sends) the row between our
    look-up and our insert. The unique key turns ours into a re-read, not a resend."""
    adapter = Counting()
    acts = NotificationActivities(engine, adapter)
    raced: list[str] = []

    def other_attempt(
        _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any
    ) -> None:
        if raced or not statement.startswith("INSERT INTO notice"):
            return
        raced.append("race-1")
        with engine.begin() as conn:
            conn.execute(
                insert(Notice).values(
                    key="race-1",
                    case_id="case-1",
                    kind="correction_request",
                    recipient_type="veteran",
                    recipient=str(people.with_email),
                    subject="s",
                    body="b",
                    channel="log",
                    status="sent",
                    attempts=1,
                    address="",
                )
            )

    event.listen(engine, "before_cursor_execute", other_attempt)
    try:
        result = ActivityEnvironment().run(
            acts.send_notice, correction("race-1", people.with_email)
        )
    finally:
        event.remove(engine, "before_cursor_execute", other_attempt)
    assert raced == ["race-1"]
    assert result.duplicate and result.status == "sent"
    assert adapter.sent == []
    (row,) = rows(engine)
    assert row.attempts == 1


def test_every_template_renders_its_documented_context():
    due = "2026-11-23T01:30:00+00:00"  # 09:30 in Beijing
    task = {"title": "档案审核", "case_id": "case-1", "due_at": due}
    contexts: dict[str, dict[str, Any]] = {
        "correction_request": correction("x", 1).context,
        "task_assigned": task,
        "reminder": task,
        "overdue": {**task, "assignee": "李娜"},
        "backup_routed": {**task, "absent_user": "王强"},
        "case_summary": {
            "veteran_name": "张伟",
            "case_id": "case-1",
            "process_title": "退役军人返乡报到",
            "steps": [
                {"title": "档案审核", "outcome": "已办结"},
                {"title": "报到登记", "outcome": "已办结"},
            ],
        },
        "review_returned": {
            "title": "乡镇站审核",
            "case_id": "case-1",
            "reasons": ["照片不清晰", "缺少户籍证明"],
        },
    }
    rendered = {name: render_notice(name, ctx) for name, ctx in contexts.items()}
    for name, (subject, body) in rendered.items():
        assert subject and "\n" not in subject and body, name
        assert "{{" not in body and "{%" not in body, name
    for name in ("task_assigned", "reminder", "overdue", "backup_routed"):
        assert "2026-11-23 09:30" in rendered[name][1], name
    assert "1. 照片不清晰\n2. 缺少户籍证明" in rendered["review_returned"][1]
    assert "档案审核：已办结" in rendered["case_summary"][1]
    # Version 2 tells each step truthfully: its label, a reason, how often returned.
    _, summary = render_notice(
        "case_summary",
        {
            **contexts["case_summary"],
            "steps": [
                {"title": "档案审核", "label": "已办结", "reason": "", "returns": 1},
                {
                    "title": "住房公积金转接",
                    "label": "不适用",
                    "reason": "本人选择一次性领取",
                    "returns": 0,
                },
            ],
        },
    )
    assert "- 档案审核：已办结，其间退回补正或重报 1 次" in summary
    assert "- 住房公积金转接：不适用(本人选择一次性领取)\n" in summary
    backup = rendered["backup_routed"][1]
    assert "DB3702/T 41—2024 第7.7条" in backup and "王强" in backup
    # StrictUndefined: a workflow that forgets a field fails loudly, not with a blank.
    with pytest.raises(UndefinedError):
        render_notice("overdue", task)


def test_a_template_error_queues_nothing(engine, people):
    bad = correction("bad-1", people.with_email)
    del bad.context["materials"]
    with pytest.raises(ApplicationError) as raised:
        ActivityEnvironment().run(
            NotificationActivities(engine, LogAdapter()).send_notice, bad
        )
    # A broken template is permanent: not retried, and nothing is queued.
    assert raised.value.type == "NoticeTemplateError" and raised.value.non_retryable
    assert isinstance(raised.value.__cause__, UndefinedError)
    assert rows(engine) == []


def test_make_adapter_follows_settings():
    assert make_adapter(Settings()).channel == "log"
    smtp = make_adapter(Settings(notify_adapter="smtp", smtp_port=2525))
    assert isinstance(smtp, SmtpAdapter) and smtp.port == 2525
    hook = make_adapter(
        Settings(notify_adapter="webhook", webhook_url="http://x", webhook_secret="s")
    )
    assert isinstance(hook, WebhookAdapter) and hook.url == "http://x"
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        make_adapter(Settings(notify_adapter="webhook", webhook_url="http://x"))


# --- SMTP against a real local server ------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, received
    controller.stop()


def test_smtp_adapter_against_a_local_server(engine, people, smtp_server):
    port, received = smtp_server
    acts = NotificationActivities(
        engine, SmtpAdapter("127.0.0.1", port, "vetflow@station.example")
    )
    env = ActivityEnvironment()
    result = env.run(acts.send_notice, correction("mail-1", people.with_email))
    assert result.status == "sent" and result.channel == "smtp"
    assert env.run(acts.send_notice, correction("mail-1", people.with_email)).duplicate
    assert len(received) == 1
    msg = email.message_from_bytes(received[0], policy=email.policy.default)
    assert msg["Subject"] == SUBJECT  # RFC 2047-encoded on the wire, decoded here
    assert msg["To"] == "zhangwei@example.cn"
    assert msg["From"] == "vetflow@station.example"
    assert msg["Message-ID"].startswith(
        "<" + hashlib.sha256(b"mail-1").hexdigest()[:32]
    )
    body = msg.get_content()
    for i, m in enumerate(MATERIALS, 1):
        assert f"{i}. {m}" in body
    (row,) = rows(engine)
    assert row.status == "sent" and row.address == "zhangwei@example.cn"


def test_smtp_fails_a_veteran_without_email_for_good(engine, people, smtp_server):
    """No address is not worth retrying: the row is failed with a non-retryable error
    (the delivering workflow then opens a notice_failed task), and a retry of the same
    key sends nothing."""
    port, received = smtp_server
    acts = NotificationActivities(engine, SmtpAdapter("127.0.0.1", port, "v@x.cn"))
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError) as raised:
        env.run(acts.send_notice, correction("mail-2", people.without_email))
    assert raised.value.type == "NoAddress" and raised.value.non_retryable
    again = env.run(acts.send_notice, correction("mail-2", people.without_email))
    assert again.status == "failed" and again.duplicate
    assert received == []
    (row,) = rows(engine)
    assert row.status == "failed" and row.attempts == 1
    assert "no e-mail address" in (row.error or "")


def test_an_unreachable_smtp_server_leaves_the_notice_pending(engine, people):
    acts = NotificationActivities(
        engine, SmtpAdapter("127.0.0.1", free_port(), "v@x.cn")
    )
    with pytest.raises(ConnectionRefusedError):
        ActivityEnvironment().run(
            acts.send_notice, correction("mail-3", people.with_email)
        )
    (row,) = rows(engine)
    assert row.status == "pending" and row.attempts == 1
    assert (row.error or "").startswith("ConnectionRefusedError")


# --- SMS webhook against a real local HTTP server --------------------------------


class Gateway(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    requests: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.requests.append((body, dict(self.headers)))
        self.send_response(Gateway.answers.pop(0) if Gateway.answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.answers, Gateway.requests = [], []
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms"
    server.shutdown()
    server.server_close()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What the gateway does: recompute the HMAC over the exact bytes received."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header, expected)


def test_webhook_is_signed_and_a_failure_is_retried_without_a_duplicate(
    engine, people, gateway
):
    secret = "gateway-shared-secret"
    acts = NotificationActivities(engine, WebhookAdapter(gateway, secret))
    env = ActivityEnvironment()
    Gateway.answers = [500]
    with pytest.raises(httpx.HTTPStatusError, match="500"):
        env.run(acts.send_notice, correction("sms-1", people.with_email))
    (row,) = rows(engine)
    assert row.status == "pending" and row.attempts == 1 and row.sent_at is None
    assert "500" in (row.error or "")
    # Temporal retries the activity: this time the gateway accepts it.
    result = env.run(acts.send_notice, correction("sms-1", people.with_email))
    assert result.status == "sent" and not result.duplicate
    (row,) = rows(engine)
    assert row.status == "sent" and row.attempts == 2 and row.error is None
    assert len(Gateway.requests) == 2
    body, headers = Gateway.requests[-1]
    assert verify(secret, body, headers["X-Vetflow-Signature"])
    assert not verify("another-secret", body, headers["X-Vetflow-Signature"])
    assert headers["X-Vetflow-Key"] == "sms-1"
    payload = json.loads(body.decode("utf-8"))
    assert set(payload) == {"key", "to", "kind", "subject", "text", "case_id"}
    assert payload["key"] == "sms-1" and payload["to"] == "13800000001"
    assert payload["kind"] == "correction_request" and payload["case_id"] == "case-1"
    assert payload["subject"] == SUBJECT
    assert all(m in payload["text"] for m in MATERIALS)
    # Both attempts carried the same notice, so the gateway could dedupe on the key.
    assert Gateway.requests[0][0] == body
    # Once sent, a replayed activity sends nothing more.
    assert env.run(acts.send_notice, correction("sms-1", people.with_email)).duplicate
    assert len(Gateway.requests) == 2


def test_webhook_to_staff_goes_to_their_phone(engine, people, gateway):
    acts = NotificationActivities(engine, WebhookAdapter(gateway, "s"))
    notice = NoticeInput(
        key="case-1:t1:overdue:clerk",
        case_id="case-1",
        task_id="t1",
        kind="overdue",
        recipient_type="staff",
        recipient="clerk",
        template="overdue",
        context={
            "title": "档案审核",
            "case_id": "case-1",
            "assignee": "王强",
            "due_at": "2026-11-23T01:30:00+00:00",
        },
    )
    assert ActivityEnvironment().run(acts.send_notice, notice).status == "sent"
    (body, _headers) = Gateway.requests[0]
    payload = json.loads(body)
    assert payload["to"] == "13900000001" and "2026-11-23 09:30" in payload["text"]
