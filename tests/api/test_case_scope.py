"""Who a process serves: a start for a veteran the process does not serve is refused
with 422 naming the field and where the veteran is served instead, and loses nothing."""

from __future__ import annotations

from sqlmodel import Session, select

from models.processes import PROCESSES
from models.tables import Case, Veteran


def _veteran(engine, category: str) -> int:
    with Session(engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.category == category)).first()
        assert vet is not None and vet.id is not None
        return vet.id


async def test_retired_cadre_is_refused_and_pointed_to_004_6_1(
    http, auth, seeded_engine
):
    headers = await auth("county")
    cadre = _veteran(seeded_engine, "军休干部")
    r = await http.post(
        "/api/cases",
        json={"process": "return_home", "veteran_id": cadre, "data": {}},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "veteran_id"]
    assert error["type"] == "category_not_served"
    assert "DB51/T 2839—2021 第6.1条" in error["msg"] and "三方" in error["msg"]
    with Session(seeded_engine) as s:
        assert s.exec(select(Case).where(Case.veteran_id == cadre)).all() == []
    # The process definition says so, for every client to read.
    r = await http.get("/api/processes", headers=headers)
    assert r.status_code == 200
    served = {p["key"]: p for p in r.json()}["return_home"]
    assert "军休干部" in served["excluded_categories"]
    assert PROCESSES["return_home"].version == served["version"] == 2
