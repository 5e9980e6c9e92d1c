"""The next release of the return-home workflow, as a developer would write it: a new
version of the process definition beside the old one (README, Releasing). Kept in a
module of its own so the workflow sandbox imports nothing but workflow code."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from temporalio import workflow

from workflows.history_archive import ArchiveHistoryWorkflow
from workflows.notice_delivery import DeliverNoticeWorkflow
from workflows.return_home import ReturnHomeWorkflow

with workflow.unsafe.imports_passed_through():
    from models.contracts import CaseState, StartCaseInput
    from models.forms import EmptyForm, RegistrationForm
    from models.process_spec import ProcessSpec, StepSpec
    from models.processes import return_home


class RegistrationFormV2(RegistrationForm):
    reception_officer: str = Field(min_length=1, max_length=60, title="接待人")


def _v2_steps() -> tuple[StepSpec, ...]:
    steps: list[StepSpec] = []
    for step in return_home.SPEC.steps:
        if step.key == "registration":
            step = step.model_copy(update={"form": RegistrationFormV2})
        steps.append(step)
        if step.key == "archive_review":
            steps.append(
                StepSpec(
                    key="welcome_talk",
                    title="欢迎谈话",
                    clause="003 §6.2.1 a",
                    role="county_staff",
                    level="county",
                    outcomes=("done",),
                    form=EmptyForm,
                )
            )
    return tuple(steps)


SPEC_V2 = return_home.SPEC.model_copy(update={"version": 2, "steps": _v2_steps()})


@workflow.defn(name="ReturnHomeWorkflow")
class NextReleaseReturnHome(ReturnHomeWorkflow):
    specs: ClassVar[dict[int, ProcessSpec]] = {1: return_home.SPEC, 2: SPEC_V2}

    @workflow.init
    def __init__(self, inp: StartCaseInput) -> None:
        super().__init__(inp)

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        return await super().run(inp)

    async def _archive_review(self) -> None:
        await super()._archive_review()
        if self.spec_version >= 2:  # version 2 inserted a step here
            await self.human_task("welcome_talk")


NEXT_RELEASE = [NextReleaseReturnHome, ArchiveHistoryWorkflow, DeliverNoticeWorkflow]
