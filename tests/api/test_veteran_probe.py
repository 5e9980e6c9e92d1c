"""A duplicate ID number answers one 409 wherever the existing record is registered (no
unit named), and each such probe is audited with the number masked."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from models.idnumber import mask_id_number
from models.tables import AuditEvent, OrgUnit, Veteran


def _vet_and_unit(engine, name: str) -> tuple[Veteran, OrgUnit]:
    with Session(engine) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == name)).one()
        unit = s.get(OrgUnit, vet.org_unit_id)
        assert unit is not None
        return vet, unit


async def test_duplicate_answer_reveals_no_unit_and_is_audited(
    http, auth, seeded_engine
):
    township = await auth("township")  # 城关镇: 东关村 is inside, 南关村 is not
    with Session(seeded_engine) as s:
        own_unit = s.exec(select(OrgUnit).where(OrgUnit.code == "sfx-cgz")).one()
    inside, inside_unit = _vet_and_unit(seeded_engine, "张伟")  # 东关村
    outside, outside_unit = _vet_and_unit(seeded_engine, "杨磊")  # 南关村
    assert inside_unit.path.startswith(own_unit.path)
    assert not outside_unit.path.startswith(own_unit.path)

    def body(id_number: str) -> dict[str, object]:
        return {
            "name": "某人",
            "id_number": id_number,
            "gender": "男",
            "phone": "13900000000",
            "category": "自主就业退役士兵",
            "org_unit_id": own_unit.id,
        }

    answers = []
    for vet in (inside, outside):
        r = await http.post("/api/veterans", json=body(vet.id_number), headers=township)
        assert r.status_code == 409
        answers.append(r.json())
    # One answer for both: nothing says where (or whether in my subtree) it is held.
    assert answers[0] == answers[1]
    text = json.dumps(answers[0], ensure_ascii=False)
    for unit in (inside_unit, outside_unit):
        assert unit.name not in text and unit.code not in text
        assert str(unit.id) not in text
    assert "南关" not in text and "东关" not in text
    # Each probe is in the trail: who, which number (masked), never the number itself.
    with Session(seeded_engine) as s:
        rows = s.exec(
            select(AuditEvent)
            .where(AuditEvent.action == "veteran_duplicate_probe")
            .order_by(AuditEvent.id)
        ).all()
    assert [(r.actor, r.entity_id) for r in rows] == [
        ("township", mask_id_number(inside.id_number)),
        ("township", mask_id_number(outside.id_number)),
    ]
    for r in rows:
        dumped = json.dumps([r.entity_id, r.before, r.after], ensure_ascii=False)
        assert inside.id_number not in dumped and outside.id_number not in dumped
        assert r.request_id  # tied to the request's log lines
    # Nothing was registered twice.
    with Session(seeded_engine) as s:
        for vet in (inside, outside):
            assert (
                len(
                    s.exec(
                        select(Veteran).where(Veteran.id_number == vet.id_number)
                    ).all()
                )
                == 1
            )
