"""Counts that stop: the inbox tabs show "N+" past ``COUNT_CAP`` (the current tab counts
on past its page), and GET /api/tasks counts exactly unless ``count_limit`` is given."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy.engine import Engine

import api.inbox_queries
from api.deps import load_user
from api.inbox_queries import PER_PAGE, InboxFilters, inbox_page
from tests.api.page_login import page_login
from tests.api.test_inbox_queries import NOW, build


def test_tab_counts_stop_at_the_cap(engine: Engine, monkeypatch: pytest.MonkeyPatch):
    build(engine)  # the village clerk: 55 claimable, 5 mine, 1 done
    monkeypatch.setattr(api.inbox_queries, "COUNT_CAP", 20)
    village = load_user(engine, "village")
    assert village is not None
    first = inbox_page(engine, village, InboxFilters(tab="claimable"), NOW, 24)
    assert first.counts == {"mine": 5, "claimable": 20, "done": 1}
    assert first.capped == {"claimable"}
    assert first.count_label("claimable") == "20+" and first.count_label("mine") == "5"
    assert first.total_label == "20+" and first.pages_label == "1+"
    assert len(first.rows) == PER_PAGE
    # Page 2 counts on past the 50 rows before it: 55 exactly.
    second = inbox_page(engine, village, InboxFilters(tab="claimable", page=2), NOW, 24)
    assert second.counts["claimable"] == 55 and "claimable" not in second.capped
    assert second.pages == 2 and second.total_label == "55"
    # Another tab's count does not count on for this tab's page.
    mine = inbox_page(engine, village, InboxFilters(tab="mine", page=2), NOW, 24)
    assert mine.counts["claimable"] == 20 and mine.capped == {"claimable"}


async def test_inbox_page_shows_capped_counts(
    http: httpx.AsyncClient, seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch
):
    build(seeded_engine)
    monkeypatch.setattr(api.inbox_queries, "COUNT_CAP", 20)
    await page_login(http, "village")
    r = await http.get("/inbox?tab=claimable")
    assert r.status_code == 200
    assert '<span class="count">20+</span>' in r.text
    assert '<span class="count">5</span>' in r.text
    assert 'page=2">' in r.text  # a next page although the count stopped


async def test_task_list_count_limit(
    http: httpx.AsyncClient,
    seeded_engine: Engine,
    auth: Callable[[str], Awaitable[dict[str, str]]],
):
    build(seeded_engine)
    headers = await auth("village")
    exact = await http.get("/api/tasks?status=open&limit=5", headers=headers)
    assert exact.status_code == 200, exact.text
    assert exact.json()["count"] == 60 and exact.json()["count_capped"] is False
    capped = await http.get(
        "/api/tasks?status=open&limit=5&count_limit=10", headers=headers
    )
    body = capped.json()
    assert body["count"] == 10 and body["count_capped"] is True
    assert len(body["data"]) == 5
    assert [t["id"] for t in body["data"]] == [t["id"] for t in exact.json()["data"]]
    enough = await http.get(
        "/api/tasks?status=open&limit=5&count_limit=60", headers=headers
    )
    assert enough.json()["count"] == 60 and enough.json()["count_capped"] is False
    bad = await http.get("/api/tasks?count_limit=0", headers=headers)
    assert bad.status_code == 422
