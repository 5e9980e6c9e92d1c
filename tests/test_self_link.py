"""The veteran's self-service link: signed, expiring, naming one round of one case."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.self_links import SelfLinkActivities
from models.contracts import IssueLinkInput
from models.logconfig import redact_text
from models.self_link import (
    LinkExpired,
    LinkInvalid,
    link_key,
    read_link,
    sign_link,
    task_id_of,
)
from models.settings import Settings

SECRET = secrets.token_urlsafe(40)
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
CASE = "annual_review-2027-v7"


def token(**overrides: object) -> str:
    args: dict[str, object] = {
        "case_id": CASE,
        "round": 2,
        "veteran_id": 7,
        "expires_at": NOW + timedelta(days=30),
    }
    args.update(overrides)
    return sign_link(SECRET, **args)


def test_a_signed_link_reads_back_as_its_round():
    link = read_link(SECRET, token(), now=NOW)
    assert (link.case_id, link.round, link.veteran_id) == (CASE, 2, 7)
    assert link.task_id == f"{CASE}.submit_report.2" == task_id_of(CASE, 2)
    assert link.expires_at == NOW + timedelta(days=30)
    assert link.purpose == "annual_review"


def test_the_link_is_short_enough_for_an_sms_and_url_safe():
    t = token()
    assert len(t) < 200
    assert set(t) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    )


def test_expired_link_names_the_case_it_was_for():
    t = token(expires_at=NOW + timedelta(seconds=1))
    assert read_link(SECRET, t, now=NOW).round == 2
    with pytest.raises(LinkExpired) as exc:
        read_link(SECRET, t, now=NOW + timedelta(seconds=1))
    assert exc.value.link.case_id == CASE


def _flip_payload(t: str, **change: object) -> str:
    payload, mac = t.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(change)
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + mac


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: _flip_payload(t, v=8),  # another veteran
        lambda t: _flip_payload(t, r=3),  # another round
        lambda t: _flip_payload(t, e=2**33),  # a longer life
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # the MAC
        lambda t: t.split(".")[0],  # no MAC
        lambda t: t + ".x",
        lambda t: "",
        lambda t: "not a token",
        lambda t: "a" * 5000,
        lambda t: t.replace(".", ".%"),
    ],
)
def test_tampered_or_malformed_links_are_invalid(tamper):
    with pytest.raises(LinkInvalid):
        read_link(SECRET, tamper(token()), now=NOW)


def test_expiry_is_checked_after_the_signature():
    """A forged expired link is invalid, never 'expired' (that answer names a case)."""
    forged = _flip_payload(token(expires_at=NOW - timedelta(days=1)), v=8)
    with pytest.raises(LinkInvalid):
        read_link(SECRET, forged, now=NOW)


def test_another_key_or_purpose_is_invalid():
    with pytest.raises(LinkInvalid):
        read_link(secrets.token_urlsafe(40), token(), now=NOW)
    with pytest.raises(LinkInvalid):
        read_link(SECRET, token(purpose="other"), now=NOW)


def test_the_link_key_is_derived_not_the_secret():
    assert link_key(SECRET) != SECRET.encode()
    assert len(link_key(SECRET)) == 32
    with pytest.raises(ValueError):
        link_key("short")
    with pytest.raises(ValueError):
        token(expires_at=datetime(2027, 3, 1))  # noqa: DTZ001  (naive on purpose)


def test_issue_self_link_activity_answers_the_full_url():
    settings = Settings(secret_key=SECRET, public_base_url="https://vets.example.gov/")
    acts = SelfLinkActivities(settings)
    inp = IssueLinkInput(
        case_id=CASE,
        task_id=task_id_of(CASE, 1),
        round=1,
        veteran_id=7,
        expires_at=NOW + timedelta(days=30),
    )
    url = ActivityEnvironment().run(acts.issue_self_link, inp)
    prefix = "https://vets.example.gov/self/annual-review/"
    assert url.startswith(prefix)
    link = read_link(SECRET, url.removeprefix(prefix), now=NOW)
    assert link.task_id == inp.task_id
    # The token is a credential: log lines keep the path only.
    assert redact_text(f"GET {url} 200") == f"GET {prefix}… 200"


def test_issue_self_link_refuses_a_task_of_another_round_or_no_key():
    env = ActivityEnvironment()
    inp = IssueLinkInput(
        case_id=CASE,
        task_id=task_id_of(CASE, 2),
        round=1,
        veteran_id=7,
        expires_at=NOW,
    )
    with pytest.raises(ApplicationError) as exc:
        env.run(SelfLinkActivities(Settings(secret_key=SECRET)).issue_self_link, inp)
    assert exc.value.non_retryable and exc.value.type == "InvalidInput"
    inp = inp.model_copy(update={"task_id": task_id_of(CASE, 1)})
    with pytest.raises(ApplicationError) as exc:
        env.run(SelfLinkActivities(Settings(secret_key="")).issue_self_link, inp)
    assert exc.value.non_retryable and exc.value.type == "SelfLinkUnavailable"
