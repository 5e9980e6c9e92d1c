"""Signed, expiring links for rating a service (好差评, 003 §9.1.3).

A rating link names one ``rating_link`` row (its id: ``<case>:case`` for a closed case,
the task id for a completed step) and an expiry, signed (models/signed_token.py) under a
key derived from ``VETFLOW_SECRET_KEY`` for this purpose only (label
"vetflow-rating-link"): it can never be replayed as a session, an annual-review link or
the other way round. Single use is the row's (``used_at``), not the token's.

Payload ``{"l": link id, "e": exp (epoch seconds)}``. Sandbox-safe: stdlib only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from models.signed_token import TokenInvalid, derive_key, read_token, sign_token

_KEY_LABEL = b"vetflow-rating-link"


class RatingLinkInvalid(Exception):
    """Not a rating link we signed: malformed or tampered with."""


class RatingLinkExpired(Exception):
    """A rating link we signed whose time is up; ``link_id`` names it."""

    def __init__(self, link_id: str) -> None:
        super().__init__(f"rating link {link_id} expired")
        self.link_id = link_id


def sign_rating_link(secret: str, link_id: str, expires_at: datetime) -> str:
    """The token of rating link ``link_id``, valid until ``expires_at`` (aware)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    body = {"l": link_id, "e": int(expires_at.timestamp())}
    return sign_token(derive_key(secret, _KEY_LABEL), body)


def read_rating_link(secret: str, token: str, *, now: datetime | None = None) -> str:
    """The link id ``token`` names. ``RatingLinkInvalid`` unless we signed it;
    ``RatingLinkExpired`` once its time is up (checked after the signature)."""
    try:
        body = read_token(derive_key(secret, _KEY_LABEL), token)
        link_id, exp = str(body["l"]), int(body["e"])
    except TokenInvalid as exc:
        raise RatingLinkInvalid(str(exc)) from None
    except (ValueError, KeyError, TypeError):
        raise RatingLinkInvalid("bad payload") from None
    if not link_id or len(link_id) > 160:
        raise RatingLinkInvalid("bad payload")
    if (now or datetime.now(UTC)).timestamp() >= exp:
        raise RatingLinkExpired(link_id)
    return link_id
