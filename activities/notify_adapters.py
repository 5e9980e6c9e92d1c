"""Delivery adapters of the notification outbox: log (default), SMTP, SMS webhook.

An adapter delivers one outbox row and raises when it could not: ``NoAddress`` and
``NoticeRejected`` are permanent (retrying cannot help: a person must correct the
contact), anything else is transient and retried. The outbox keeps one row per key;
delivery is at-least-once — the wire may see a notice twice if the worker dies between
delivering and recording it — so each channel carries the key (SMTP Message-ID,
webhook `X-Vetflow-Key`) for the receiver to drop the repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import httpx
import structlog

from models.settings import Settings
from models.tables import Notice

log = structlog.get_logger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10.0


class NoAddress(ValueError):
    """The recipient has no address on this channel (e.g. a veteran without e-mail).

    Permanent: retrying cannot help, a clerk must correct the contact.
    """


class NoticeRejected(ValueError):
    """The gateway or mail server refused this notice for good (an HTTP 4xx such as
    an invalid phone number, a rejected recipient). Permanent, like NoAddress."""


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
    """Sends the notice as a UTF-8 e-mail through a plain SMTP relay (the office's
    mail server; no login, as on an internal government network)."""

    channel = "smtp"

    def __init__(self, host: str, port: int, sender: str) -> None:
        self.host, self.port, self.sender = host, port, sender

    def deliver(self, notice: Notice) -> None:
        if "@" not in notice.address:
            raise NoAddress(
                f"no e-mail address for {notice.recipient_type} {notice.recipient}"
            )
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = notice.address
        msg["Subject"] = notice.subject
        msg["Date"] = formatdate(usegmt=True)
        # Derived from the key, so a re-sent notice can be recognised as the same mail.
        msg["Message-ID"] = (
            f"<{hashlib.sha256(notice.key.encode()).hexdigest()[:32]}@vetflow>"
        )
        msg.set_content(notice.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise NoticeRejected(f"recipient refused: {exc.recipients}") from exc


def sign(secret: str, body: bytes) -> str:
    """The `X-Vetflow-Signature` value of a webhook body: HMAC-SHA256 of its bytes."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookAdapter:
    """POSTs the notice to an SMS gateway, HMAC-signed; the key lets the gateway dedupe."""

    channel = "webhook"

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret

    def deliver(self, notice: Notice) -> None:
        if not notice.address:
            raise NoAddress(
                f"no phone number for {notice.recipient_type} {notice.recipient}"
            )
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
        with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
            response = client.post(self.url, content=body, headers=headers)
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            # The gateway refuses this notice itself (e.g. an invalid number).
            raise NoticeRejected(
                f"gateway answered {response.status_code}: {response.text[:200]}"
            )
        response.raise_for_status()


def make_adapter(settings: Settings) -> NotifyAdapter:
    """The adapter `VETFLOW_NOTIFY_ADAPTER` names; a webhook without URL or secret
    is refused at start-up rather than failing (or going unsigned) on every notice."""
    if settings.notify_adapter == "smtp":
        return SmtpAdapter(settings.smtp_host, settings.smtp_port, settings.smtp_sender)
    if settings.notify_adapter == "webhook":
        if not settings.webhook_url or not settings.webhook_secret:
            raise ValueError(
                "the webhook adapter needs VETFLOW_WEBHOOK_URL and VETFLOW_WEBHOOK_SECRET"
            )
        return WebhookAdapter(settings.webhook_url, settings.webhook_secret)
    return LogAdapter()
