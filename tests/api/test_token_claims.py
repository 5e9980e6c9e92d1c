"""A token's claims are verified once (api/security.py ``verified_claims``): the same
token is then checked for its expiry alone, and a bad token is never kept."""

from __future__ import annotations

import secrets
import time

import pytest

from api import security
from api.security import create_access_token, token_session, verified_claims
from models.settings import Settings


@pytest.fixture
def key_settings() -> Settings:
    return Settings(secret_key=secrets.token_urlsafe(40))


def test_a_verified_token_is_still_refused_once_it_expires(
    key_settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    token = create_access_token(key_settings, "county", session_id="s1", kind="api")
    assert token_session(key_settings, token, "api") == ("s1", "county")
    assert token_session(key_settings, token, "page") is None  # the other kind
    exp = verified_claims(key_settings, token)["exp"]
    monkeypatch.setattr(security.time, "time", lambda: exp + 0.0)
    assert verified_claims(key_settings, token) is None
    assert token_session(key_settings, token, "api") is None


def test_bad_tokens_are_refused_and_not_kept(key_settings: Settings):
    token = create_access_token(key_settings, "county", session_id="s2", kind="page")
    before = security._decoded.cache_info().currsize
    other = Settings(secret_key=secrets.token_urlsafe(40))
    assert verified_claims(other, token) is None  # signed with another key
    assert verified_claims(key_settings, token[:-2] + "xx") is None  # tampered
    assert verified_claims(key_settings, "nonsense") is None
    expired = create_access_token(
        key_settings.model_copy(update={"token_ttl_minutes": -1}),
        "county",
        session_id="s3",
    )
    assert verified_claims(key_settings, expired) is None
    assert security._decoded.cache_info().currsize == before
    claims = verified_claims(key_settings, token)
    assert claims is not None and claims["sid"] == "s2" and claims["kind"] == "page"
    claims["sid"] = "changed"  # the caller's copy
    assert verified_claims(key_settings, token)["sid"] == "s2"
    assert time.time() < claims["exp"]
