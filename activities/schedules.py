"""The Temporal Schedules that open vetflow's recurring work, kept in place at start.

- ``vetflow-annual-review-campaign``: 1 January 00:00 Asia/Shanghai, the year's annual
  registration review (001 第九条 "每年1月至3月"; 000 §6.3.2) —
  ``OpenAnnualReviewCampaignWorkflow``, which opens the campaign of the current year once.
- ``vetflow-monthly-pay``: the 1st of every month 00:00 Asia/Shanghai, the month's payroll
  of every county (000 §6.4.2 "每月10日前") — ``OpenMonthlyPayWorkflow``.

Both actions are idempotent (their cases and campaign carry business-key ids), so a
second trigger, a catch-up after an outage or two workers starting at once open
nothing twice. :func:`ensure_schedules` creates a missing schedule and brings an
existing one to the current settings (task queue, deadline profile), keeping whether an
operator paused it. Ids carry ``case_id_prefix``, so installations (and tests) sharing
one Temporal keep their schedules apart.

Not an activity: the worker's and ``vetflow dev``'s start call it with their client.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from models.contracts import OpenCampaignInput, OpenMonthlyPayInput
from models.processes import policy_for
from models.processes.annual_review import PROCESS_KEY as ANNUAL_REVIEW
from models.settings import Settings

log = structlog.get_logger(__name__)

TIME_ZONE = "Asia/Shanghai"
ANNUAL_REVIEW_SCHEDULE = "vetflow-annual-review-campaign"
MONTHLY_PAY_SCHEDULE = "vetflow-monthly-pay"
MONTHLY_PAY = "monthly_pay"
# A run missed while Temporal was down still happens once it is back, within these
# windows: the review's window runs to 31 March; pay is due before the 10th, and a
# catch-up later than that would open a month whose pay date has passed.
ANNUAL_CATCHUP = timedelta(days=60)
MONTHLY_CATCHUP = timedelta(days=8)


@dataclass(frozen=True)
class ScheduleDef:
    id: str
    schedule: Schedule


def _midnight(**fields: Any) -> ScheduleCalendarSpec:
    """00:00:00 on the days ``fields`` name (month / day_of_month ranges)."""
    return ScheduleCalendarSpec(
        second=[ScheduleRange(0)],
        minute=[ScheduleRange(0)],
        hour=[ScheduleRange(0)],
        **fields,
    )


def _schedule(
    workflow: str,
    arg: Any,
    action_id: str,
    calendar: ScheduleCalendarSpec,
    catchup: timedelta,
    settings: Settings,
    note: str,
) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow,
            arg,
            id=action_id,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=TIME_ZONE),
        # The opener of a period runs once at a time; a run still going when the
        # next comes is left to finish (it opens the same work anyway).
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=catchup
        ),
        state=ScheduleState(note=note),
    )


def schedule_defs(settings: Settings) -> list[ScheduleDef]:
    """The schedules of this installation, built from its settings."""
    prefix = settings.case_id_prefix
    annual = _schedule(
        "OpenAnnualReviewCampaignWorkflow",
        OpenCampaignInput(
            policy=policy_for(ANNUAL_REVIEW, settings.policy_profile),
            case_id_prefix=prefix,
        ),
        f"{prefix}vetflow-open-annual-review",
        _midnight(month=[ScheduleRange(1)], day_of_month=[ScheduleRange(1)]),
        ANNUAL_CATCHUP,
        settings,
        "年度登记审核: 每年1月1日开启 (001 第九条)",
    )
    monthly = _schedule(
        "OpenMonthlyPayWorkflow",
        OpenMonthlyPayInput(
            policy=policy_for(MONTHLY_PAY, settings.policy_profile),
            case_id_prefix=prefix,
        ),
        f"{prefix}vetflow-open-monthly-pay",
        _midnight(day_of_month=[ScheduleRange(1)]),
        MONTHLY_CATCHUP,
        settings,
        "退役金月度发放: 每月1日开启 (000 §6.4.2)",
    )
    return [
        ScheduleDef(f"{prefix}{ANNUAL_REVIEW_SCHEDULE}", annual),
        ScheduleDef(f"{prefix}{MONTHLY_PAY_SCHEDULE}", monthly),
    ]


def _keep_state(wanted: Schedule) -> Any:
    """An updater: the wanted schedule, with the existing one's pause state."""

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        wanted.state = ScheduleState(note=wanted.state.note, paused=state.paused)
        return ScheduleUpdate(schedule=wanted)

    return update


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create vetflow's schedules, or bring existing ones to the current settings.
    Returns their ids. Safe to call from every worker at every start."""
    ids = []
    for d in schedule_defs(settings):
        try:
            await client.create_schedule(d.id, d.schedule)
            log.info("schedule_created", schedule_id=d.id)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(d.id).update(_keep_state(d.schedule))
            log.info("schedule_updated", schedule_id=d.id)
        ids.append(d.id)
    return ids
