"""Two demo complaints for `vetflow dev`, so the complaint loop shows in the inboxes:

- a bad rating at 东关村: 刘洋 rated the home visit of his return-home case (done by
  ``village``, 吴信息员) 非常不满意 — the rating link and the rating stored as the
  rating page stores them (models/tables.RatingLink, Rating), the complaint started
  at the station as the rating page starts it (api/complaint_start.start_complaint:
  channel ``rating``, the rated clerk recused and kept from the case, 刘洋 the
  confidential party). 问题核实 waits for ``village2`` (003 §9.2.1);
- a petition at the county (信访, 申诉求决) from a petitioner who is not on the
  register: 决定是否受理 waits for the county's staff (信访工作条例 第二十三条).

Both have fixed ids, so a second start of the demo starts nothing twice.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.complaint_start import start_complaint
from models.processes import complaint
from models.processes.complaint import ComplaintCaseData, matter_key
from models.processes.return_home import PROCESS_KEY as RETURN_HOME
from models.settings import Settings
from models.tables import (
    CaseExclusion,
    ComplaintParty,
    HumanTask,
    OrgUnit,
    Rating,
    RatingLink,
    Veteran,
)

log = structlog.get_logger(__name__)

RATER = "刘洋"  # the village demo case's veteran
RATED_STEP = "home_visit"
RATED_GRADE = "very_dissatisfied"
RATED_COMMENT = "走访时间一再推迟，电话也没人回复"
PETITIONER = {"name": "王建华", "phone": "13700001234"}
PETITION_MATTER = "申请的优待证至今未办结，多次询问没有答复"


def _rate(engine: Engine, prefix: str) -> tuple[Rating, RatingLink, Veteran] | None:
    """The home visit's rating link and its 非常不满意 rating, written once (the link's
    id is the task's, as the workflow issues it); None before the visit is done."""
    with Session(engine, expire_on_commit=False) as s:
        vet = s.exec(select(Veteran).where(Veteran.name == RATER)).first()
        if vet is None:
            return None
        task = s.get(HumanTask, f"{prefix}{RETURN_HOME}-v{vet.id}.{RATED_STEP}.1")
        if task is None or task.status != "completed" or not task.completed_by:
            return None
        link = s.get(RatingLink, task.id)
        if link is None:
            now = datetime.now(UTC)
            link = RatingLink(
                id=task.id,
                case_id=task.case_id,
                task_id=task.id,
                step=task.step,
                step_title=task.title,
                process=task.process,
                org_unit_id=task.org_unit_id,
                org_path=task.org_path,
                clerk=task.completed_by,
                veteran_id=vet.id or 0,
                issued_at=now,
                expires_at=now + timedelta(days=30),
                used_at=now,
            )
            s.add(link)
        rating = s.exec(select(Rating).where(Rating.link_id == link.id)).first()
        if rating is None:
            rating = Rating(
                link_id=link.id,
                process=link.process,
                step=link.step,
                org_unit_id=link.org_unit_id,
                org_path=link.org_path,
                clerk=link.clerk,
                grade=RATED_GRADE,
                comment=RATED_COMMENT,
            )
            s.add(rating)
        s.flush()
        rating.complaint_case_id = f"{prefix}complaint-r{rating.id}"
        s.add(rating)
        s.commit()
        return rating, link, vet


def _unit(engine: Engine, unit_id: int | None = None, level: str = "") -> OrgUnit:
    with Session(engine) as s:
        if unit_id is not None:
            unit = s.get(OrgUnit, unit_id)
        else:
            unit = s.exec(select(OrgUnit).where(OrgUnit.level == level)).first()
        if unit is None:
            raise RuntimeError(f"demo org unit {unit_id or level} is missing")
        return unit


async def start_demo_complaints(
    engine: Engine, client: Client, settings: Settings
) -> list[str]:
    """Start the two demo complaints (those not started yet); their case ids."""
    ids: list[str] = []
    rated = await run_in_threadpool(_rate, engine, settings.case_id_prefix)
    if rated is None:
        log.warning("demo_rating_skipped", reason="the home visit is not done")
    else:
        rating, link, vet = rated
        case_id = rating.complaint_case_id or ""
        await start_complaint(
            engine,
            client,
            settings,
            case_id=case_id,
            started_by="system:rating",
            unit=await run_in_threadpool(_unit, engine, link.org_unit_id),
            data=ComplaintCaseData(
                channel="rating",
                category="efficiency",
                matter=RATED_COMMENT,
                received_on=datetime.now(complaint.TZ).date(),
                rating_id=rating.id,
                grade="very_dissatisfied",
                rated_step_title=link.step_title,
                rated_clerk=link.clerk,
                recused=[link.clerk],
            ),
            party=ComplaintParty(
                case_id=case_id,
                veteran_id=vet.id,
                name=vet.name,
                phone=vet.phone,
                id_number=vet.id_number,
                rated_case_id=link.case_id,
            ),
            exclusions=[
                CaseExclusion(
                    case_id=case_id, username=link.clerk, reason="rated_clerk"
                )
            ],
        )
        ids.append(case_id)
    county = await run_in_threadpool(_unit, engine, None, "county")
    case_id = f"{settings.case_id_prefix}complaint-demo-petition"
    identity = {
        "complainant_name": PETITIONER["name"],
        "complainant_phone": PETITIONER["phone"],
    }
    await start_complaint(
        engine,
        client,
        settings,
        case_id=case_id,
        started_by="county",
        unit=county,
        data=ComplaintCaseData(
            channel="petition",
            kind="claim",
            category="benefits",
            matter=PETITION_MATTER,
            received_on=datetime.now(complaint.TZ).date(),
            matter_key=matter_key(identity, "benefits", county.id or 0),
        ),
        party=ComplaintParty(
            case_id=case_id, name=PETITIONER["name"], phone=PETITIONER["phone"]
        ),
    )
    ids.append(case_id)
    log.info("demo_complaints_ready", case_ids=ids)
    return ids
