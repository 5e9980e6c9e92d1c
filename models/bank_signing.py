"""Signatures between vetflow and the banks: the application webhook (vetflow → bank)
and the callbacks (bank → ``POST /api/bank/callbacks``).

Both carry ``X-Vetflow-Bank`` (the bank's code), ``X-Vetflow-Timestamp`` (Unix seconds)
and ``X-Vetflow-Signature: sha256=<hex>``, the HMAC-SHA256 of ``<timestamp>.<raw
body>`` under the bank's own key: ``Settings.bank_secrets[code]`` when configured, else
a key derived from ``secret_key`` and the code (so one bank's key never opens
another's). A timestamp further than ``bank_callback_max_skew_seconds`` from now is
refused; replays within that window are caught by the bank's reference (one
``bank_callback`` row each).
"""

from __future__ import annotations

import hashlib
import hmac

from models.settings import Settings

HEADER_BANK = "X-Vetflow-Bank"
HEADER_TIMESTAMP = "X-Vetflow-Timestamp"
HEADER_SIGNATURE = "X-Vetflow-Signature"


def bank_key(settings: Settings, bank: str) -> bytes:
    """The HMAC key of one bank."""
    configured = settings.bank_secrets.get(bank)
    if configured:
        return configured.encode()
    return hmac.new(
        settings.secret_key.encode(), f"bank-callback:{bank}".encode(), hashlib.sha256
    ).digest()


def sign_bank(key: bytes, timestamp: int | str, body: bytes) -> str:
    """The signature header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_bank(key: bytes, timestamp: str, body: bytes, signature: str) -> bool:
    """Constant-time check of a signature header."""
    return hmac.compare_digest(sign_bank(key, timestamp, body), signature)
