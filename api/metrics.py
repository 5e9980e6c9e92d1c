"""Prometheus metrics of one API process (``GET /metrics``).

Histograms (request and Update latency) are observed as requests run, in this
process: a deployment with several API processes scrapes each. The task and outbox
figures are counted from the projection tables when scraped (every API process
answers the same), and reused for ``metrics_cache_seconds``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from api.dashboard_queries import late_and_at_risk
from models.settings import Settings
from models.tables import HumanTask, Notice, OrgUnit

# Seconds; a clerk's click is 0.05–0.3 s, a slow Temporal up to the call timeout (10 s).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# The outbox rows' states (activities/notifications.py); each is exported, 0 if none.
NOTICE_STATUSES = ("pending", "sent", "failed", "resolved")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def count_projection(
    engine: Engine, now: datetime, at_risk_hours: float
) -> tuple[list[Any], list[Any]]:
    """Open tasks per (process, unit code) with how many are overdue and at risk (one
    grouped query, the dashboard's conditions), and outbox rows per status with the
    oldest ``created_at``."""
    now = _utc(now)
    late, risk = late_and_at_risk(now, now + timedelta(hours=at_risk_hours))
    t = (
        select(
            col(HumanTask.process),
            col(OrgUnit.code).label("unit"),
            case((late, 1), else_=0).label("late"),
            case((risk, 1), else_=0).label("risk"),
        )
        .join(OrgUnit, col(OrgUnit.id) == col(HumanTask.org_unit_id))
        .where(col(HumanTask.status) == "open")
        .subquery()
    )
    with engine.connect() as conn:
        tasks = conn.execute(
            select(
                t.c.process,
                t.c.unit,
                func.count(),
                func.sum(t.c.late),
                func.sum(t.c.risk),
            ).group_by(t.c.process, t.c.unit)
        ).all()
        notices = conn.execute(
            select(
                col(Notice.status), func.count(), func.min(col(Notice.created_at))
            ).group_by(col(Notice.status))
        ).all()
    return list(tasks), list(notices)


class ProjectionCollector(Collector):
    """Task and outbox gauges, counted from the database at scrape time."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.at_risk_hours = settings.at_risk_hours
        self.cache_seconds = settings.metrics_cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._families())
            yield from self._cached[1]

    def _families(self) -> list[Metric]:
        now = datetime.now(UTC)
        tasks, notices = count_projection(self.engine, now, self.at_risk_hours)
        labels = ["process", "unit"]
        open_ = GaugeMetricFamily(
            "vetflow_tasks_open", "Open human tasks.", labels=labels
        )
        overdue = GaugeMetricFamily(
            "vetflow_tasks_overdue",
            "Open human tasks past their deadline.",
            labels=labels,
        )
        at_risk = GaugeMetricFamily(
            "vetflow_tasks_at_risk",
            "Open human tasks due within VETFLOW_AT_RISK_HOURS (not yet overdue).",
            labels=labels,
        )
        for process, unit, n, n_late, n_risk in tasks:
            key = [str(process), str(unit)]
            open_.add_metric(key, int(n))
            overdue.add_metric(key, int(n_late or 0))
            at_risk.add_metric(key, int(n_risk or 0))
        by_status = {str(s): (int(n), oldest) for s, n, oldest in notices}
        rows = GaugeMetricFamily(
            "vetflow_notices",
            "Notification outbox rows by status: pending = backlog not yet delivered, "
            "failed = delivery gave up (a person must act).",
            labels=["status"],
        )
        for status in sorted(set(NOTICE_STATUSES) | set(by_status)):
            rows.add_metric([status], by_status.get(status, (0, None))[0])
        oldest = by_status.get("pending", (0, None))[1]
        age = GaugeMetricFamily(
            "vetflow_outbox_oldest_pending_seconds",
            "Age of the oldest pending notice (0 when none is pending).",
            value=(now - _utc(oldest)).total_seconds() if oldest else 0.0,
        )
        return [open_, overdue, at_risk, rows, age]


class ApiMetrics:
    """The metrics of one app (its own registry: apps in one process stay apart)."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Histogram(
            "vetflow_http_request_duration_seconds",
            "API request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.updates = Histogram(
            "vetflow_temporal_update_duration_seconds",
            "Round trip of a Temporal Update the API sent (until the workflow "
            "answered), by Update name and outcome (ok | rejected | error).",
            ["update", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(ProjectionCollector(engine, settings))
        # This process's CPU seconds, resident memory and open files (process_*).
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        """The text exposition format (queries the database when the cache is stale:
        call it off the event loop)."""
        return generate_latest(self.registry)
