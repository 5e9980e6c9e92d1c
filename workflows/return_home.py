"""退役返乡报到 / 一站式报到 (return-home reception and one-stop registration).

A case runs the version of the process it started with (``StartCaseInput.spec_version``):

- Version 2 (new cases), read clause by clause against the seeds: the personnel file is
  received (003 §6.9.2.2) and reviewed (003 §6.2.2) — returns are told at once (003 §7.6)
  and go back to the clerk who first handled the case (003 §7.8.3), gaps in the file
  are requested from the sending unit (003 §6.9.2.2), a refusal or a matter not ours
  ends the case with its reasons; once approved, the welcome, the home visit and the
  filing start at once (003 §6.2.1, 001 第八条) beside the main line: organisation
  transfer before registration (001 第七条), registration, the one-stop desks with the
  adaptive training (003 §6.2.2, §6.3.3.3), and the information collection reviewed
  level by level up to the city and reported to the province (003 §6.1.4).
- Version 1 (cases opened before it): archive review, information collection level by
  level, party transfer, registration, desks, home visit — unchanged, so that every
  recorded history replays.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio import workflow

from workflows.human_task import ProcessWorkflow

with workflow.unsafe.imports_passed_through():
    from models.contracts import (
        CaseState,
        RegisterCaseResult,
        StartCaseInput,
        TaskResult,
    )
    from models.forms import PARTY_STATUSES
    from models.processes import return_home

LEVEL_REVIEW = ("information_collection", "township_review", "county_review")


@workflow.defn
class ReturnHomeWorkflow(ProcessWorkflow):
    """One veteran's return home, from the personnel file to the report upward."""

    specs = return_home.SPECS

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        self._setup(inp)

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        case = await self.register_case()
        if self.spec_version == 1:
            return await self._run_v1(case)
        await self.human_task("file_receipt")
        decision = await self._review_archive()
        if decision.outcome in ("refuse", "not_ours"):
            await self._tell_refusal(decision)
            return await self.close_case()
        # 003 §6.2.1 c "第一时间": the welcome, the home visit and the filing do not
        # wait for the registration line.
        await asyncio.gather(
            self._register_and_collect(case),
            *(self.human_task(step) for step in return_home.EARLY_STEPS),
        )
        await self.notify_veteran(
            "case_summary",
            "case_summary",
            "summary",
            {"process_title": self.spec.title, "steps": self.step_summary()},
        )
        return await self.close_case()

    # --- version 2 -------------------------------------------------------------------

    async def _review_archive(self) -> TaskResult:
        """档案审核 until approved, refused or found not ours. A return names at once
        what the veteran must bring or correct (003 §7.6, told in one notice) and what
        the file lacks; the first handler receives the veteran's materials (003 §7.8.3)
        while the file's gaps are requested from the sending unit (003 §6.9.2.2)."""
        context: dict[str, Any] = {}
        while True:
            review = await self.human_task("archive_review", context=context)
            if review.outcome != "return_for_correction":
                return review
            own = [
                *review.data.get("missing_materials", []),
                *review.data.get("defective_materials", []),
            ]
            gaps = list(review.data.get("file_gaps", []))
            rounds = self._rounds["archive_review"]
            work = []
            if own:
                await self._tell_once(review, rounds)
                work.append(
                    self.human_task(
                        "supplement_materials",
                        context={"requested_materials": own, "round": rounds},
                    )
                )
            if gaps:
                work.append(
                    self.human_task(
                        "file_gap_request",
                        context={
                            "requested_materials": gaps,
                            "round": rounds,
                            "sending_unit": self._sending_unit(),
                        },
                    )
                )
            answers = await asyncio.gather(*work)
            context = {
                "received_materials": [
                    m for a in answers for m in a.data.get("received_materials", [])
                ]
            }

    async def _tell_once(self, review: TaskResult, rounds: int) -> None:
        """一次性告知 (003 §7.6 a–e) of a return, naming the clerk who receives the
        materials and their office phone (联系服务卡, 003 §7.8.2)."""
        await self.notify_veteran(
            "correction_request",
            "one_time_notice",
            f"correction:{rounds}",
            self._notice_context(review, "return_for_correction"),
        )

    async def _tell_refusal(self, decision: TaskResult) -> None:
        """不予办理 with its reasons, or not ours with the competent authority
        (003 §7.6 a, f); the case ends here."""
        await self.notify_veteran(
            "refusal",
            "one_time_notice",
            f"decision:{decision.outcome}",
            self._notice_context(decision, decision.outcome),
        )

    def _notice_context(self, review: TaskResult, decision: str) -> dict[str, Any]:
        policy = self._input.policy
        return {
            "decision": decision,
            "process_title": self.spec.title,
            "step_title": self.spec.step("archive_review").title,
            "required_materials": list(self.spec.step("archive_review").materials),
            "missing_materials": review.data.get("missing_materials", []),
            "defective_materials": review.data.get("defective_materials", []),
            "file_gaps": review.data.get("file_gaps", []),
            "refusal_reason": review.data.get("refusal_reason", ""),
            "competent_authority": review.data.get("competent_authority", ""),
            "supplement_limit": policy.for_step("supplement_materials").describe(),
            "review_limit": policy.for_step("archive_review").describe(),
            # The first handler: who receives the materials (003 §7.8.3).
            "handled_by": self._first_handler_of("archive_review")
            or review.completed_by,
        }

    def _first_handler_of(self, step: str) -> str | None:
        first = self._results.get("file_receipt") or self._results.get(step)
        return first.completed_by if first else None

    def _sending_unit(self) -> str:
        receipt = self._results.get("file_receipt")
        return str(receipt.data.get("sending_unit", "")) if receipt else ""

    async def _register_and_collect(self, case: RegisterCaseResult) -> None:
        await self._transfer_organisation(case)
        # 先转接党员组织关系、后办理报到手续 (001 第七条): registration opens only now.
        await self.human_task("registration")
        await asyncio.gather(
            self._one_stop_desks(case), self.human_task("adaptive_training")
        )
        await self._review_level_by_level(return_home.LEVEL_REVIEW_V2)
        await self.human_task("report_to_province")

    async def _transfer_organisation(self, case: RegisterCaseResult) -> None:
        """党员 → 组织部, 团员 → 团委 (003 §6.2.2); others need no transfer."""
        status = self._input.data.get("political_status") or (
            "中共党员" if case.party_member else "群众"
        )
        if status in PARTY_STATUSES:
            await self.human_task("party_transfer")
        elif status == "共青团员":
            await self.human_task("league_transfer")
        else:
            await self.skip_step(
                "party_transfer",
                # Told to the veteran in the summary: cited by the standard's number.
                "非中共党员、共青团员，无需转接组织关系"
                "(DB3702/T 41—2024 第6.2.2条；《逐月领取退役金退役军人服务管理规定》第七条)",
            )

    async def _one_stop_desks(self, case: RegisterCaseResult) -> None:
        """The one-stop items, each at its own desk, all at once; the 一次性经济补助
        only for 自主就业 veterans (退役军人安置条例 第23条)."""
        desks = list(return_home.ONE_STOP_KEYS_V2)
        if return_home.SUBSIDY_CATEGORY not in case.category:
            desks.remove("subsidy_preregistration")
            await self.skip_step(
                "subsidy_preregistration",
                f"一次性经济补助仅适用于自主就业退役军人，本人为{case.category}"
                "(《退役军人安置条例》第二十三条)",
            )
        await asyncio.gather(*(self.human_task(key) for key in desks))

    async def _review_level_by_level(self, levels: tuple[str, ...]) -> None:
        """采集 then each level's review; a review may send the case back one level,
        with its reasons (退回下级重报, 003 §6.1.4)."""
        stage = 0
        reasons: list[str] = []
        while stage < len(levels):
            result = await self.human_task(
                levels[stage],
                context={"returned_reasons": reasons},
                notice="review_returned" if reasons else "task_assigned",
            )
            if result.outcome == "return":
                reasons = result.data.get("reasons", [])
                stage -= 1
            else:
                reasons = []
                stage += 1

    # --- version 1 (cases opened before version 2 finish on it) -----------------------

    async def _run_v1(self, case: RegisterCaseResult) -> CaseState:
        await self._archive_review_v1()
        await self._review_level_by_level(LEVEL_REVIEW)
        if self._party_member(case.party_member):
            await self.human_task("party_transfer")
        else:
            await self.skip_step(
                "party_transfer", "非中共党员/共青团员，无需转接组织关系 (001 第七条)"
            )
        await self.human_task("registration")
        await asyncio.gather(
            *(self.human_task(key) for key in return_home.ONE_STOP_KEYS)
        )
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

    async def _archive_review_v1(self) -> None:
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
                    "handled_by": review.completed_by,
                },
            )
            supplement = await self.human_task(
                "supplement_materials",
                context={"requested_materials": materials, "round": rounds},
            )
            received = supplement.data.get("received_materials", [])

    def _party_member(self, registry_flag: bool) -> bool:
        flag = self._input.data.get("party_member")
        return registry_flag if flag is None else bool(flag)
