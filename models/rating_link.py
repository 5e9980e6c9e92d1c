"""Signed, expiring links for rating a service (好差评, 003 §9.1.3).

A rating link names one ``rating_link`` row (its id: ``<case>:case`` for a closed case,
the task id for a completed step) and an expiry, signed with HMAC-SHA256 under a key
derived from ``VETFLOW_SECRET_KEY`` for this purpose only (HMAC(secret,
"vetflow-rating-link")): it can never be replayed as a session, an annual-review link
or the other way round. Single use is the row's (``used_at``), not the token's.

Token: ``<payload>.<mac>``, base64url without padding; payload ``{"l": link id,
"e": exp (epoch seconds)}``. Sandbox-safe: stdlib and pydantic only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime

_KEY_LABEL = b"vetflow-rating-link"
MAX_TOKEN_LENGTH = 600
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class RatingLinkInvalid(Exception):
    """Not a rating link we signed: malformed or tampered with."""


class RatingLinkExpired(Exception):
    """A rating link we signed whose time is up; ``link_id`` names it."""

    def __init__(self, link_id: str) -> None:
        super().__init__(f"rating link {link_id} expired")
        self.link_id = link_id


def _key(secret: str) -> bytes:
    if len(secret) < 32:
        raise ValueError("VETFLOW_SECRET_KEY must be set to at least 32 characters")
    return hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()


def sign_rating_link(secret: str, link_id: str, expires_at: datetime) -> str:
    """The token of rating link ``link_id``, valid until ``expires_at`` (aware)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    body = {"l": link_id, "e": int(expires_at.timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_b64(_mac(_key(secret), payload))}"


def read_rating_link(secret: str, token: str, *, now: datetime | None = None) -> str:
    """The link id ``token`` names. ``RatingLinkInvalid`` unless we signed it;
    ``RatingLinkExpired`` once its time is up (checked after the signature)."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise RatingLinkInvalid("malformed")
    payload, mac = token.split(".")
    if not (_B64URL.match(payload) and _B64URL.match(mac)):
        raise RatingLinkInvalid("malformed")
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        raise RatingLinkInvalid("malformed") from None
    if not hmac.compare_digest(given, _mac(_key(secret), payload)):
        raise RatingLinkInvalid("bad signature")
    try:
        body = json.loads(_unb64(payload))
        link_id, exp = str(body["l"]), int(body["e"])
    except (ValueError, KeyError, TypeError):
        raise RatingLinkInvalid("bad payload") from None
    if not link_id or len(link_id) > 160:
        raise RatingLinkInvalid("bad payload")
    if (now or datetime.now(UTC)).timestamp() >= exp:
        raise RatingLinkExpired(link_id)
    return link_id
