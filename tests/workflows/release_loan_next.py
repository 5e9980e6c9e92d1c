"""The next release of the startup loan, as ``test_startup_loan_release.py`` models it:
a step added to the repayment phase of loans that are already running.

What is simulated: after release 0.5.0, a (hypothetical) local rule asks for a
贷款资金用途核查 (``fund_use_check``: was the money used for the business, with the
evidence seen) after every 贷后回访, also for the loans already being repaid — a loan
runs for years, and waiting for every running loan to end is not an option. The
release therefore

- publishes definition version 2 of ``startup_loan``: version 1 plus the step
  (``SPEC_V2``); new cases start on it (``StartupLoanWorkflowNext``, registered as
  ``StartupLoanWorkflow``, only knows both versions);
- changes the repayment phase (``LoanServicingWorkflowNext``, registered under the
  same name ``LoanServicingWorkflow``, so the running child workflows of today's
  cases move to it when the workers are swapped): a follow-up completed from now on
  is followed by the check, behind ``workflow.patched("loan-fund-use-check")``. The
  patch is decided once per run (the SDK memoises it): a run that completed a
  follow-up before the release keeps the old behaviour until it continues as new;
  a run whose follow-ups all complete after it takes the check. The check's step
  definition comes from version 2 (a superset of version 1, so every other step
  reads the same): the repayment phase of a version-1 case moves to version 2 at its
  first check; the case itself stays on version 1;
- ships version 2 in the process registry (``models.processes.SPEC_VERSIONS``), which
  the activities and the API read: the test installs ``SPECS_NEXT`` there while the
  next release's worker runs.

Histories recorded before the swap replay on today's code and on this release's;
histories recorded after it replay on this release's code. Nothing here ships: the
module is the test's stand-in for the next release's code.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from temporalio import workflow

from workflows.registry import ALL_WORKFLOWS
from workflows.startup_loan import LoanServicingWorkflow, StartupLoanWorkflow

# As in the workflow modules: the models come from outside the sandbox.
with workflow.unsafe.imports_passed_through():
    from pydantic import Field

    from models.contracts import CaseState, StartCaseInput, TaskResult
    from models.forms import Form
    from models.loan_contracts import ServicingInput, ServicingResult
    from models.process_spec import ProcessSpec, StepSpec
    from models.processes.startup_loan import SPEC

FUND_USE_CHECK = "loan-fund-use-check"


class FundUseCheckForm(Form):
    """贷款资金用途核查: what the money was spent on, seen on which evidence."""

    checked_on: date = Field(title="核查日期")
    funds_for_business: bool = Field(title="贷款用于创业经营")
    evidence: str = Field(default="", max_length=500, title="核查依据(票据、流水)")
    note: str = Field(default="", max_length=2000, title="核查意见")


FUND_USE_STEP = StepSpec(
    key="fund_use_check",
    title="贷款资金用途核查",
    clause="003 §6.3.2.6",
    role="county_staff",
    level="county",
    outcomes=("done",),
    form=FundUseCheckForm,
    next=("repayment_proof",),
    group="servicing",
    description="每次贷后回访后核查贷款资金用途(票据、流水)",
)


def _with_fund_use_check(spec: ProcessSpec) -> ProcessSpec:
    steps: list[StepSpec] = []
    for step in spec.steps:
        steps.append(step)
        if step.key == "post_loan_followup":
            steps.append(FUND_USE_STEP)
    return spec.model_copy(update={"version": 2, "steps": tuple(steps)})


SPEC_V2 = _with_fund_use_check(SPEC)
SPECS_NEXT = {1: SPEC, 2: SPEC_V2}


@workflow.defn(name="StartupLoanWorkflow")
class StartupLoanWorkflowNext(StartupLoanWorkflow):
    """The case itself is unchanged; it only knows definition version 2 too."""

    specs = SPECS_NEXT

    @workflow.run
    async def run(self, inp: StartCaseInput) -> CaseState:
        return await super().run(inp)


@workflow.defn(name="LoanServicingWorkflow")
class LoanServicingWorkflowNext(LoanServicingWorkflow):
    """The repayment phase with the fund-use check after each follow-up."""

    specs = SPECS_NEXT

    @workflow.run
    async def run(self, inp: ServicingInput) -> ServicingResult:
        return await super().run(inp)

    async def _followup(self, context: dict[str, Any]) -> TaskResult | None:
        result = await super()._followup(context)
        if result is None or not workflow.patched(FUND_USE_CHECK):
            return result
        # The phase moves to version 2 (version 1 plus this step): the check's task
        # row names the definition that has its form.
        if self._input.spec_version < SPEC_V2.version:
            self._input = self._input.model_copy(
                update={"spec_version": SPEC_V2.version}
            )
            self.spec = SPEC_V2
        check = await self.human_task_until(
            "fund_use_check",
            lambda: self._finished,
            context={**context, "followup_task": result.task_id},
        )
        if check is None:
            self._missed += 1
        elif not check.data.get("funds_for_business", True):
            n = check.task_id.rsplit(".", 1)[-1]
            self._findings.append(f"第{n}次资金用途核查: 贷款未用于创业经营")
        return result


RELEASE_NEXT: list[type] = [
    StartupLoanWorkflowNext if wf is StartupLoanWorkflow else wf
    for wf in ALL_WORKFLOWS
    if wf is not LoanServicingWorkflow
] + [LoanServicingWorkflowNext]
