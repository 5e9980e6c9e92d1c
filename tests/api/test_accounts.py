"""A password change (API or page) and an admin's disable end the account's sessions
at once (page cookie and API tokens), through real HTTP; both are audited."""

from __future__ import annotations

import httpx
from sqlmodel import Session, col, select

from models.demo import DEMO_PASSWORD
from models.tables import AuditEvent
from tests.api.page_login import page_login, post_login_form

NEW_PASSWORD = "a-new-long-password"


async def token(http, username: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    return await http.post(
        "/api/auth/token", data={"username": username, "password": password}
    )


def bearer(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def audit_actions(engine, entity_id: str) -> list[str]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent.action)
                .where(AuditEvent.entity_id == entity_id)
                .order_by(col(AuditEvent.id))
            )
        )


async def test_password_change_ends_every_session(app, http, seeded_engine):
    first = bearer(await token(http, "village"))
    second = bearer(await token(http, "village"))
    await page_login(http, "village")
    assert (await http.get("/inbox")).status_code == 200

    async def change(current: str, new: str) -> httpx.Response:
        return await http.put(
            "/api/me/password",
            json={"current_password": current, "new_password": new},
            headers=first,
        )

    short = await change(DEMO_PASSWORD, "short")
    assert short.status_code == 422
    assert short.json()["detail"][0]["loc"] == ["body", "new_password"]
    same = await change(DEMO_PASSWORD, DEMO_PASSWORD)
    assert same.status_code == 422
    assert same.json()["detail"][0]["loc"] == ["body", "new_password"]
    wrong = await change("not-the-password", NEW_PASSWORD)
    assert wrong.status_code == 403
    assert (await http.get("/api/me", headers=first)).status_code == 200

    assert (await change(DEMO_PASSWORD, NEW_PASSWORD)).status_code == 204
    for headers in (first, second):
        assert (await http.get("/api/me", headers=headers)).status_code == 401
    page = await http.get("/inbox")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert (await token(http, "village")).status_code == 401
    assert (await token(http, "village", NEW_PASSWORD)).status_code == 200
    actions = audit_actions(seeded_engine, "village")
    # The wrong current password, then a login with the old one.
    assert actions.count("login_failed") == 2
    assert "password_changed" in actions


async def test_the_password_page_changes_it_and_sends_to_login(
    app, http, seeded_engine
):
    api = bearer(await token(http, "village"))
    csrf = await page_login(http, "village")
    inbox = await http.get("/inbox")
    assert 'href="/settings/password"' in inbox.text  # in every page's header
    form = await http.get("/settings/password")
    assert form.status_code == 200 and 'name="current_password"' in form.text

    async def submit(current: str, new: str, repeat: str | None = None, **extra):
        data = {
            "csrf_token": csrf,
            "current_password": current,
            "new_password": new,
            "repeat_password": new if repeat is None else repeat,
            **extra,
        }
        return await http.post("/settings/password", data=data)

    refusals = [
        (
            await submit(DEMO_PASSWORD, "short"),
            422,
            "new-password",
            "新密码至少 10 个字符",
        ),
        (await submit(DEMO_PASSWORD, DEMO_PASSWORD), 422, "new-password", "须不同于"),
        (
            await submit(DEMO_PASSWORD, NEW_PASSWORD, "a-new-long-passworx"),
            422,
            "repeat-password",
            "两次输入的新密码不一致",
        ),
        (
            await submit("not-the-password", NEW_PASSWORD),
            403,
            "current-password",
            "当前密码错误",
        ),
    ]
    for r, status, field, message in refusals:
        assert r.status_code == status, r.text[:300]
        assert 'role="alert"' in r.text and message in r.text
        # The field in error says so and names the message (WCAG 2.1 SC 3.3.1).
        tag = r.text.split(f'id="{field}"', 1)[1].split(">", 1)[0]
        assert 'aria-invalid="true"' in tag and "password-error" in tag
    no_csrf = await http.post(
        "/settings/password",
        data={"current_password": DEMO_PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert no_csrf.status_code == 403
    assert (await http.get("/api/me", headers=api)).status_code == 200  # unchanged

    done = await submit(DEMO_PASSWORD, NEW_PASSWORD)
    assert done.status_code == 303 and done.headers["location"] == "/login?changed=1"
    notice = await http.get("/login?changed=1")
    assert "密码已修改，请用新密码登录" in notice.text
    assert (await http.get("/api/me", headers=api)).status_code == 401
    after = await http.get("/inbox")
    assert after.status_code == 303 and after.headers["location"].startswith("/login")
    assert (await post_login_form(http, "village")).status_code == 401
    assert (await post_login_form(http, "village", NEW_PASSWORD)).status_code == 303
    actions = audit_actions(seeded_engine, "village")
    assert actions.count("password_changed") == 1
    assert actions.count("login_failed") == 2  # the wrong current one, the old one


async def test_admin_disable_ends_sessions_and_stays_in_subtree(
    app, http, seeded_engine
):
    village = bearer(await token(http, "village"))
    admin = bearer(await token(http, "admin"))
    county = bearer(await token(http, "county"))

    async def set_active(username: str, active: object, headers) -> httpx.Response:
        return await http.put(
            f"/api/accounts/{username}/active", json={"active": active}, headers=headers
        )

    assert (await set_active("village", False, county)).status_code == 403
    assert (await set_active("city", False, admin)).status_code == 404  # above
    assert (await set_active("no-such-user", False, admin)).status_code == 404
    assert (await set_active("village", 0, admin)).status_code == 422
    own = await set_active("admin", False, admin)
    assert own.status_code == 422 and own.json()["detail"][0]["loc"] == [
        "body",
        "active",
    ]

    off = await set_active("village", False, admin)
    assert off.status_code == 200, off.text
    assert off.json() == {"username": "village", "active": False, "sessions_ended": 1}
    assert (await http.get("/api/me", headers=village)).status_code == 401
    assert (await token(http, "village")).status_code == 401

    on = await set_active("village", True, admin)
    assert on.json() == {"username": "village", "active": True, "sessions_ended": 0}
    # The old token stays ended; a new login works.
    assert (await http.get("/api/me", headers=village)).status_code == 401
    fresh = bearer(await token(http, "village"))
    assert (await http.get("/api/me", headers=fresh)).status_code == 200
    actions = audit_actions(seeded_engine, "village")
    assert actions.index("account_disabled") < actions.index("account_enabled")
