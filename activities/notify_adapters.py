"""Delivery adapters of the notification outbox: log (default), SMTP, SMS webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from email.message import EmailMessage
from typing import Protocol

import httpx
import structlog

from models.settings import Settings
from models.tables import Notice

log = structlog.get_logger(__name__)


class NotifyAdapter(Protocol):
    """Delivers one notice; raises on failure so the activity is retried."""

    channel: str

    def deliver(self, notice: Notice) -> None: ...


class LogAdapter:
    """Writes the notice to the log (the default; demos and offline offices)."""

    channel = "log"

    def deliver(self, notice: Notice) -> None:
        log.info(
            "notice_delivered",
            key=notice.key,
            kind=notice.kind,
            recipient=notice.recipient,
            subject=notice.subject,
        )


class SmtpAdapter:
    channel = "smtp"

    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    def deliver(self, notice: Notice) -> None:
        if "@" not in notice.address:
            raise ValueError(
                f"no e-mail address for {notice.recipient_type} {notice.recipient}"
            )
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = notice.address
        msg["Subject"] = notice.subject
        msg["Message-ID"] = (
            f"<{hashlib.sha256(notice.key.encode()).hexdigest()[:32]}@vetflow>"
        )
        msg.set_content(notice.body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(msg)


def sign(secret: str, body: bytes) -> str:
    """The `X-Vetflow-Signature` value of a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookAdapter:
    """POSTs the notice to an SMS gateway, HMAC-signed; the key lets the gateway dedupe."""

    channel = "webhook"

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret

    def deliver(self, notice: Notice) -> None:
        body = json.dumps(
            {
                "key": notice.key,
                "to": notice.address,
                "kind": notice.kind,
                "subject": notice.subject,
                "text": notice.body,
                "case_id": notice.case_id,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Vetflow-Signature": sign(self.secret, body),
            "X-Vetflow-Key": notice.key,
        }
        response = httpx.post(self.url, content=body, headers=headers, timeout=10)
        response.raise_for_status()


def make_adapter(settings: Settings) -> NotifyAdapter:
    if settings.notify_adapter == "smtp":
        return SmtpAdapter(settings.smtp_host, settings.smtp_port, settings.smtp_sender)
    if settings.notify_adapter == "webhook":
        return WebhookAdapter(settings.webhook_url, settings.webhook_secret)
    return LogAdapter()
