"""Read side of a retired cadre's death and aftercare for the case page: the death
report (the sensitive 死亡原因 masked unless the reader's role unmasks, such reads
audited), the state of each urgent branch run in parallel, the benefit quote with its
components (``Aftercare.quote``, written by activities/aftercare.py), and the survivors
with their living allowance (``AftercareSurvivor``: ID numbers masked unless the role
unmasks, each unmasked read audited as the API's GET /api/cases/{id}/aftercare does).
The caller has checked that the case is the reader's to see
(api.case_queries.visible_case)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.audit import record_audit
from api.deps import AuthUser
from api.task_reads import AUDIT_ACTION
from api.web.aftercare_display import (
    FLAG_BASIS_LABELS,
    QuoteFigure,
    QuoteView,
    figure_shown,
    quote_view,
    summary_of_quote,
)
from api.web.diagram import branches, stages
from api.web.display import Shown, words
from api.web.loan_display import yuan
from models.aftercare_benefit import CAUSE_LABELS
from models.idnumber import mask_id_number
from models.process_spec import ProcessSpec
from models.processes.retiree_aftercare import RELATION_LABELS, DeathReportForm
from models.sensitive import mask_data
from models.tables import Aftercare, AftercareSurvivor, Case, HumanTask


def _(text: str) -> str:
    """Marks a text for the English catalog; the page translates it when shown."""
    return text


URGENT = "urgent"
# models.sensitive.MASK, and the allowance workflow's own stop reason: in words.
MASKED = _("已隐藏")
LAPSED = _("逾期未确认")
# Why the workflow skipped a branch's step (workflows/retiree_aftercare.py).
SKIP_REASONS = (_("无多发的离退休费"), _("本人无遗愿、家属未申请"))
BRANCH_LABELS = {
    "open": _("办理中"),
    "done": _("已完成"),
    "skipped": _("不适用"),
    "pending": _("未开始"),
}
BRANCH_BADGES = {
    "open": "current",
    "done": "done",
    "skipped": "none",
    "pending": "pending",
}
STEP_STATES = {
    "open": "current",
    "completed": "done",
    "skipped": "skipped",
    "withdrawn": "skipped",
    "cancelled": "skipped",
}
# A survivor's living allowance: not eligible, eligible (starts once the benefits
# are paid), paid monthly, or stopped (not confirmed, or no longer eligible).
ALLOWANCE_LABELS = {
    "not_eligible": _("不享受"),
    "none": _("待发放"),
    "active": _("发放中"),
    "stopped": _("已停发"),
}
ALLOWANCE_BADGES = {
    "not_eligible": "none",
    "none": "pending",
    "active": "current",
    "stopped": "overdue",
}
# The death report as the case page lists it, in the start form's order.
DEATH_TITLES = {
    "died_on": _("死亡日期"),
    "cause": _("死亡性质"),
    "place": _("死亡地点"),
    "reported_by": _("报告人"),
    "reporter_relation": _("与逝者关系"),
    "cause_detail": _("死亡原因"),
    "flag_basis": _("申请覆盖党旗/军旗"),
    "farewell_on": _("遗体告别日期"),
}


@dataclass
class BranchStep:
    key: str
    title: str
    state: str  # done | current | skipped | pending
    task: HumanTask | None = None


@dataclass
class Branch:
    """One urgent branch (004 §6.10: all at once): its steps and where it stands."""

    n: int
    key: str
    title: str
    state: str  # open | done | skipped | pending
    steps: list[BranchStep]
    last: HumanTask | None = None

    @property
    def label(self) -> str:
        return BRANCH_LABELS[self.state]

    @property
    def badge(self) -> str:
        return BRANCH_BADGES[self.state]


@dataclass
class SurvivorView:
    """A survivor as this reader may see them: the ID number masked unless the
    reader's role unmasks."""

    n: int
    name: str
    relation_label: str
    id_number: str
    id_masked: bool
    born_on: str
    status: str  # not_eligible | none | active | stopped
    monthly: str
    starts_on: str
    next_confirmation_at: datetime | None
    years_confirmed: int
    stopped_reason: str

    @property
    def label(self) -> str:
        return ALLOWANCE_LABELS.get(self.status, self.status)

    @property
    def badge(self) -> str:
        return ALLOWANCE_BADGES.get(self.status, "none")


@dataclass
class AftercareView:
    """What the case page shows of a retired cadre's death and aftercare."""

    death: list[Shown]
    death_hidden: list[str]  # fields of the report hidden from this reader
    branches: list[Branch]
    quote: QuoteView | None = None
    quote_round: int | None = None
    overpayment: str = ""
    recovery: str = ""
    benefit_total: str = ""
    paid_reference: str = ""
    survivors: list[SurvivorView] = field(default_factory=list)
    survivors_masked: bool = False


def death_report(
    data: dict[str, Any], unmask: bool
) -> tuple[list[Shown], list[str], list[str]]:
    """The death report in words, the fields hidden from this reader and those shown
    to it in full (sensitive: 死亡原因)."""
    given = {k: v for k, v in data.items() if v not in (None, "", False)}
    masked, paths = mask_data(DeathReportForm.model_json_schema(), given)
    shown_data = given if unmask else masked
    out: list[Shown] = []
    for key, title in DEATH_TITLES.items():
        value = shown_data.get(key)
        if key == "flag_basis":
            if not data.get("flag_covering_requested"):
                continue
            value = FLAG_BASIS_LABELS.get(str(value), words(value))
        elif key == "cause":
            value = CAUSE_LABELS.get(str(value), words(value))
        elif value is None:
            continue
        out.append(Shown(key, title, text=words(value)))
    return out, ([] if unmask else paths), (paths if unmask else [])


def urgent_branches(spec: ProcessSpec, tasks: list[HumanTask]) -> list[Branch]:
    """The urgent group's branches, each with its steps' latest state: open while a
    step of it is open, not applicable when its only rows are skipped (no flag
    covering requested), done once worked and nothing is open."""
    stage = next(
        (s for s in stages(spec) if spec.step(s[0]).group == URGENT and len(s) > 1),
        [],
    )
    latest: dict[str, HumanTask] = {}
    for t in tasks:  # in creation order: the latest row of a step wins
        if t.step in stage:
            latest[t.step] = t
    out: list[Branch] = []
    for n, chain in enumerate(branches(spec, stage), start=1):
        steps = [
            BranchStep(
                key,
                spec.step(key).title,
                STEP_STATES.get(latest[key].status, "pending")
                if key in latest
                else "pending",
                latest.get(key),
            )
            for key in chain
        ]
        rows = [s.task for s in steps if s.task is not None]
        if any(t.status == "open" for t in rows):
            state = "open"
        elif not rows:
            state = "pending"
        elif steps[0].state == "skipped":
            state = "skipped"
        else:
            state = "done"
        last = max(rows, key=lambda t: t.created_at) if rows else None
        out.append(Branch(n, chain[0], spec.step(chain[0]).title, state, steps, last))
    return out


def _survivor(row: AftercareSurvivor, unmask: bool) -> SurvivorView:
    status = row.allowance_status if row.allowance_eligible else "not_eligible"
    return SurvivorView(
        n=row.n,
        name=row.name,
        relation_label=RELATION_LABELS.get(row.relation, row.relation),
        id_number=row.id_number if unmask else mask_id_number(row.id_number),
        id_masked=not unmask,
        born_on=row.born_on.isoformat(),
        status=status,
        monthly=yuan(row.monthly) if row.monthly else "",
        starts_on=row.allowance_starts_on.isoformat()
        if row.allowance_starts_on
        else "",
        next_confirmation_at=row.next_confirmation_at,
        years_confirmed=row.years_confirmed,
        stopped_reason=row.stopped_reason,
    )


def case_aftercare(
    engine: Engine,
    case: Case,
    spec: ProcessSpec,
    tasks: list[HumanTask],
    user: AuthUser,
    unmask: bool,
) -> AftercareView:
    """The case's death, branches, quote and survivors as ``user`` may see them; the
    full ID numbers and 死亡原因 shown to a role that unmasks are audited (one row
    per survivor, one for the report)."""
    death, hidden, revealed = death_report(case.data or {}, unmask)
    with Session(engine, expire_on_commit=False) as s:
        row = s.get(Aftercare, case.id)
        survivors = list(
            s.exec(
                select(AftercareSurvivor)
                .where(AftercareSurvivor.case_id == case.id)
                .order_by(col(AftercareSurvivor.n))
            ).all()
        )
        if unmask:
            for sv in survivors:
                record_audit(
                    s,
                    actor=user.username,
                    action="unmask_id_number",
                    entity_type="aftercare_survivor",
                    entity_id=f"{case.id}:{sv.n}",
                    case_id=case.id,
                )
        if revealed:
            record_audit(
                s,
                actor=user.username,
                action=AUDIT_ACTION,
                entity_type="case",
                entity_id=case.id,
                case_id=case.id,
                after={"fields": revealed},
            )
        s.commit()
    view = AftercareView(
        death=death,
        death_hidden=hidden,
        branches=urgent_branches(spec, tasks),
        survivors=[_survivor(sv, unmask) for sv in survivors],
        survivors_masked=not unmask,
    )
    if row is not None:
        view.quote = quote_view(summary_of_quote(row.quote)) if row.quote else None
        view.quote_round = row.quote_round
        view.overpayment = yuan(row.overpayment) if row.overpayment else ""
        view.recovery = row.recovery
        view.benefit_total = yuan(row.benefit_total) if row.benefit_total else ""
        view.paid_reference = row.paid_reference
    return view


def quote_figures(
    engine: Engine, case_id: str, context: dict[str, Any]
) -> list[QuoteFigure]:
    """The reference figures (value, version, source) of the quote a task's context
    summarises: those the case's stored quote used, when it is that quote (the same
    lump sum and total; a later round's plan is another quote)."""
    with Session(engine) as s:
        row = s.get(Aftercare, case_id)
    if row is None or not row.quote:
        return []
    stored = summary_of_quote(row.quote)
    same = all(str(stored.get(k)) == str(context.get(k)) for k in ("lump_sum", "total"))
    return [figure_shown(f) for f in stored["figures"]] if same else []
