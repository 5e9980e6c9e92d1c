"""Server-side sessions through real HTTP: logout ends a session at once, page
cookies and API tokens are different kinds, a disabled account is refused at once,
and the login form needs its own CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from api.security import revoke_sessions
from models.demo import DEMO_PASSWORD
from models.tables import Account, AuditEvent, AuthSession
from tests.api.page_login import page_login

COOKIE = "vetflow_session"


async def api_token(http, username: str) -> str:
    r = await http.post(
        "/api/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def set_active(engine, username: str, active: bool) -> None:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).one()
        acc.active = active
        s.add(acc)
        s.commit()


async def test_api_logout_revokes_only_that_token(http, seeded_engine):
    first, second = await api_token(http, "county"), await api_token(http, "county")
    assert (await http.get("/api/me", headers=bearer(first))).status_code == 200
    out = await http.post("/api/auth/logout", headers=bearer(first))
    assert out.status_code == 204
    gone = await http.get("/api/me", headers=bearer(first))
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert (
        await http.post("/api/auth/logout", headers=bearer(first))
    ).status_code == 401
    assert (await http.get("/api/me", headers=bearer(second))).status_code == 200
    with Session(seeded_engine) as s:
        (row,) = s.exec(select(AuditEvent).where(AuditEvent.action == "logout")).all()
    assert row.actor == "county" and row.after == {"kind": "api"}


async def test_every_login_is_audited_with_its_kind_and_address(http, seeded_engine):
    await api_token(http, "county")
    await page_login(http, "village")
    refused = await http.post(
        "/api/auth/token", data={"username": "county", "password": "wrong-password"}
    )
    assert refused.status_code == 401
    with Session(seeded_engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "login")
            .order_by(col(AuditEvent.id))
        ).all()
        sessions = s.exec(select(AuthSession)).all()
    # One row per session opened, none for the refused attempt (login_failed's).
    assert [(r.actor, r.entity_type, r.entity_id) for r in rows] == [
        ("county", "account", "county"),
        ("village", "account", "village"),
    ]
    assert [r.after for r in rows] == [
        {"kind": "api", "address": "127.0.0.1", "ended_sessions_deleted": 0},
        {"kind": "page", "address": "127.0.0.1", "ended_sessions_deleted": 0},
    ]
    # Each row is tied to its request's log lines.
    assert all(r.request_id for r in rows)
    assert len(sessions) == 2


async def test_a_login_deletes_the_users_sessions_ended_over_30_days_ago(
    http, seeded_engine
):
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=40), now - timedelta(days=10)
    rows = {
        "expired-long-ago": ("county", old, None),
        "revoked-long-ago": ("county", now + timedelta(hours=1), old),
        "expired-lately": ("county", recent, None),
        "revoked-lately": ("county", now - timedelta(days=5), recent),
        "another-users": ("village", old, None),
    }
    with Session(seeded_engine) as s:
        for sid, (username, expires, revoked) in rows.items():
            s.add(
                AuthSession(
                    id=sid,
                    username=username,
                    kind="api",
                    created_at=expires - timedelta(hours=8),
                    expires_at=expires,
                    revoked_at=revoked,
                )
            )
        s.commit()
    token = await api_token(http, "county")
    assert (await http.get("/api/me", headers=bearer(token))).status_code == 200
    with Session(seeded_engine) as s:
        left = {r.id for r in s.exec(select(AuthSession)).all()}
        (login,) = s.exec(select(AuditEvent).where(AuditEvent.action == "login")).all()
    opened = left - set(rows)
    assert len(opened) == 1  # the login's own session
    assert left - opened == {"expired-lately", "revoked-lately", "another-users"}
    assert login.after is not None and login.after["ended_sessions_deleted"] == 2


async def test_page_logout_ends_the_session_at_once(http, seeded_engine):
    csrf = await page_login(http, "village")
    old_cookie = http.cookies[COOKIE]
    out = await http.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # Replaying the old cookie: the inbox and a claim both send to the login page.
    http.cookies.set(COOKIE, old_cookie)
    inbox = await http.get("/inbox")
    assert inbox.status_code == 303 and inbox.headers["location"].startswith("/login")
    claim = await http.post(
        "/tasks/any-task/claim",
        data={"csrf_token": csrf},
        headers={"X-CSRF-Token": csrf},
    )
    assert claim.status_code == 303 and claim.headers["location"].startswith("/login")
    with Session(seeded_engine) as s:
        row = s.exec(select(AuthSession).where(AuthSession.username == "village")).one()
    assert row.kind == "page" and row.revoked_at is not None


async def test_page_cookie_and_api_token_are_not_interchangeable(http):
    await page_login(http, "county")
    page_token = http.cookies[COOKIE]
    assert (await http.get("/api/me", headers=bearer(page_token))).status_code == 401
    api = await api_token(http, "county")
    http.cookies.clear()
    http.cookies.set(COOKIE, api)
    r = await http.get("/inbox")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


async def test_disabled_account_is_refused_at_once_and_revoke_ends_its_sessions(
    http, seeded_engine
):
    token = await api_token(http, "county2")
    await page_login(http, "county2")
    set_active(seeded_engine, "county2", False)
    assert (await http.get("/api/me", headers=bearer(token))).status_code == 401
    assert (await http.get("/inbox")).status_code == 303
    # revoke_sessions (for deactivation and password changes) ends them for good:
    # they stay refused when the account is active again.
    with Session(seeded_engine) as s:
        assert revoke_sessions(s, "county2") == 2
        s.commit()
    set_active(seeded_engine, "county2", True)
    assert (await http.get("/api/me", headers=bearer(token))).status_code == 401
    assert (await http.get("/inbox")).status_code == 303
    fresh = await api_token(http, "county2")
    assert (await http.get("/api/me", headers=bearer(fresh))).status_code == 200


async def test_an_expired_session_row_is_refused(http, seeded_engine):
    token = await api_token(http, "auditor")
    with Session(seeded_engine) as s:
        row = s.exec(select(AuthSession).where(AuthSession.username == "auditor")).one()
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.add(row)
        s.commit()
    assert (await http.get("/api/me", headers=bearer(token))).status_code == 401


async def test_login_form_needs_its_csrf_token(http, seeded_engine):
    creds = {"username": "county", "password": DEMO_PASSWORD}
    missing = await http.post("/login", data=creds)
    assert missing.status_code == 403 and "登录表单已过期，请重新提交" in missing.text
    # A token from another browser (this one has its own nonce cookie) is refused.
    form = await http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    wrong = await http.post("/login", data={**creds, "csrf_token": "0" * 64})
    assert wrong.status_code == 403
    http.cookies.clear()
    no_cookie = await http.post("/login", data={**creds, "csrf_token": token})
    assert no_cookie.status_code == 403
    assert COOKIE not in http.cookies
    with Session(seeded_engine) as s:
        assert not s.exec(select(AuthSession.id)).all()
        # A refused form is no password attempt: nothing is counted or audited.
        assert not s.exec(
            select(AuditEvent).where(col(AuditEvent.action) == "login_failed")
        ).all()
    # The 403 page carries a fresh token: submitting it logs in.
    retry = re.search(r'name="csrf_token" value="([^"]+)"', no_cookie.text).group(1)
    ok = await http.post("/login", data={**creds, "csrf_token": retry})
    assert ok.status_code == 303 and COOKIE in http.cookies


async def test_the_task_list_and_inbox_check_the_session_row(http, seeded_engine):
    """The task list and the inbox check the session on the connection of their reads
    (api/deps.py BearerSession, api/web/session.py PageSession): a revoked token or
    cookie is refused there as everywhere, and a token of the other kind before."""
    token = await api_token(http, "village")
    ok = await http.get("/api/tasks?status=open", headers=bearer(token))
    assert ok.status_code == 200 and ok.json()["count"] >= 0
    await http.post("/api/auth/logout", headers=bearer(token))
    gone = await http.get("/api/tasks?status=open", headers=bearer(token))
    assert gone.status_code == 401 and gone.headers["www-authenticate"] == "Bearer"
    assert "data" not in gone.json()
    csrf = await page_login(http, "village")
    assert (await http.get("/inbox/list")).status_code == 200
    page_token = http.cookies[COOKIE]
    assert (await http.get("/api/tasks", headers=bearer(page_token))).status_code == 401
    await http.post("/logout", data={"csrf_token": csrf})
    http.cookies.set(COOKIE, page_token)
    for path in ("/inbox", "/inbox/list?tab=mine"):
        r = await http.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=/inbox"), path
