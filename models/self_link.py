"""Signed, expiring, single-use links for a veteran's own online submission.

001 第九条 lets the veteran report the year's 年度登记 "现场或网上": the online way is a
link sent to the veteran (SMS or e-mail). The link names one case and one round of
its ``submit_report`` step and carries no account: the HMAC-SHA256 signature is the
authority. It expires (``exp``) and is single-use because the task it names closes
on the first accepted submission (the page then refuses it).

Token: ``<payload>.<mac>``, both base64url without padding. The payload is compact
JSON ``{"c": case_id, "r": round, "v": veteran_id, "e": exp (epoch seconds),
"p": purpose}``; the task id is derived (``<case_id>.submit_report.<round>``, the
engine's own naming), which keeps the link short enough for an SMS. The MAC key is
derived from ``VETFLOW_SECRET_KEY`` (HMAC(secret, "vetflow-self-link")), so a link
can never be replayed as a session token or the other way round.

Sandbox-safe: stdlib and pydantic only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.signed_token import TokenInvalid, derive_key, read_token, sign_token

PURPOSE = "annual_review"
STEP = "submit_report"
_KEY_LABEL = b"vetflow-self-link"


class LinkInvalid(Exception):
    """Not a link we signed: malformed, tampered with, or for another purpose."""


class LinkExpired(Exception):
    """A link we signed whose time is up; ``link`` says which case it named."""

    def __init__(self, link: SelfLink) -> None:
        super().__init__(f"self-service link of {link.case_id} expired")
        self.link = link


class SelfLink(BaseModel):
    """What a link authorises: one round of one case's report, for one veteran."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case_id: str = Field(min_length=1, max_length=120)
    round: int = Field(ge=1, le=1000)
    veteran_id: int = Field(ge=1, le=2**31 - 1)
    exp: int = Field(ge=0, le=2**40)  # epoch seconds
    purpose: str = PURPOSE

    @property
    def task_id(self) -> str:
        return task_id_of(self.case_id, self.round)

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.exp, UTC)


def task_id_of(case_id: str, round_: int) -> str:
    """The ``submit_report`` task of ``round_`` (the engine names tasks so)."""
    return f"{case_id}.{STEP}.{round_}"


def link_key(secret: str) -> bytes:
    """The link key, derived from the app secret (never the secret itself)."""
    return derive_key(secret, _KEY_LABEL)


def sign_link(
    secret: str,
    *,
    case_id: str,
    round: int,
    veteran_id: int,
    expires_at: datetime,
    purpose: str = PURPOSE,
) -> str:
    """The token of a link to round ``round`` of ``case_id``, valid until
    ``expires_at`` (an aware datetime)."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    link = SelfLink(
        case_id=case_id,
        round=round,
        veteran_id=veteran_id,
        exp=int(expires_at.timestamp()),
        purpose=purpose,
    )
    body = {
        "c": link.case_id,
        "r": link.round,
        "v": link.veteran_id,
        "e": link.exp,
        "p": link.purpose,
    }
    return sign_token(link_key(secret), body)


def read_link(
    secret: str,
    token: str,
    *,
    now: datetime | None = None,
    purpose: str = PURPOSE,
) -> SelfLink:
    """The link ``token`` names. ``LinkInvalid`` unless we signed it for
    ``purpose``; ``LinkExpired`` once its time is up (the signature is checked
    first, so an expired answer always names a link we issued)."""
    try:
        body = read_token(link_key(secret), token)
    except TokenInvalid as exc:
        raise LinkInvalid(str(exc)) from None
    try:
        link = SelfLink(
            case_id=body["c"],
            round=body["r"],
            veteran_id=body["v"],
            exp=body["e"],
            purpose=body["p"],
        )
    except (ValueError, KeyError, TypeError, ValidationError):
        raise LinkInvalid("bad payload") from None
    if link.purpose != purpose:
        raise LinkInvalid("other purpose")
    moment = now or datetime.now(UTC)
    if moment.timestamp() >= link.exp:
        raise LinkExpired(link)
    return link
