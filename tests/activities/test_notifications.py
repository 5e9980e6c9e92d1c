"""The notification outbox delivers each notice once — through the log, a real local
SMTP server (aiosmtpd) and a real local HTTP gateway — also when retried."""

from __future__ import annotations

import email
import email.policy
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select
from temporalio.testing import ActivityEnvironment

from activities.notifications import NotificationActivities
from activities.notify_adapters import LogAdapter, SmtpAdapter, WebhookAdapter, sign
from models.contracts import NoticeInput
from models.demo import seed_demo
from models.tables import Notice, Veteran

MATERIALS = ["党组织关系介绍信", "户口簿", "退出现役证件"]


def correction(key: str, veteran_id: int) -> NoticeInput:
    return NoticeInput(
        key=key,
        case_id="case-1",
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
            "contact": "county",
        },
    )


@pytest.fixture
def vet_id(engine) -> int:
    seed_demo(engine)
    with Session(engine) as s:
        return s.exec(select(Veteran).where(Veteran.name == "张伟")).one().id


def rows(engine) -> list[Notice]:
    with Session(engine) as s:
        return list(s.exec(select(Notice)).all())


@dataclass
class Counting(LogAdapter):
    sent: list[str] = field(default_factory=list)

    def deliver(self, notice: Notice) -> None:
        super().deliver(notice)
        self.sent.append(notice.key)


async def test_log_adapter_delivers_once_per_key(engine, vet_id):
    adapter = Counting()
    acts = NotificationActivities(engine, adapter)
    env = ActivityEnvironment()
    first = env.run(acts.send_notice, correction("k1", vet_id))
    again = env.run(acts.send_notice, correction("k1", vet_id))
    assert first.status == "sent" and not first.duplicate
    assert again.duplicate and adapter.sent == ["k1"]
    (row,) = rows(engine)
    assert row.status == "sent" and row.attempts == 1 and row.address.startswith("138")
    assert all(m in row.body for m in MATERIALS) and "一次性告知" in row.subject


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, list[bytes]]]:
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, received
    controller.stop()


async def test_smtp_adapter_against_a_local_server(engine, vet_id, smtp_server):
    controller, received = smtp_server
    port = controller.port
    acts = NotificationActivities(
        engine, SmtpAdapter("127.0.0.1", port, "vetflow@demo.local")
    )
    ActivityEnvironment().run(acts.send_notice, correction("mail-1", vet_id))
    assert len(received) == 1
    msg = email.message_from_bytes(received[0], policy=email.policy.default)
    assert msg["Subject"] == "【退役军人服务】请补充材料(一次性告知)"
    assert msg["To"] == "veteran1@demo.vetflow.local"
    body = msg.get_content()
    assert all(m in body for m in MATERIALS)


class Gateway(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []
    bodies: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Gateway.bodies.append((body, dict(self.headers)))
        self.send_response(Gateway.answers.pop(0) if Gateway.answers else 200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    Gateway.answers, Gateway.bodies = [], []
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms"
    server.shutdown()


async def test_webhook_is_signed_and_a_failure_is_retried_without_a_duplicate(
    engine, vet_id, gateway
):
    secret = "gateway-shared-secret"
    acts = NotificationActivities(engine, WebhookAdapter(gateway, secret))
    env = ActivityEnvironment()
    Gateway.answers = [500]
    with pytest.raises(Exception, match="500"):
        env.run(acts.send_notice, correction("sms-1", vet_id))
    (row,) = rows(engine)
    assert row.status == "pending" and row.attempts == 1 and "500" in (row.error or "")
    # Temporal retries the activity: this time the gateway accepts it.
    result = env.run(acts.send_notice, correction("sms-1", vet_id))
    assert result.status == "sent"
    (row,) = rows(engine)
    assert row.status == "sent" and row.attempts == 2
    assert len(Gateway.bodies) == 2
    body, headers = Gateway.bodies[-1]
    assert hmac.compare_digest(headers["X-Vetflow-Signature"], sign(secret, body))
    assert headers["X-Vetflow-Key"] == "sms-1"
    payload = json.loads(body)
    assert payload["to"].startswith("138") and payload["kind"] == "correction_request"
    assert all(m in payload["text"] for m in MATERIALS)
    # Once sent, a replayed activity sends nothing more.
    assert (env.run(acts.send_notice, correction("sms-1", vet_id))).duplicate
    assert len(Gateway.bodies) == 2
