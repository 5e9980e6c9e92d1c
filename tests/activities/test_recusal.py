"""回避 in the task activities (SQLite and PostgreSQL): a clerk recused from a case (the
rated clerk of a bad review, a reported person) is never routed its task as the absent
holder's B角, never reminded of it, and never told of it as a supervisor."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from activities.human_tasks import HumanTaskActivities, available_assignee
from models.contracts import TaskRecipientsInput
from models.tables import Account, OrgUnit


def _absent(engine: Engine, username: str) -> int:
    with Session(engine) as s:
        acc = s.exec(select(Account).where(Account.username == username)).one()
        acc.absent = True
        s.add(acc)
        s.commit()
        return acc.org_unit_id


def test_a_recused_clerk_is_neither_routed_nor_reminded(seeded_engine: Engine) -> None:
    # 东关村: village and village2 are each other's B角; village is the rated clerk.
    unit_id = _absent(seeded_engine, "village2")
    with Session(seeded_engine) as s:
        assert available_assignee(s, "village2") == "village"
        assert available_assignee(s, "village2", ["village"]) is None
        assert available_assignee(s, "village", ["village"]) is None
        assert s.get(OrgUnit, unit_id) is not None
    acts = HumanTaskActivities(seeded_engine)
    ask = TaskRecipientsInput(
        task_id="t.verify.1",
        assignee=None,
        candidate_role="village_staff",
        org_unit_id=unit_id,
    )
    assert acts.task_recipients(ask) == ["village"]
    assert acts.task_recipients(ask.model_copy(update={"excluded": ["village"]})) == []
