"""The outbox dispatcher: delivers the notices cases queue (engine NOTICE_OUTBOX).

A case on the current engine does not start a workflow per notice: its ``queue_notice``
local activity writes the rendered, addressed row (dispatch ``outbox``) and the case
goes on. Every worker process runs one dispatcher, which

- claims due rows with a lease (``claimed_until``; ``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL), so several workers share the outbox and a row whose worker died is taken
  up again when its lease ends;
- delivers each through the notice adapter: sent, or a failed attempt counted with
  exponential backoff (1 s doubling, capped at the case policy's ``notice_max_interval``);
- after the policy's ``notice_attempts``, or at once on a permanent refusal (no address,
  a rejected recipient, a broken template), hands the notice to a
  ``DeliverNoticeWorkflow`` (id ``notice-<key>``, started once), which opens the
  ``notice_failed`` work item for a clerk and owns the row from then on.

Delivery stays at-least-once, as before: a worker that dies after the adapter delivered
and before the row is marked sent delivers it again after the lease; the channel
carries the key so the receiver drops the repeat. A notice is never dropped silently:
it is sent, or waiting in the outbox (``vetflow_notices{status="pending"}``), or a work
item.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog
from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.notify_adapters import NoAddress, NoticeRejected, NotifyAdapter
from models.contracts import (
    DeliverNoticeInput,
    NoticeFailedInput,
    NoticeInput,
    TaskPolicy,
)
from models.db import one_writer
from models.tables import Notice, utcnow

log = structlog.get_logger(__name__)

FIRST_RETRY = timedelta(seconds=1)  # then doubling, as Temporal's default retry policy


def backoff(attempts: int, cap: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 1 s, 2 s, 4 s … up to ``cap``."""
    wait: timedelta = FIRST_RETRY * (2 ** min(30, max(0, attempts - 1)))
    return min(cap, wait)


class NoticeDispatcher:
    """Delivers the outbox's due rows until stopped (one per worker process)."""

    def __init__(
        self,
        engine: Engine,
        adapter: NotifyAdapter,
        client: Client | None,
        task_queue: str,
        *,
        poll_seconds: float = 1.0,
        lease: timedelta = timedelta(seconds=30),
        batch: int = 32,
        concurrency: int = 8,
    ) -> None:
        self.engine = engine
        self.adapter = adapter
        self.client = client
        self.task_queue = task_queue
        self.poll_seconds = poll_seconds
        self.lease = lease
        self.batch = batch
        self.concurrency = concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None

    def wake(self) -> None:
        """Look at the outbox now (called from an activity's thread after a queue)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(wake.set)

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            if self._wake is not None:
                self._wake.set()

    async def run(self) -> None:
        """Claim and deliver due rows; wait for a wake-up or the poll interval between
        rounds. Returns when :meth:`stop` is called, after the deliveries in flight."""
        self._loop = asyncio.get_running_loop()
        self._wake, self._stop = asyncio.Event(), asyncio.Event()
        slots = asyncio.Semaphore(self.concurrency)
        inflight: set[asyncio.Task[None]] = set()

        async def deliver(notice_id: int) -> None:
            async with slots:
                await self.deliver(notice_id)

        while not self._stop.is_set():
            self._wake.clear()
            try:
                claimed = await asyncio.to_thread(self.claim, self.batch)
            except Exception as exc:  # the database is away: try again next round
                log.warning("outbox_claim_failed", error=str(exc))
                claimed = []
            for notice_id in claimed:
                task = asyncio.create_task(deliver(notice_id))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
            if len(claimed) == self.batch:
                await asyncio.sleep(0)
                continue  # more may be due
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)

    def claim(self, limit: int) -> list[int]:
        """Lease up to ``limit`` due rows to this dispatcher; their ids."""
        now = utcnow()
        due = (
            (col(Notice.status) == "pending")
            & (col(Notice.dispatch) == "outbox")
            & (col(Notice.next_attempt_at) <= now)
            & or_(col(Notice.claimed_until).is_(None), col(Notice.claimed_until) < now)
        )
        candidates = (
            select(Notice.id)
            .where(due)
            .order_by(col(Notice.next_attempt_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with one_writer(self.engine), self.engine.begin() as conn:
            rows = conn.execute(
                update(Notice)
                .where(col(Notice.id).in_(candidates.scalar_subquery()), due)
                .values(claimed_until=now + self.lease)
                .returning(col(Notice.id))
            )
            return [int(r[0] or 0) for r in rows]

    async def deliver(self, notice_id: int) -> None:
        """One claimed row: deliver it, count a failed attempt, or hand it over."""
        row = await asyncio.to_thread(self._load, notice_id)
        if row is None:
            return
        bound = structlog.contextvars.bound_contextvars(
            key=row.key, kind=row.kind, case_id=row.case_id, task_id=row.task_id
        )
        with bound:
            if row.attempts >= (row.max_attempts or 0):
                # Attempts used up by an earlier dispatcher, or queued failed.
                kind, _, message = (row.error or "NoticeFailed: ").partition(": ")
                await self._hand_over(row, kind, message)
                return
            try:
                await asyncio.to_thread(self.adapter.deliver, row)
            except (NoAddress, NoticeRejected) as exc:
                kind = type(exc).__name__
                await asyncio.to_thread(self._failed_attempt, row, f"{kind}: {exc}")
                log.warning("notice_refused", reason=str(exc), kind=kind)
                await self._hand_over(row, kind, str(exc))
                return
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                attempts = await asyncio.to_thread(self._failed_attempt, row, error)
                log.warning("notice_failed", error=str(exc), attempts=attempts)
                if attempts >= (row.max_attempts or 0):
                    await self._hand_over(row, type(exc).__name__, str(exc))
                return
            attempts = await asyncio.to_thread(self._sent, row)
            log.info("notice_sent", channel=row.channel, attempts=attempts)

    def _load(self, notice_id: int) -> Notice | None:
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.get(Notice, notice_id)
        if row is None or row.status != "pending" or row.dispatch != "outbox":
            return None
        return row

    def _sent(self, row: Notice) -> int:
        return self._attempted(
            row, status="sent", error=None, sent_at=utcnow(), claimed_until=None
        )

    def _failed_attempt(self, row: Notice, error: str) -> int:
        """Count the attempt; the row is due again after the backoff (lease freed)."""
        cap = timedelta(seconds=row.max_interval_seconds or 600)
        return self._attempted(
            row,
            error=error,
            next_attempt_at=utcnow() + backoff(row.attempts + 1, cap),
            claimed_until=None,
        )

    def _attempted(self, row: Notice, **values: object) -> int:
        """Count one attempt on the row loaded under this dispatcher's lease (no other
        dispatcher writes it meanwhile), with ``values``; the attempts so far."""
        attempts = row.attempts + 1
        with one_writer(self.engine), self.engine.begin() as conn:
            conn.execute(
                update(Notice)
                .where(col(Notice.id) == row.id)
                .values(attempts=attempts, **values)
            )
        return attempts

    async def _hand_over(self, row: Notice, error_type: str, message: str) -> None:
        """Start the notice's DeliverNoticeWorkflow for its notice_failed item (once:
        its id is the key), then mark the row failed and owned by that workflow. If
        Temporal does not answer, the row stays pending and is tried again later."""
        if row.case_id and self.client is not None:
            policy = (
                TaskPolicy.model_validate_json(row.failed_policy)
                if row.failed_policy
                else TaskPolicy()
            )
            notice = NoticeInput(
                key=row.key,
                case_id=row.case_id,
                task_id=row.task_id,
                kind=row.kind,
                recipient_type=row.recipient_type,
                recipient=row.recipient,
                template=row.kind,  # the row is rendered already; never rendered again
            )
            try:
                await self.client.start_workflow(
                    "DeliverNoticeWorkflow",
                    DeliverNoticeInput(
                        notice=notice,
                        policy=policy,
                        attempts=max(1, row.max_attempts or 1),
                        max_interval=timedelta(seconds=row.max_interval_seconds or 600),
                        failed=NoticeFailedInput(
                            key=row.key, error_type=error_type, message=message
                        ),
                    ),
                    id=f"notice-{row.key}",
                    task_queue=self.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )
            except WorkflowAlreadyStartedError:
                pass  # handed over before (a dispatcher died before marking the row)
            except Exception as exc:
                log.warning("notice_handover_failed", error=str(exc))
                await asyncio.to_thread(self._retry_later, row)
                return
        await asyncio.to_thread(self._mark_failed, row, f"{error_type}: {message}")
        log.warning("notice_failed_for_good", error_type=error_type)

    def _retry_later(self, row: Notice) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(Notice)
                .where(col(Notice.id) == row.id)
                .values(
                    claimed_until=None,
                    next_attempt_at=utcnow() + timedelta(seconds=self.poll_seconds * 5),
                )
            )

    def _mark_failed(self, row: Notice, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(Notice)
                .where(
                    col(Notice.id) == row.id,
                    col(Notice.status) == "pending",
                    col(Notice.dispatch) == "outbox",
                )
                .values(
                    status="failed",
                    dispatch="workflow" if row.case_id else "outbox",
                    error=error,
                    claimed_until=None,
                )
            )
