"""An admin's holiday change moves the deadlines of open cases it touches, through
POST /api/holidays, the real worker and the dev server."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest_asyncio
from sqlmodel import Session, select

from models.settings import Settings
from models.tables import AuditEvent, HumanTask
from models.workdays import TZ, WorkCalendar
from tests.support import open_task, wait_for
from worker import build_worker


@pytest_asyncio.fixture
async def standard_app(settings: Settings, seeded_engine, client):
    """The app and a worker with statutory working-day deadlines (`standard`)."""
    from api.main import create_app

    settings = settings.model_copy(update={"policy_profile": "standard"})
    app = create_app(settings, engine=seeded_engine, temporal_client=client)
    async with app.router.lifespan_context(app):
        async with build_worker(client, settings, seeded_engine):
            yield app


def _aware(value):
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_a_holiday_set_by_the_admin_moves_open_deadlines(
    standard_app, seeded_engine
):
    import httpx

    from models.demo import DEMO_PASSWORD

    e = seeded_engine
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=standard_app), base_url="http://test"
    ) as http:

        async def login(user: str) -> dict[str, str]:
            r = await http.post(
                "/api/auth/token", data={"username": user, "password": DEMO_PASSWORD}
            )
            return {"Authorization": f"Bearer {r.json()['access_token']}"}

        county, admin = await login("county"), await login("admin")
        r = await http.post(
            "/api/cases",
            json={"process": "return_home", "veteran_id": 1},
            headers=county,
        )
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        # A version-2 case opens on the receipt of the personnel file.
        task = await open_task(e, case_id, "file_receipt")
        due_before = _aware(task.due_at)
        cal = WorkCalendar()
        day = (
            task.created_at.astimezone(TZ).date()
            if task.created_at.tzinfo
            else _aware(task.created_at).astimezone(TZ).date()
        )
        day += timedelta(days=1)
        while not cal.is_workday(day):
            day += timedelta(days=1)
        # Clerks may not; the admin declares the first counted working day a holiday.
        refused = await http.post(
            "/api/holidays",
            json={"day": day.isoformat(), "workday": False, "name": "临时"},
            headers=county,
        )
        assert refused.status_code == 403
        r = await http.post(
            "/api/holidays",
            json={"day": day.isoformat(), "workday": False, "name": "临时"},
            headers=admin,
        )
        assert r.status_code == 200, r.text
        assert r.json()["cases_notified"] >= 1

        def moved():
            with Session(e) as s:
                row = s.get(HumanTask, task.id)
                return _aware(row.due_at) if _aware(row.due_at) != due_before else None

        due_after = await wait_for(moved)
        assert due_after > due_before  # one working day fewer in the window
        with Session(e) as s:
            assert s.exec(
                select(AuditEvent).where(
                    AuditEvent.entity_id == task.id,
                    AuditEvent.action == "task_due_recomputed",
                )
            ).first()
