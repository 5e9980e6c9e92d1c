"""Release 0.2.0's return-home workflow, frozen as it shipped (``git show
f577d40:workflows/return_home.py``), with only its process definitions limited to the
one that release had. ``test_release.py`` runs it as the worker that was in
production before version 2 of the process, to prove that a case it started finishes
on today's worker on the version it started with.

The original docstring follows.

退役返乡报到 / 一站式报到 (return-home reception and one-stop registration).

The run method reads as the process: archive review with one-time correction rounds
(003 §6.2.2, §7.6), information collection reviewed level by level (003 §6.1.4), party
transfer before registration (001 第七条), registration, the one-stop desks in parallel
(001 第七条, 003 §6.2.2), the home visit with the contact card (003 §6.2.1 c), close.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from temporalio import workflow

from workflows.history_archive import ArchiveHistoryWorkflow
from workflows.human_task import ProcessWorkflow
from workflows.notice_delivery import DeliverNoticeWorkflow

with workflow.unsafe.imports_passed_through():
    from models.contracts import CaseState, StartCaseInput
    from models.process_spec import ProcessSpec
    from models.processes import return_home

LEVEL_REVIEW = ("information_collection", "township_review", "county_review")


@workflow.defn(name="ReturnHomeWorkflow")
class ReturnHomeWorkflow020(ProcessWorkflow):
    """One veteran's return home, from archive review to the home visit."""

    specs: ClassVar[dict[int, ProcessSpec]] = {1: return_home.SPEC}

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        case = await self.register_case()
        await self._archive_review()
        await self._collect_and_review_level_by_level()
        if self._party_member(case.party_member):
            await self.human_task("party_transfer")
        else:
            await self.skip_step(
                "party_transfer", "非中共党员/共青团员，无需转接组织关系 (001 第七条)"
            )
        # 先转接党员组织关系、后办理报到手续 (001 第七条): registration opens only now.
        await self.human_task("registration")
        await self._one_stop_desks()
        await self.human_task("home_visit")
        await self.notify_veteran(
            "case_summary",
            "case_summary",
            "summary",
            {
                "process_title": self.spec.title,
                "steps": [
                    {"title": self.spec.step(s).title, "outcome": "已办结"}
                    for s in self._completed_steps
                ],
            },
        )
        return await self.close_case()

    async def _archive_review(self) -> None:
        """档案审核; a return names every missing material at once (一次性告知, 003 §7.6),
        the station records what the veteran hands in, and the archive is reviewed again."""
        received: list[str] = []
        while True:
            review = await self.human_task(
                "archive_review", context={"received_materials": received}
            )
            if review.outcome == "approve":
                return
            materials = [
                *review.data.get("missing_materials", []),
                *review.data.get("defective_materials", []),
            ]
            rounds = self._rounds["archive_review"]
            await self.notify_veteran(
                "correction_request",
                "correction_request",
                f"correction:{rounds}",
                {
                    "step_title": self.spec.step("archive_review").title,
                    "materials": materials,
                    # The notice names the veteran's station and this clerk, looked up
                    # from the org tree and the account when it is written.
                    "handled_by": review.completed_by,
                },
            )
            supplement = await self.human_task(
                "supplement_materials",
                context={"requested_materials": materials, "round": rounds},
            )
            received = supplement.data.get("received_materials", [])

    async def _collect_and_review_level_by_level(self) -> None:
        """村站采集 → 乡镇站审核 → 区县中心审核; each review may return one level down (003 §6.1.4)."""
        stage = 0
        reasons: list[str] = []
        while stage < len(LEVEL_REVIEW):
            result = await self.human_task(
                LEVEL_REVIEW[stage],
                context={"returned_reasons": reasons},
                notice="review_returned" if reasons else "task_assigned",
            )
            if result.outcome == "return":
                reasons = result.data.get("reasons", [])
                stage -= 1
            else:
                reasons = []
                stage += 1

    async def _one_stop_desks(self) -> None:
        """The one-stop items, each at its own desk, all at once."""
        await asyncio.gather(
            *(self.human_task(key) for key in return_home.ONE_STOP_KEYS)
        )

    def _party_member(self, registry_flag: bool) -> bool:
        flag = self._input.data.get("party_member")
        return registry_flag if flag is None else bool(flag)


RELEASE_0_2_0 = [ReturnHomeWorkflow020, ArchiveHistoryWorkflow, DeliverNoticeWorkflow]
