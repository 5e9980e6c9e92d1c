"""What the veteran's rating page (好差评, 003 §9.1.3) reads and records: the signed
link resolved to its ``rating_link`` row, the rating stored once, the refusals
audited, and the complaint a bad rating opens (003 §9.2.1 差评发现).

The link is the only credential (models/rating_link.py): no account, no session. A
link is refused when it is not ours or names no row (404), when its time is up or it
was used (410). Single use is the row's: the one ``UPDATE rating_link SET used_at``
that finds ``used_at`` still NULL wins, in the same transaction as the ``rating``
row, so two posts of one link cannot both be stored.

The rater stays unnamed to the rated: the ``rating`` row names the unit, step and
clerk, not the veteran; the audit rows name the veteran only as their actor id
(``veteran:<id>``) and carry no case id, so they do not show in the rated case's
trail; the complaint's confidential party (``complaint_party``) is written apart from
the workflow, and the rated clerk is recused from the complaint and kept from seeing
it (``case_exclusion``, reason ``rated_clerk``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import structlog
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client

from api.audit import record_audit
from api.complaint_start import start_complaint
from models.processes import complaint, spec_of
from models.processes.complaint import (
    BAD_GRADES,
    GRADE_LABELS,
    ComplaintCaseData,
)
from models.rating_link import RatingLinkExpired, RatingLinkInvalid, read_rating_link
from models.settings import Settings
from models.tables import (
    CaseExclusion,
    ComplaintParty,
    OrgUnit,
    Rating,
    RatingLink,
    Veteran,
    aware,
)

log = structlog.get_logger(__name__)

MAX_COMMENT = 500


@dataclass(frozen=True)
class Station:
    """The rated unit, and where to call: it or the nearest unit above with a phone."""

    name: str = ""
    phone: str = ""
    address: str = ""


@dataclass
class Refused(Exception):
    """A link the page does not honour: ``status`` 404 (not ours, no such link), 403
    (a cross-site post), 410 (expired, used); ``reason`` is what the audit records."""

    status: int
    reason: str
    link: RatingLink | None = None
    station: Station = field(default_factory=Station)


@dataclass(frozen=True)
class OpenRating:
    """A valid, unused link: what is rated, by whom it was served, where to call."""

    link: RatingLink
    subject: str  # the step's title, or the process's title for the case as a whole
    unit_name: str
    served_on: date  # the day the link was issued (the service's day), Beijing time
    station: Station


def _station(s: Session, unit_id: int) -> tuple[str, Station]:
    """The unit's name, and the unit or the nearest one above it with a phone."""
    unit = s.get(OrgUnit, unit_id)
    name = unit.name if unit else ""
    found = unit
    while found is not None and not found.phone:
        found = s.get(OrgUnit, found.parent_id) if found.parent_id else None
    found = found or unit
    if found is None:
        return name, Station()
    return name, Station(name=found.name, phone=found.phone, address=found.address)


def subject_of(link: RatingLink) -> str:
    """What the link rates: its step, else the whole case (the process's title)."""
    if link.step_title:
        return link.step_title
    spec = spec_of(link.process)
    return spec.title if spec is not None else link.process


def resolve(engine: Engine, settings: Settings, token: str) -> OpenRating:
    """The unused link ``token`` names, or ``Refused``."""
    try:
        link_id = read_rating_link(settings.secret_key, token)
        expired = False
    except RatingLinkExpired as exc:
        link_id, expired = exc.link_id, True
    except RatingLinkInvalid as exc:
        raise Refused(404, f"invalid: {exc}") from None
    with Session(engine) as s:
        link = s.get(RatingLink, link_id)
        if link is None:  # signed by us, yet naming no link
            raise Refused(404, "unknown_link")
        unit_name, station = _station(s, link.org_unit_id)
        if link.used_at is not None:
            raise Refused(410, "used", link, station)
        if expired or aware(link.expires_at) <= datetime.now(UTC):
            raise Refused(410, "expired", link, station)
        return OpenRating(
            link=link,
            subject=subject_of(link),
            unit_name=unit_name,
            served_on=aware(link.issued_at).astimezone(complaint.TZ).date(),
            station=station,
        )


def record_rating(engine: Engine, link: RatingLink, grade: str, comment: str) -> Rating:
    """Mark the link used and store its rating, in one transaction; ``Refused`` 410
    when another post used the link first (the conditional UPDATE found no row)."""
    now = datetime.now(UTC)
    with Session(engine) as s:
        won = s.execute(
            update(RatingLink)
            .where(col(RatingLink.id) == link.id, col(RatingLink.used_at).is_(None))
            .values(used_at=now)
        )
        if int(getattr(won, "rowcount", 0)) != 1:
            s.rollback()
            raise Refused(410, "used", link)
        rating = Rating(
            link_id=link.id,
            process=link.process,
            step=link.step,
            org_unit_id=link.org_unit_id,
            org_path=link.org_path,
            clerk=link.clerk,
            grade=grade,
            comment=comment,
            rated_at=now,
        )
        s.add(rating)
        try:
            s.flush()
        except IntegrityError:  # the unique link_id: a rating of this link exists
            s.rollback()
            raise Refused(410, "used", link) from None
        # No case id: the row must not show in the rated case's trail (its clerk
        # would read who rated); the actor id is the one name it carries.
        record_audit(
            s,
            actor=f"veteran:{link.veteran_id}",
            action="rating_recorded",
            entity_type="rating",
            entity_id=str(rating.id),
            after={
                "grade": grade,
                "process": link.process,
                "step": link.step,
                "org_unit_id": link.org_unit_id,
            },
        )
        s.commit()
        s.refresh(rating)
    log.info("rating_recorded", rating_id=rating.id, grade=grade)
    return rating


def pending_complaint(engine: Engine, link: RatingLink) -> Rating | None:
    """The bad rating of ``link`` whose complaint has not started yet (a start that
    failed before: the next post of the link retries it)."""
    with Session(engine) as s:
        rating = s.exec(select(Rating).where(Rating.link_id == link.id)).first()
    if rating is None or rating.grade not in BAD_GRADES or rating.complaint_case_id:
        return None
    return rating


def complaint_case_id(settings: Settings, rating: Rating) -> str:
    return f"{settings.case_id_prefix}complaint-r{rating.id}"


def _set_case(engine: Engine, rating_id: int, case_id: str) -> None:
    with Session(engine) as s:
        row = s.get(Rating, rating_id)
        if row is not None and row.complaint_case_id != case_id:
            row.complaint_case_id = case_id
            s.add(row)
            s.commit()


def _parties(engine: Engine, link: RatingLink) -> tuple[OrgUnit | None, Veteran | None]:
    with Session(engine) as s:
        return s.get(OrgUnit, link.org_unit_id), s.get(Veteran, link.veteran_id)


async def open_complaint(
    engine: Engine,
    temporal: Client,
    settings: Settings,
    link: RatingLink,
    rating: Rating,
) -> str:
    """A bad rating opens a complaint (channel ``rating``) at the unit that served (谁
    办理、谁负责, 003 §9.2.1), the rated clerk recused and kept from the case; the
    veteran is its confidential party. Idempotent by the case id (a retry starts
    nothing twice). Temporal not answering: 503 (``HTTPException``), the rating kept."""
    case_id = complaint_case_id(settings, rating)
    unit, veteran = await run_in_threadpool(_parties, engine, link)
    if unit is None:
        raise RuntimeError(f"rating link {link.id} names no org unit")
    label = GRADE_LABELS.get(rating.grade, rating.grade)
    data = ComplaintCaseData.model_validate(
        {
            "channel": "rating",
            "category": "other",
            "matter": rating.comment or label,
            "received_on": aware(rating.rated_at).astimezone(complaint.TZ).date(),
            "rating_id": rating.id,
            "grade": rating.grade,
            "rated_step_title": subject_of(link),
            "rated_clerk": link.clerk,
            "recused": [link.clerk] if link.clerk else [],
        }
    )
    party = ComplaintParty(
        case_id=case_id,
        veteran_id=link.veteran_id,
        # The party's columns are narrower than the registry's (50, 30 characters).
        name=veteran.name[:50] if veteran else "",
        phone=veteran.phone[:30] if veteran else "",
        id_number=veteran.id_number if veteran else "",
        rated_case_id=link.case_id,
    )
    exclusions = (
        [CaseExclusion(case_id=case_id, username=link.clerk, reason="rated_clerk")]
        if link.clerk
        else []
    )
    await start_complaint(
        engine,
        temporal,
        settings,
        case_id=case_id,
        started_by="system:rating",
        unit=unit,
        data=data,
        party=party,
        exclusions=exclusions,
    )
    await run_in_threadpool(_set_case, engine, rating.id or 0, case_id)
    log.info("rating_complaint_opened", rating_id=rating.id, case_id=case_id)
    return case_id


def audit_refusal(engine: Engine, refusal: Refused, address: str) -> None:
    """One ``rating_link_refused`` row: which link (when it names one), why, from
    where; no case id (see the module's docstring)."""
    link = refusal.link
    with Session(engine) as s:
        record_audit(
            s,
            actor=f"veteran:{link.veteran_id}" if link else "anonymous",
            action="rating_link_refused",
            entity_type="rating_link",
            entity_id=link.id if link else "unknown",
            after={"reason": refusal.reason, "address": address},
        )
        s.commit()
    log.info("rating_link_refused", reason=refusal.reason)
