"""The case list's search box (GET /cases?q=...): it filters by part of the case number,
the veteran's name (prefix) and the veteran's whole ID number, which the list itself
shows masked; text that matches nothing lists nothing."""

from __future__ import annotations

import re

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.idnumber import mask_id_number
from models.tables import Case, OrgUnit, Veteran
from tests.api.page_login import page_login


def _seed_cases(engine: Engine) -> dict[str, Veteran]:
    """Two projection rows in 东关村 (张伟, 刘洋): the list reads the projection."""
    with Session(engine, expire_on_commit=False) as s:
        vets = {
            v.name: v
            for v in s.exec(
                select(Veteran).where(Veteran.name.in_(["张伟", "刘洋"]))
            ).all()
        }
        for number, name in (("search-0001", "张伟"), ("search-0002", "刘洋")):
            vet = vets[name]
            unit = s.get(OrgUnit, vet.org_unit_id)
            assert unit is not None
            s.add(
                Case(
                    id=number,
                    workflow_id=number,
                    process="return_home",
                    title="退役军人返乡报到",
                    veteran_id=vet.id or 0,
                    org_unit_id=unit.id or 0,
                    org_path=unit.path,
                    started_by="village",
                )
            )
        s.commit()
    return vets


def _listed(html: str) -> set[str]:
    return set(re.findall(r'href="/cases/(search-\d+)"', html))


async def test_search_box_filters_the_case_list(http, seeded_engine):
    vets = _seed_cases(seeded_engine)
    await page_login(http, "village")

    async def search(q: str) -> set[str]:
        r = await http.get("/cases", params={"q": q})
        assert r.status_code == 200
        return _listed(r.text)

    assert await search("") == {"search-0001", "search-0002"}
    assert await search("zzzznomatch") == set()
    # Part of the case number.
    assert await search("0002") == {"search-0002"}
    assert await search("search-") == {"search-0001", "search-0002"}
    # The veteran's name (prefix).
    assert await search("张") == {"search-0001"}
    assert await search(" 刘洋 ") == {"search-0002"}
    # The whole ID number, typed in lower case too; the list shows it masked.
    full = vets["刘洋"].id_number
    r = await http.get("/cases", params={"q": full.lower()})
    assert _listed(r.text) == {"search-0002"}
    table = r.text.split('id="cases-table"', 1)[1]  # the form echoes what was typed
    assert mask_id_number(full) in table and full not in table
    # A fragment of an ID number finds nothing (numbers are personal; whole only).
    assert await search(full[:10]) == set()
    # LIKE wildcards are plain characters.
    assert await search("%") == set()
    assert await search("search_0001") == set()
    # Another township's clerk does not see these cases, whatever the text.
    http.cookies.clear()
    await page_login(http, "township2")
    assert await search("search-") == set()
    assert await search(full) == set()
