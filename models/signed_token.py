"""Compact signed tokens for links a person opens without an account (the annual
review's self-service link, the rating link): ``<payload>.<mac>``, both base64url
without padding; the payload is compact JSON, the MAC HMAC-SHA256 under a key derived
from ``VETFLOW_SECRET_KEY`` for one purpose only (HMAC(secret, label)), compared in
constant time. Sandbox-safe: stdlib only."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

# A token longer than this is not ours (a real one is about 160 characters).
MAX_TOKEN_LENGTH = 600
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")


class TokenInvalid(Exception):
    """Not a token signed under this key: malformed, tampered with, or another key's."""


def derive_key(secret: str, label: bytes) -> bytes:
    """The key of one purpose, derived from the app secret (never the secret itself)."""
    if len(secret) < 32:
        raise ValueError("VETFLOW_SECRET_KEY must be set to at least 32 characters")
    return hmac.new(secret.encode(), label, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()


def sign_token(key: bytes, body: dict[str, Any]) -> str:
    """The token carrying ``body`` (compact JSON), signed under ``key``."""
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def read_token(key: bytes, token: str) -> Any:
    """The JSON ``token`` carries, once its signature under ``key`` checks out;
    ``TokenInvalid`` otherwise (the body is not parsed before the signature holds)."""
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise TokenInvalid("malformed")
    payload, mac = token.split(".")
    if not (_B64URL.match(payload) and _B64URL.match(mac)):
        raise TokenInvalid("malformed")
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        raise TokenInvalid("malformed") from None
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise TokenInvalid("bad signature")
    try:
        return json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        raise TokenInvalid("bad payload") from None
