"""Idempotent case starts (the ``Idempotency-Key`` header of ``POST /api/cases``).

A process whose case id is a business key (once per veteran, a veteran's n-th loan)
refuses a second start by itself (409). A complaint's id is generated, so a client that
retries a registration after a 503 whose first try had in fact gone through would open a
second case. With a key, the id is derived from who sent the request, the request's body
and the key: the retry finds the case the first try opened and gets the same answer; a
different body under the same key is a different request and opens its own case.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{8,64}$"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Optional, 8–64 characters of `A-Z a-z 0-9 . _ : -`: a retry of the "
        "same request (same caller, same body, same key) answers with the case the "
        "first try opened instead of opening a second one.",
    ),
]


def idempotent_suffix(username: str, key: str, body: Any) -> str:
    """12 hex digits identifying (caller, body, key): the generated part of a case id."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256("\x1f".join((username, key, canonical)).encode())
    return digest.hexdigest()[:12]
