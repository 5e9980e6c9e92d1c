"""The vetflow worker: runs every workflow and activity on the task queue.

Scale out by running more of these processes (or compose replicas): Temporal spreads
the work over every worker polling the same queue.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from temporalio.client import Client, HeaderCodecBehavior
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import PollerBehaviorAutoscaling, Worker

from activities import build_activities
from activities.log_context import LogContextInterceptor
from activities.notice_outbox import NoticeDispatcher
from activities.notify_adapters import NotifyAdapter, make_adapter
from activities.schedules import ensure_schedules
from models.db import make_engine
from models.logconfig import configure_logging
from models.payload_codec import data_converter
from models.settings import Settings, load_settings
from workflows.registry import ALL_WORKFLOWS, workflow_runner

log = structlog.get_logger(__name__)


# One SDK runtime per metrics address in this process (it holds the listening socket).
_METRICS_RUNTIMES: dict[str, Runtime] = {}


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The Temporal SDK runtime that serves the SDK's own metrics (``temporal_*``:
    polls, workflow and activity task latencies, slots, sticky cache) in Prometheus
    format at VETFLOW_WORKER_METRICS_ADDRESS; None (the default runtime, no metrics
    served) when that is not set."""
    address = settings.worker_metrics_address
    if not address:
        return None
    if address not in _METRICS_RUNTIMES:
        _METRICS_RUNTIMES[address] = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
        )
    return _METRICS_RUNTIMES[address]


async def connect_temporal(settings: Settings) -> Client:
    """A client whose payloads, headers too (the request id), are encrypted with the
    configured keyring; its workers export the SDK's metrics when
    VETFLOW_WORKER_METRICS_ADDRESS is set."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        header_codec_behavior=HeaderCodecBehavior.CODEC,
        runtime=metrics_runtime(settings),
    )


class VetflowWorker(Worker):
    """A Temporal worker that also runs the notice outbox's dispatcher for as long as
    it runs (``async with``): every worker process delivers queued notices, sharing the
    outbox with the others by leases (activities/notice_outbox.py)."""

    def __init__(self, *args: Any, dispatcher: NoticeDispatcher, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dispatcher = dispatcher
        self._dispatching: asyncio.Task[None] | None = None

    async def __aenter__(self) -> VetflowWorker:
        await super().__aenter__()
        self._dispatching = asyncio.create_task(self.dispatcher.run())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *args: Any) -> None:
        self.dispatcher.stop()
        if self._dispatching is not None:
            await self._dispatching
        await super().__aexit__(exc_type, *args)


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    *,
    adapter: NotifyAdapter | None = None,
    executor: ThreadPoolExecutor | None = None,
    workflows: Sequence[type] | None = None,
) -> VetflowWorker:
    """A worker with every workflow and activity of vetflow and the outbox dispatcher
    (shared by tests; a test of a release passes the previous release's
    ``workflows``)."""
    adapter = adapter or make_adapter(settings)
    dispatcher = NoticeDispatcher(
        engine,
        adapter,
        client,
        settings.task_queue,
        poll_seconds=settings.outbox_poll_seconds,
        lease=timedelta(seconds=settings.outbox_lease_seconds),
    )
    return VetflowWorker(
        client,
        dispatcher=dispatcher,
        task_queue=settings.task_queue,
        workflows=list(workflows or ALL_WORKFLOWS),
        workflow_runner=workflow_runner(),
        activities=build_activities(
            engine, client, adapter, settings, on_notice_queued=dispatcher.wake
        ),
        activity_executor=executor or ThreadPoolExecutor(max_workers=16),
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        activity_task_poller_behavior=PollerBehaviorAutoscaling(),
        graceful_shutdown_timeout=timedelta(seconds=5),
        interceptors=[LogContextInterceptor()],
    )


async def stop_requested() -> None:
    """Return when the process gets SIGINT (Ctrl-C) or SIGTERM (docker stop), so that
    the caller can shut down in order instead of being cancelled mid-shutdown."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def run_worker(settings: Settings) -> None:
    """Connect to Temporal and the database, then poll until SIGINT/SIGTERM."""
    client = await connect_temporal(settings)
    engine = make_engine(settings.database_url)
    log.info(
        "worker_starting",
        task_queue=settings.task_queue,
        temporal=settings.temporal_address,
        metrics=settings.worker_metrics_address or None,
    )
    async with build_worker(client, settings, engine):
        # The yearly review and monthly pay schedules, visible in the Temporal UI.
        await ensure_schedules(client, settings)
        await stop_requested()
    log.info("worker_stopped")


def main() -> None:
    settings = load_settings()
    configure_logging(settings)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
