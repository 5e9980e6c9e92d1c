"""The pages of a retired cadre's death and aftercare through FastAPI's whole stack,
from seeded projection rows (Case, HumanTask, Aftercare with its quote,
AftercareSurvivor): the case page shows the death report (死亡原因 masked unless the
role unmasks), the urgent branches' state, the benefit quote's components (元 with two
places) and the survivors with their allowance, ID numbers masked unless the role
unmasks (each unmasked read audited); the approver's task page shows the quote and
who reviewed it; the diagram draws the urgent steps as parallel branches; a reader
outside the case's subtree gets 404. In Chinese and in English."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.aftercare_queries import urgent_branches
from api.web.aftercare_display import aftercare_task_view, percent, quote_view
from api.web.diagram import diagram_svg, step_states
from models.aftercare_benefit import (
    RULE_TEXT,
    BenefitQuote,
    BenefitQuoteInput,
    Figure,
    lump_sum,
    total_of,
)
from models.idnumber import make_id_number, mask_id_number
from models.processes.retiree_aftercare import SPEC
from models.tables import (
    Aftercare,
    AftercareSurvivor,
    AuditEvent,
    Case,
    HumanTask,
    OrgUnit,
    Veteran,
)
from tests.api.page_login import page_login
from workflows.retiree_aftercare import _quote_summary

T0 = datetime(2025, 3, 12, 1, 0, tzinfo=UTC)
DIED_ON = date(2025, 3, 10)
INCOME = Figure(
    kind="national_income",
    value=Decimal("54188.00"),
    year=2024,
    version="national_income@2024",
    source="国家统计局 2024年国民经济和社会发展统计公报",
)
ENSIGN = Figure(
    kind="ensign_base_pay",
    value=Decimal("3500.00"),
    effective_from=date(2020, 1, 1),
    version="ensign_base_pay@2020-01-01",
    source="演示数据",
)
FUNERAL = Figure(
    kind="funeral_grant",
    value=Decimal("20000.00"),
    effective_from=date(2020, 1, 1),
    version="funeral_grant@2020-01-01",
    source="演示数据",
)
ALLOWANCE = Figure(
    kind="survivor_allowance",
    value=Decimal("1500.00"),
    effective_from=date(2020, 1, 1),
    version="survivor_allowance@2020-01-01",
    source="演示数据",
)
OFFSET = Decimal("11000.00")
DEATH = {
    "died_on": DIED_ON.isoformat(),
    "cause": "illness",
    "place": "示范县人民医院",
    "reported_by": "黄小明",
    "reporter_relation": "儿子",
    "cause_detail": "肺癌晚期并发呼吸衰竭",
    "flag_covering_requested": True,
    "flag_basis": "wish",
    "farewell_on": "2025-03-15",
}
SPOUSE = make_id_number("370102", date(1952, 5, 1), "024")
SON = make_id_number("370102", date(1978, 9, 9), "031")
MOTHER = make_id_number("370102", date(1930, 1, 2), "042")


def quote(base_pay: str = "8000.00", honours: list[Any] | None = None) -> BenefitQuote:
    """The issue's worked example: illness, income 54,188 元 (2024), base pay
    8,000 元, a second-class merit: (2 × 54,188 + 40 × 8,000) × 1.15 = 492,632.40."""
    inp = BenefitQuoteInput(
        cause="illness",
        death_date=DIED_ON,
        monthly_base_pay=Decimal(base_pay),
        honours=["third_class_war_merit_or_second_class_merit"]
        if honours is None
        else honours,
    )
    lump = lump_sum(inp, INCOME, ENSIGN)
    return BenefitQuote(
        lump_sum=lump,
        funeral_grant=FUNERAL.value,
        survivor_allowance_monthly=ALLOWANCE.value,
        overpayment_offset=OFFSET,
        total=total_of(lump, FUNERAL, OFFSET),
        figures=[INCOME, ENSIGN, FUNERAL, ALLOWANCE],
    )


def _death_summary() -> dict[str, Any]:
    return {
        "died_on": DEATH["died_on"],
        "cause": "illness",
        "cause_label": "病故",
        "place": DEATH["place"],
        "reported_by": DEATH["reported_by"],
        "reporter_relation": DEATH["reporter_relation"],
    }


def _county(engine: Engine) -> OrgUnit:
    with Session(engine) as s:
        return s.exec(select(OrgUnit).where(OrgUnit.level == "county")).one()


def _task(
    case_id: str,
    unit: OrgUnit,
    step: str,
    n: int,
    status: str,
    context: dict[str, Any] | None = None,
    **extra: Any,
) -> HumanTask:
    st = SPEC.step(step)
    return HumanTask(
        id=f"{case_id}.{step}.1",
        case_id=case_id,
        workflow_id=case_id,
        process=SPEC.key,
        step=step,
        title=st.title,
        regulation=st.clause,
        candidate_role=st.role,
        org_unit_id=unit.id or 0,
        org_path=unit.path,
        status=status,
        created_at=T0 + timedelta(minutes=n),
        outcomes=list(st.outcomes),
        form_schema=st.form.model_json_schema(),
        context=context or {},
        **extra,
    )


def _done(
    case_id: str,
    unit: OrgUnit,
    step: str,
    n: int,
    outcome: str,
    by: str,
    result: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
) -> HumanTask:
    return _task(
        case_id,
        unit,
        step,
        n,
        "completed",
        context,
        outcome=outcome,
        completed_by=by,
        completed_at=T0 + timedelta(minutes=n, seconds=30),
        result=result or {},
    )


def seed_aftercare(engine: Engine, case_id: str) -> dict[str, str]:
    """黄建国's death from illness at the county: the urgent branches worked (the
    overpayment offset against the benefits; the flag covering requested and
    approved), three survivors (his wife on the allowance, his son not eligible,
    his mother's allowance stopped, unconfirmed), the benefits reviewed by ``county``
    and awaiting a leader's approval. Answers the ids of the review and approval."""
    unit = _county(engine)
    q = quote()
    review_context = {
        **_death_summary(),
        "claim_task": f"{case_id}.benefit_claim.1",
        **_quote_summary(q),
    }
    with Session(engine) as s:
        vid = s.exec(select(Veteran).where(Veteran.name == "黄建国")).one().id or 0
        s.add(
            Case(
                id=case_id,
                workflow_id=case_id,
                process=SPEC.key,
                title=SPEC.title,
                veteran_id=vid,
                org_unit_id=unit.id or 0,
                org_path=unit.path,
                status="benefits_approval",
                started_by="county",
                started_at=T0,
                data=DEATH,
            )
        )
        survivors = [
            ("王秀兰", SPOUSE, "spouse", date(1952, 5, 1), True),
            ("黄小明", SON, "child", date(1978, 9, 9), False),
            ("李桂英", MOTHER, "parent", date(1930, 1, 2), True),
        ]
        tasks = [
            _done(case_id, unit, "report_to_bureau", 1, "reported", "county"),
            _done(case_id, unit, "stop_pension", 2, "done", "finance"),
            _done(case_id, unit, "condolence_visit", 3, "done", "county2"),
            _done(case_id, unit, "obituary", 4, "submitted", "county"),
            _done(case_id, unit, "flag_covering", 5, "approved", "leader"),
            _done(
                case_id,
                unit,
                "survivor_determination",
                6,
                "determined",
                "county",
                result={
                    "survivors": [
                        {
                            "name": name,
                            "id_number": idn,
                            "relation": rel,
                            "born_on": born.isoformat(),
                            "allowance_eligible": eligible,
                        }
                        for name, idn, rel, born, eligible in survivors
                    ]
                },
            ),
            _done(case_id, unit, "recover_overpayment", 7, "offset", "finance"),
            _done(case_id, unit, "obituary_approval", 8, "approve", "leader2"),
            _done(case_id, unit, "benefit_claim", 9, "submitted", "county"),
            _done(
                case_id,
                unit,
                "benefit_review",
                10,
                "approve",
                "county",
                context=review_context,
            ),
            _task(
                case_id,
                unit,
                "benefit_approval",
                11,
                "open",
                {**review_context, "reviewed_by": "county"},
            ),
        ]
        ids = {"review": tasks[-2].id, "approval": tasks[-1].id}
        s.add_all(tasks)
        s.add(
            Aftercare(
                case_id=case_id,
                veteran_id=vid,
                stage="survivors_determined",
                died_on=DIED_ON,
                cause="illness",
                overpayment="11000.00",
                recovery="offset",
                quote_round=1,
                quote=q.model_dump(mode="json"),
                updated_at=T0,
            )
        )
        for n, (name, idn, rel, born, eligible) in enumerate(survivors, start=1):
            s.add(
                AftercareSurvivor(
                    case_id=case_id,
                    n=n,
                    name=name,
                    id_number=idn,
                    relation=rel,
                    born_on=born,
                    allowance_eligible=eligible,
                    monthly="1500.00" if eligible else None,
                    allowance_starts_on=date(2025, 4, 1) if eligible else None,
                    allowance_status={1: "active", 3: "stopped"}.get(n, "none"),
                    next_confirmation_at=T0 + timedelta(days=365) if n == 1 else None,
                    stopped_reason="逾期未确认" if n == 3 else "",
                    years_confirmed=1 if n == 1 else 0,
                )
            )
        s.commit()
    return ids


def _section(page: str, id_: str, tag: str = "section|div|table|dl") -> str:
    found = re.search(rf'id="{id_}".*?</({tag})>', page, re.S)
    assert found, f"no #{id_} in the page"
    return found.group(0)


def _audits(engine: Engine, case_id: str, actor: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(
            s.exec(
                select(AuditEvent)
                .where(AuditEvent.case_id == case_id, AuditEvent.actor == actor)
                .order_by(col(AuditEvent.id))
            ).all()
        )


# --- in words ------------------------------------------------------------------------


def test_the_quote_in_components() -> None:
    view = quote_view({**_quote_summary(quote()), "cause": "illness"})
    assert view is not None
    lines = {ln.key: ln for ln in view.lines}
    assert lines["income"].formula == "54,188.00 × 2"
    assert lines["income"].amount == "108,376.00"
    assert lines["income"].args == {"year": 2024, "n": 2}
    assert lines["income"].note == "病故"
    assert lines["base_pay"].formula == "8,000.00 × 40"
    assert lines["base_pay"].amount == "320,000.00" and not lines["base_pay"].note
    assert lines["subtotal"].amount == "428,376.00"
    assert lines["increment"].formula == "428,376.00 × 15%"
    assert lines["increment"].amount == "64,256.40"
    assert lines["increment"].note == "立三等战功或二等功"
    assert lines["lump_sum"].amount == "492,632.40"
    assert lines["funeral_grant"].amount == "20,000.00"
    assert (lines["overpayment_offset"].amount, lines["overpayment_offset"].kind) == (
        "11,000.00",
        "minus",
    )
    assert lines["total"].amount == view.total == "501,632.40"
    assert lines["survivor_allowance"].amount == "1,500.00"
    assert view.rule_text == RULE_TEXT

    # A base pay below the 少尉 standard counts as that standard; no honour.
    floored = quote_view(_quote_summary(quote("3000.00", honours=[])))
    assert floored is not None and floored.floor_applied
    base = floored.line("base_pay")
    assert base and base.formula == "3,500.00 × 40" and base.label.startswith("少尉")
    assert "少尉标准" in base.note
    increment = floored.line("increment")
    assert increment and increment.amount == "0.00" and not increment.formula
    assert percent("0.05") == "5%" and percent("0.40") == "40%"
    assert quote_view(_death_summary()) is None  # no quote in the context yet


def test_the_approvers_context_in_words() -> None:
    context = {**_death_summary(), **_quote_summary(quote()), "reviewed_by": "county"}
    context["claim_task"] = "c.benefit_claim.1"
    view = aftercare_task_view("benefit_approval", context)
    facts = {f.name: f for f in view.facts}
    assert facts["cause"].text == "病故"
    assert facts["reviewed_by"].title == "审核人"
    assert facts["reviewed_by"].actor == "county"
    assert facts["claim_task"].link == "c.benefit_claim.1"
    assert view.quote and view.quote.total == "501,632.40"
    # The quote's keys are the quote's: nothing is left to the generic list.
    assert view.rest == {}
    assert [f.name for f in view.facts][:2] == ["died_on", "cause"]
    # The claim (no quote yet): the offset and the survivors in words.
    claim = aftercare_task_view(
        "benefit_claim",
        {
            "overpayment_offset": "11000.00",
            "survivors": [
                {
                    "name": "王秀兰",
                    "relation": "spouse",
                    "relation_label": "配偶",
                    "born_on": "1952-05-01",
                    "allowance_eligible": True,
                }
            ],
        },
    )
    shown = {f.name: f for f in claim.facts}
    assert claim.quote is None and shown["overpayment_offset"].text == "11,000.00"
    assert shown["survivors"].rows == [["王秀兰", "配偶", "1952-05-01", "是"]]


def test_the_diagram_draws_the_urgent_steps_as_parallel_branches() -> None:
    svg = diagram_svg(
        SPEC, step_states(SPEC, [("report_to_bureau", "completed")]), None
    )
    assert 'class="parallel" data-group="urgent"' in svg
    at = {
        key: (int(x), int(y))
        for key, x, y in re.findall(
            r'data-step="(\w+)"[^>]*><rect x="(\d+)" y="(\d+)"', svg
        )
    }
    heads = [
        "stop_pension",
        "condolence_visit",
        "obituary",
        "flag_covering",
        "survivor_determination",
    ]
    # The five branches start side by side, below the report to the bureau.
    assert len({at[k][1] for k in heads}) == 1
    assert at["report_to_bureau"][1] < at["stop_pension"][1]
    assert len({at[k][0] for k in heads}) == 5
    # Each branch goes on down its own column.
    for first, then in (
        ("stop_pension", "recover_overpayment"),
        ("recover_overpayment", "waiver_approval"),
        ("obituary", "obituary_approval"),
    ):
        assert at[then][0] == at[first][0] and at[then][1] > at[first][1]
    for n, key in enumerate(heads, start=1):
        assert f'data-step="{key}" data-state="pending" data-branch="{n}"' in svg
    # The ways back within a branch, and the benefits' after it.
    for source, target in (
        ("waiver_approval", "recover_overpayment"),
        ("obituary_approval", "obituary"),
        ("benefit_approval", "benefit_review"),
    ):
        assert f'data-from="{source}" data-to="{target}"' in svg
    assert at["benefit_claim"][1] > at["waiver_approval"][1]


def test_a_branch_is_open_done_not_applicable_or_not_started() -> None:
    def row(step: str, status: str, n: int) -> HumanTask:
        return HumanTask(
            id=f"c.{step}.{n}",
            case_id="c",
            workflow_id="c",
            process=SPEC.key,
            step=step,
            title=SPEC.step(step).title,
            candidate_role="county_staff",
            org_unit_id=1,
            status=status,
            created_at=T0 + timedelta(minutes=n),
        )

    rows = [
        row("stop_pension", "completed", 1),
        row("obituary", "completed", 2),
        row("flag_covering", "skipped", 3),
        row("recover_overpayment", "open", 4),
        row("obituary_approval", "completed", 5),
    ]
    states = {b.key: b.state for b in urgent_branches(SPEC, rows)}
    assert states == {
        "stop_pension": "open",
        "condolence_visit": "pending",
        "obituary": "done",
        "flag_covering": "skipped",
        "survivor_determination": "pending",
    }
    first = urgent_branches(SPEC, rows)[0]
    assert [s.state for s in first.steps] == ["done", "current", "pending"]


# --- the pages -----------------------------------------------------------------------


async def test_the_case_page_shows_the_death_branches_quote_and_survivors(
    http, settings, seeded_engine
) -> None:
    """``county`` (a role that sees full ID numbers): the numbers and 死亡原因 in
    full, each such read audited."""
    case_id = f"{settings.case_id_prefix}retiree_aftercare-v5"
    seed_aftercare(seeded_engine, case_id)
    await page_login(http, "county")
    r = await http.get(f"/cases/{case_id}")
    assert r.status_code == 200, r.text[-2000:]
    page = r.text

    death = _section(page, "death-report")
    for text in (
        "2025-03-10",
        "病故",
        "示范县人民医院",
        "黄小明",
        "肺癌晚期并发呼吸衰竭",  # shown to this role in full
        "本人遗愿",
        "2025-03-15",
        "11,000.00 · 从待遇中抵扣",
    ):
        assert text in death, text

    branches = _section(page, "aftercare-branches", "table")
    states = re.findall(r'data-branch="(\w+)" data-state="(\w+)"', branches)
    assert states == [
        ("stop_pension", "done"),
        ("condolence_visit", "done"),
        ("obituary", "done"),
        ("flag_covering", "done"),
        ("survivor_determination", "done"),
    ]
    assert "收回多发的离退休费" in branches and "从待遇中抵扣" in branches
    assert "孙会计" in branches  # finance settled the overpayment

    benefits = _section(page, "case-benefit-quote", "div")
    cells = dict(
        re.findall(r'data-line="(\w+)".*?class="amount">([^<]+)<', benefits, re.S)
    )
    assert cells == {
        "income": "108,376.00",
        "base_pay": "320,000.00",
        "subtotal": "428,376.00",
        "increment": "64,256.40",
        "lump_sum": "492,632.40",
        "funeral_grant": "20,000.00",
        "overpayment_offset": "−11,000.00",
        "total": "501,632.40",
        "survivor_allowance": "1,500.00",
    }
    for text in (
        "上一年度(2024年)全国城镇居民人均可支配收入 × 2",
        "54,188.00 × 2",
        "本人月基本工资 × 40",
        "荣誉增发 15%",
        "立三等战功或二等功",
        "501,632.40 元",
        "national_income",
        "国家统计局 2024年国民经济和社会发展统计公报",
    ):
        assert text in benefits, text
    assert 'data-floor="no"' in benefits

    survivors = _section(page, "aftercare-survivors", "table")
    rows = re.findall(
        r'data-survivor="(\d)" data-allowance="(\w+)">.*?data-masked="(\w+)">([^<]+)<',
        survivors,
        re.S,
    )
    assert rows == [
        ("1", "active", "no", SPOUSE),
        ("2", "not_eligible", "no", SON),
        ("3", "stopped", "no", MOTHER),
    ]
    for text in ("配偶", "子女", "父母(抚养人)", "发放中", "已停发", "逾期未确认"):
        assert text in survivors, text
    assert "自2025-04-01起" in survivors and "1,500.00" in survivors
    assert "survivors-masked-note" not in page

    # One audit row per survivor shown in full, and one for the report's 死亡原因.
    audits = _audits(seeded_engine, case_id, "county")
    unmasked = [a.entity_id for a in audits if a.action == "unmask_id_number"]
    assert unmasked == [f"{case_id}:{n}" for n in (1, 2, 3)]
    report = [
        a for a in audits if a.action == "unmask_task_data" and a.entity_type == "case"
    ]
    assert len(report) == 1 and report[0].after == {"fields": ["cause_detail"]}

    # The diagram: the urgent steps as parallel branches.
    assert 'data-group="urgent"' in page

    # In English too.
    en = html.unescape(
        (await http.get(f"/cases/{case_id}", headers={"Accept-Language": "en"})).text
    )
    for text in (
        "Death report",
        "Died of illness",
        "Urgent matters (in parallel)",
        "Benefits computed",
        "Lump-sum death benefit",
        "Previous year's (2024) national urban per-capita disposable income × 2",
        "Spouse",
        "Stopped",
        "Not confirmed in time",
        "Survivors and their living allowance",
    ):
        assert text in en, text


async def test_a_role_that_may_not_unmask_sees_the_numbers_masked(
    http, settings, seeded_engine
) -> None:
    case_id = f"{settings.case_id_prefix}retiree_aftercare-v6"
    seed_aftercare(seeded_engine, case_id)
    await page_login(http, "leader")
    page = (await http.get(f"/cases/{case_id}")).text
    survivors = _section(page, "aftercare-survivors", "table")
    shown = re.findall(r'data-masked="(\w+)">([^<]+)<', survivors)
    assert shown == [("yes", mask_id_number(n)) for n in (SPOUSE, SON, MOTHER)]
    assert 'id="survivors-masked-note"' in page
    # Nowhere in the page in full: not in the survivors, not in the determination's
    # data, nor the 死亡原因.
    for number in (SPOUSE, SON, MOTHER):
        assert number not in page
    assert "肺癌" not in page
    death = _section(page, "death-report")
    assert 'data-field="cause_detail">已隐藏<' in death
    assert 'id="death-masked-note"' in death
    assert not [
        a
        for a in _audits(seeded_engine, case_id, "leader")
        if a.action.startswith("unmask")
    ]


async def test_the_approver_reads_the_quote_and_who_reviewed_it(
    http, settings, seeded_engine
) -> None:
    case_id = f"{settings.case_id_prefix}retiree_aftercare-v7"
    ids = seed_aftercare(seeded_engine, case_id)
    await page_login(http, "leader")
    page = (await http.get(f"/tasks/{ids['approval']}")).text
    table = _section(page, "task-benefit-quote", "div")
    assert "492,632.40" in table and "501,632.40 元" in table
    assert "8,000.00 × 40" in table and "428,376.00 × 15%" in table
    # The figures the quote used, with their versions and sources.
    assert re.findall(r'data-figure="(\w+)"', table) == [
        "national_income",
        "ensign_base_pay",
        "funeral_grant",
        "survivor_allowance",
    ]
    assert "national_income@2024" in table and INCOME.source in table
    context = _section(page, "task-context", "dl")
    assert "审核人" in context and "赵科员" in context  # county, by name
    assert "病故" in context and "illness" not in context
    assert "income_multiplier" not in page and "rule_text" not in context
    note = re.search(r'<p id="four-eyes-note".*?</p>', page, re.S)
    assert note and "抚恤待遇审核" in note.group(0) and "赵科员" in note.group(0)

    en = (
        await http.get(f"/tasks/{ids['approval']}", headers={"Accept-Language": "en"})
    ).text
    table = _section(en, "task-benefit-quote", "div")
    for text in ("Funeral grant", "Offset of pension overpaid", "Total payable"):
        assert text in table, text
    assert "Reviewed by" in _section(en, "task-context", "dl")


async def test_an_aftercare_case_outside_the_readers_subtree_is_not_found(
    http, settings, seeded_engine
) -> None:
    case_id = f"{settings.case_id_prefix}retiree_aftercare-v8"
    ids = seed_aftercare(seeded_engine, case_id)
    await page_login(http, "township2")  # 南关 station: not above the county
    assert (await http.get(f"/cases/{case_id}")).status_code == 404
    assert (await http.get(f"/tasks/{ids['approval']}")).status_code == 404
    assert not _audits(seeded_engine, case_id, "township2")
