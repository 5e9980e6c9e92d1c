"""The worker's activities, built from their dependencies (used by worker.py and tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from temporalio.client import Client

from activities.aftercare import AftercareActivities
from activities.campaigns import CampaignActivities
from activities.cases import CaseActivities
from activities.complaints import ComplaintActivities
from activities.history_archive import HistoryArchiveActivities
from activities.human_tasks import HumanTaskActivities
from activities.incidents import IncidentActivities
from activities.loans import LoanActivities
from activities.notifications import NotificationActivities
from activities.notify_adapters import NotifyAdapter
from activities.payroll import PayrollActivities
from activities.projection import ProjectionActivities
from activities.self_links import SelfLinkActivities
from models.settings import Settings


def build_activities(
    engine: Engine,
    client: Client,
    adapter: NotifyAdapter,
    settings: Settings | None = None,
    on_notice_queued: Callable[[], None] | None = None,
) -> list[Callable[..., Any]]:
    """Every activity of vetflow, bound to one engine, Temporal client and notice
    adapter (``settings``: the link key and address, the banks' keys; None reads the
    environment; ``on_notice_queued``: wakes the worker's outbox dispatcher)."""
    cases = CaseActivities(engine)
    notices = NotificationActivities(engine, adapter)
    notices.on_queued = on_notice_queued
    tasks = HumanTaskActivities(engine, notices)
    archive = HistoryArchiveActivities(engine, client)
    incidents = IncidentActivities(engine)
    payroll = PayrollActivities(engine)
    links = SelfLinkActivities(settings)
    campaigns = CampaignActivities(engine)
    loans = LoanActivities(engine, settings)
    aftercare = AftercareActivities(engine, settings)
    complaints = ComplaintActivities(engine, settings)
    projection = ProjectionActivities(cases, tasks, notices)
    return [
        cases.register_case,
        cases.case_chain,
        cases.set_case_status,
        tasks.open_task,
        tasks.record_skipped_step,
        tasks.assign_task,
        tasks.close_task,
        tasks.escalate_task,
        tasks.recompute_due,
        tasks.task_recipients,
        # The same writes as a local activity (cases started after LOCAL_PROJECTION),
        # several at once for cases started after ENGINE_0_10.
        projection.project,
        projection.project_all,
        notices.send_notice,
        notices.mark_notice_failed,
        notices.resolve_failed_notice,
        incidents.open_incident,
        incidents.resolve_incident,
        archive.archive_history,
        payroll.pay_dates,
        payroll.payroll_counties,
        payroll.payroll_roster,
        links.issue_self_link,
        campaigns.record_campaign,
        campaigns.campaign_members,
        campaigns.record_ledger,
        loans.load_loan_policy,
        loans.push_to_bank,
        loans.record_loan,
        loans.plan_subsidy,
        aftercare.plan_aftercare_benefits,
        aftercare.record_aftercare,
        aftercare.record_survivor_allowance,
        complaints.issue_rating_link,
        complaints.record_complaint,
    ]
