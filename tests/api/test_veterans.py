"""The veterans registry: validation, duplicates, subtree visibility, masking and audit."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, select

from models.idnumber import make_id_number
from models.tables import AuditEvent, OrgUnit


def unit_id(engine, name_prefix: str) -> int:
    with Session(engine) as s:
        return next(
            u.id or 0
            for u in s.exec(select(OrgUnit)).all()
            if u.name.startswith(name_prefix)
        )


def new_veteran(engine, **over):
    return {
        "name": "韩梅",
        "id_number": make_id_number("370102", date(1999, 5, 6), "128"),
        "gender": "女",
        "phone": "13912345678",
        "category": "自主就业退役士兵",
        "party_member": True,
        "org_unit_id": unit_id(engine, "东关村"),
        **over,
    }


async def test_register_validate_and_duplicate(http, auth, seeded_engine):
    village = await auth("village")
    body = new_veteran(seeded_engine)
    bad = dict(
        body,
        id_number=body["id_number"][:-1]
        + ("0" if body["id_number"][-1] != "0" else "1"),
    )
    r = await http.post("/api/veterans", json=bad, headers=village)
    assert r.status_code == 422
    assert (
        r.json()["detail"][0]["loc"] == ["body", "id_number"]
        and "校验位" in r.json()["detail"][0]["msg"]
    )
    r = await http.post("/api/veterans", json=body, headers=village)
    assert r.status_code == 201, r.text
    assert (
        r.json()["id_number"]
        == body["id_number"][:4] + "*" * 10 + body["id_number"][-4:]
    )
    assert (
        await http.post("/api/veterans", json=body, headers=village)
    ).status_code == 409
    other = new_veteran(
        seeded_engine,
        id_number=make_id_number("370102", date(1998, 1, 2), "139"),
        org_unit_id=unit_id(seeded_engine, "南关村"),
    )
    assert (
        await http.post("/api/veterans", json=other, headers=village)
    ).status_code == 404
    assert (
        await http.post("/api/veterans", json=other, headers=await auth("manager"))
    ).status_code == 403


async def test_visibility_masking_and_unmasked_reads_are_audited(
    http, auth, seeded_engine
):
    county = await auth("county")
    listed = (await http.get("/api/veterans", headers=county)).json()
    assert listed["count"] == 5 and all(
        not v["id_number_masked"] for v in listed["data"]
    )
    nanguan = next(v for v in listed["data"] if v["name"] == "杨磊")
    # The village clerk sees only 东关村, masked; 南关村 answers 404.
    village = await auth("village")
    mine = (await http.get("/api/veterans", headers=village)).json()
    assert mine["count"] == 3 and all(
        v["id_number_masked"] and "*" in v["id_number"] for v in mine["data"]
    )
    assert (
        await http.get(f"/api/veterans/{nanguan['id']}", headers=village)
    ).status_code == 404
    assert (
        await http.get(
            f"/api/veterans/{nanguan['id']}", headers=await auth("township2")
        )
    ).status_code == 200
    # Search by name prefix and by the full ID number.
    assert [
        v["name"]
        for v in (
            await http.get("/api/veterans", params={"q": "张"}, headers=county)
        ).json()["data"]
    ] == ["张伟"]
    by_id = (
        await http.get(
            "/api/veterans", params={"q": nanguan["id_number"]}, headers=county
        )
    ).json()
    assert by_id["count"] == 1
    with Session(seeded_engine) as s:
        audits = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "unmask_id_number", AuditEvent.actor == "county"
            )
        ).all()
        village_audits = s.exec(
            select(AuditEvent).where(
                AuditEvent.action == "unmask_id_number", AuditEvent.actor == "village"
            )
        ).all()
    assert len(audits) >= 5 + 1 + 1 and village_audits == []


async def test_registration_is_audited_with_the_number_masked(
    http, auth, seeded_engine
):
    body = new_veteran(
        seeded_engine,
        name="李娜",
        id_number=make_id_number("370102", date(1996, 9, 9), "247"),
        org_unit_id=unit_id(seeded_engine, "城关镇"),
    )
    r = await http.post("/api/veterans", json=body, headers=await auth("county"))
    assert r.status_code == 201, r.text
    # county_staff needs full numbers: the answer is unmasked.
    assert r.json()["id_number"] == body["id_number"]
    assert r.json()["id_number_masked"] is False
    with Session(seeded_engine) as s:
        row = s.exec(
            select(AuditEvent).where(AuditEvent.action == "veteran_created")
        ).one()
    assert row.actor == "county" and row.entity_id == str(r.json()["id"])
    assert row.after is not None and row.after["name"] == "李娜"
    assert (
        row.after["id_number"]
        == body["id_number"][:4] + "*" * 10 + body["id_number"][-4:]
    )


async def test_lowercase_x_is_stored_uppercase_and_found(http, auth, seeded_engine):
    number = next(
        n
        for seq in range(100, 1000)
        if (n := make_id_number("370102", date(1990, 4, 4), str(seq))).endswith("X")
    )
    body = new_veteran(seeded_engine, id_number=number.lower())
    r = await http.post("/api/veterans", json=body, headers=await auth("township"))
    assert r.status_code == 201, r.text
    county = await auth("county")
    found = await http.get(
        "/api/veterans", params={"q": number.lower()}, headers=county
    )
    assert [v["id_number"] for v in found.json()["data"]] == [number]
    # A fragment of an ID number finds nothing: only a name prefix or the whole number.
    part = await http.get("/api/veterans", params={"q": number[:6]}, headers=county)
    assert part.json()["count"] == 0


async def test_pages_of_the_registry(http, auth):
    county = await auth("county")
    first = (
        await http.get("/api/veterans", params={"limit": 2}, headers=county)
    ).json()
    rest = (
        await http.get(
            "/api/veterans", params={"limit": 2, "offset": 2}, headers=county
        )
    ).json()
    assert first["count"] == rest["count"] == 5
    assert len(first["data"]) == len(rest["data"]) == 2
    assert {v["id"] for v in first["data"]}.isdisjoint(v["id"] for v in rest["data"])
    too_many = await http.get("/api/veterans", params={"limit": 500}, headers=county)
    assert too_many.status_code == 422


async def test_org_units_are_the_callers_subtree(http, auth):
    village = await http.get("/api/org-units", headers=await auth("nvillage"))
    assert [u["name"] for u in village.json()] == ["南关村退役军人服务站"]
    county = (await http.get("/api/org-units", headers=await auth("county"))).json()
    assert county[0]["level"] == "county" and len(county) == 5
    assert all(u["path"].startswith(county[0]["path"]) for u in county)
