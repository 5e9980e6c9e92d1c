"""The year's annual-review campaign: one review case per veteran on monthly pay.

001 第九条 (000 §6.3.2): every year from January to March, the city/county centre reviews
every veteran of the category 逐月领取退役金退役军人. The campaign pages through the
registry in id order and starts one ``AnnualReviewWorkflow`` child per veteran, a batch
at a time; it continues as new every few thousand children (or when Temporal suggests
it), so a campaign over 1,000,000 veterans keeps each run's history within Temporal's
limits. Until the window's end it looks again for veterans registered meanwhile (on a
timer, or at once on the ``rescan`` signal). Children outlive the campaign (ABANDON).

``OpenAnnualReviewCampaignWorkflow`` is what the yearly Schedule starts: it opens the
campaign of the current year (Asia/Shanghai); a campaign already open stays the one.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import (
    RetryPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from models.contracts import (
        CampaignInput,
        CampaignMember,
        CampaignPageInput,
        CampaignProgress,
        CampaignRecordInput,
        OpenCampaignInput,
        StartCaseInput,
    )
    from models.processes import annual_review
    from models.search_attributes import case_search_attributes

# Children started per run before continuing as new: each child costs the campaign's
# history about three events, so a run stays far below Temporal's 50,000-event limit.
CONTINUE_EVERY = 4000
# Campaign bookkeeping retries until the database answers: the fan-out resumes where
# it stopped, and every child start is idempotent (its id is the business key).
RETRY = RetryPolicy(maximum_interval=timedelta(seconds=60))


async def _activity(name: str, arg: Any, result_type: type | None = None) -> Any:
    return await workflow.execute_activity(
        name,
        arg,
        start_to_close_timeout=timedelta(seconds=60),
        retry_policy=RETRY,
        result_type=result_type,
    )


@workflow.defn
class AnnualReviewCampaignWorkflow:
    """Opens the year's review cases and keeps the campaign's row current."""

    @workflow.init
    def __init__(self, inp: CampaignInput) -> None:
        self._inp = inp
        self._cursor = inp.cursor
        self._opened = inp.opened
        self._status = "open"
        self._rescans = 0
        self._window_end = inp.window_end

    @workflow.signal
    def rescan(self) -> None:
        """A veteran joined the category: look for new members now."""
        self._rescans += 1

    @workflow.query
    def progress(self) -> CampaignProgress:
        return CampaignProgress(
            campaign_id=self._inp.campaign_id,
            year=self._inp.year,
            status=self._status,
            opened=self._opened,
            cursor=self._cursor,
            window_end=self._window_end,
        )

    @workflow.run
    async def run(self, inp: CampaignInput) -> CampaignProgress:
        opened_at = inp.opened_at or workflow.now()
        end = inp.window_end or annual_review.window_end(
            inp.year, opened_at, inp.policy
        )
        self._window_end = end
        if inp.window_end is None:
            await self._record(opened_at)
        started_this_run = 0
        while True:
            page: list[CampaignMember] = await _activity(
                "campaign_members",
                CampaignPageInput(
                    category=annual_review.CATEGORY,
                    after_id=self._cursor,
                    limit=inp.batch_size,
                ),
                list[CampaignMember],
            )
            if page:
                await asyncio.gather(*(self._open_case(m) for m in page))
                self._cursor = page[-1].veteran_id
                self._opened += len(page)
                started_this_run += len(page)
                await self._record(opened_at)
                if self._should_continue(started_this_run):
                    self._continue(opened_at)
                continue
            if workflow.now() >= end:
                break
            seen = self._rescans

            def signalled(seen: int = seen) -> bool:
                return self._rescans != seen

            pause = min(
                end - workflow.now(),
                inp.policy.timers.get("rescan", timedelta(days=1)),
            )
            try:
                await workflow.wait_condition(signalled, timeout=pause)
            except TimeoutError:
                pass
            if workflow.info().is_continue_as_new_suggested():
                self._continue(opened_at)
        self._status = "closed"
        await self._record(opened_at)
        return self.progress()

    async def _open_case(self, member: CampaignMember) -> None:
        inp = self._inp
        case_id = annual_review.review_case_id(
            inp.year, member.veteran_id, inp.case_id_prefix
        )
        try:
            await workflow.start_child_workflow(
                "AnnualReviewWorkflow",
                StartCaseInput(
                    case_id=case_id,
                    process=annual_review.PROCESS_KEY,
                    veteran_id=member.veteran_id,
                    started_by=inp.opened_by,
                    data={
                        "year": inp.year,
                        "window_end": (self._window_end or workflow.now()).isoformat(),
                    },
                    policy=inp.policy,
                    spec_version=annual_review.SPEC.version,
                    campaign_id=inp.campaign_id,
                ),
                id=case_id,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=case_search_attributes(
                    annual_review.PROCESS_KEY, member.org_path, member.veteran_id
                ),
            )
        except WorkflowAlreadyStartedError:
            pass  # opened before (a retried batch, or a campaign re-run): one case

    def _should_continue(self, started_this_run: int) -> bool:
        return (
            started_this_run >= CONTINUE_EVERY
            or workflow.info().is_continue_as_new_suggested()
        )

    def _continue(self, opened_at: datetime) -> None:
        workflow.continue_as_new(
            self._inp.model_copy(
                update={
                    "cursor": self._cursor,
                    "opened": self._opened,
                    "window_end": self._window_end,
                    "opened_at": opened_at,
                }
            )
        )

    async def _record(self, opened_at: datetime) -> None:
        inp = self._inp
        await _activity(
            "record_campaign",
            CampaignRecordInput(
                campaign_id=inp.campaign_id,
                process=annual_review.PROCESS_KEY,
                year=inp.year,
                status=self._status,
                opened_by=inp.opened_by,
                opened_at=opened_at,
                window_end=self._window_end or workflow.now(),
                cases_opened=self._opened,
                last_veteran_id=self._cursor,
            ),
        )


@workflow.defn
class OpenAnnualReviewCampaignWorkflow:
    """The yearly Schedule's action (1 January 00:00 Asia/Shanghai): open the
    campaign of the current year, once."""

    @workflow.run
    async def run(self, inp: OpenCampaignInput) -> str:
        year = inp.year or workflow.now().astimezone(annual_review.TZ).year
        campaign = annual_review.campaign_id(year, inp.case_id_prefix)
        try:
            await workflow.start_child_workflow(
                AnnualReviewCampaignWorkflow.run,
                CampaignInput(
                    campaign_id=campaign,
                    year=year,
                    opened_by=inp.opened_by,
                    case_id_prefix=inp.case_id_prefix,
                    policy=inp.policy,
                ),
                id=campaign,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            workflow.logger.info("campaign already open", extra={"id": campaign})
        return campaign
