"""The outbox dispatcher (engine notice-outbox) delivers each queued notice, shares the
outbox between worker processes by leases, backs off after a failure and gives up after
the case policy's attempts — on SQLite and PostgreSQL. The hand-over to a clerk's
notice_failed work item runs on the real dev server in tests/workflows/test_notices.py."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from sqlmodel import Session, select

from activities.notice_outbox import NoticeDispatcher, backoff
from activities.notifications import NotificationActivities
from activities.notify_adapters import LogAdapter, NoticeRejected
from models.contracts import DeliverNoticeInput, TaskPolicy
from models.tables import Notice, utcnow
from tests.activities.test_notifications import correction


@dataclass
class Gateway(LogAdapter):
    """Counts deliveries per key (thread-safe); fails the first ``failures`` tries."""

    failures: int = 0
    refuse: bool = False
    sent: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def deliver(self, notice: Notice) -> None:
        with self.lock:
            if self.refuse:
                raise NoticeRejected("recipient refused")
            if self.failures > 0:
                self.failures -= 1
                raise ConnectionError("gateway down")
            self.sent.append(notice.key)


def queue(engine, key: str, vid: int, **delivery) -> NotificationActivities:
    acts = NotificationActivities(engine, LogAdapter())
    acts.queue_notice(DeliverNoticeInput(notice=correction(key, vid), **delivery))
    return acts


def row(engine, key: str) -> Notice:
    with Session(engine) as s:
        return s.exec(select(Notice).where(Notice.key == key)).one()


def dispatcher(engine, gateway: Gateway, **kw) -> NoticeDispatcher:
    return NoticeDispatcher(engine, gateway, None, "q", poll_seconds=0.05, **kw)


async def drain(d: NoticeDispatcher, until, timeout: float = 10.0) -> None:
    task = asyncio.create_task(d.run())
    try:
        async with asyncio.timeout(timeout):
            while not await asyncio.to_thread(until):
                await asyncio.sleep(0.02)
    finally:
        d.stop()
        await task


def test_queueing_is_once_per_key_and_wakes_the_dispatcher(engine, people):
    woken: list[int] = []
    acts = NotificationActivities(engine, LogAdapter())
    acts.on_queued = lambda: woken.append(1)
    inp = DeliverNoticeInput(
        notice=correction("k1", people.with_email),
        attempts=3,
        max_interval=timedelta(seconds=7),
        policy=TaskPolicy(duration=timedelta(hours=2)),
    )
    acts.queue_notice(inp)
    acts.queue_notice(inp)  # a retried local activity
    with Session(engine) as s:
        (only,) = s.exec(select(Notice)).all()
    assert only.status == "pending" and only.dispatch == "outbox"
    assert only.max_attempts == 3 and only.max_interval_seconds == 7
    assert "户口簿" in only.body  # rendered when queued
    assert TaskPolicy.model_validate_json(only.failed_policy or "").duration == (
        timedelta(hours=2)
    )
    assert woken == [1, 1]


def test_a_broken_template_is_queued_failed_for_a_person(engine, people):
    acts = NotificationActivities(engine, LogAdapter())
    broken = correction("k-broken", people.with_email).model_copy(
        update={"context": {}}
    )
    acts.queue_notice(DeliverNoticeInput(notice=broken))
    queued = row(engine, "k-broken")
    assert queued.max_attempts == 0 and queued.status == "pending"
    assert (queued.error or "").startswith("NoticeTemplateError")


async def test_two_dispatchers_deliver_each_notice_once(engine, people):
    keys = [f"k{i}" for i in range(30)]
    for key in keys:
        queue(engine, key, people.with_email)
    gateway = Gateway()
    first, second = dispatcher(engine, gateway), dispatcher(engine, gateway, batch=4)

    def all_sent() -> bool:
        with Session(engine) as s:
            return all(n.status == "sent" for n in s.exec(select(Notice)).all())

    tasks = [asyncio.create_task(d.run()) for d in (first, second)]
    try:
        async with asyncio.timeout(15):
            while not await asyncio.to_thread(all_sent):
                await asyncio.sleep(0.02)
    finally:
        for d in (first, second):
            d.stop()
        await asyncio.gather(*tasks)
    assert sorted(gateway.sent) == sorted(keys)  # none twice, none left
    assert all(row(engine, k).attempts == 1 for k in keys)


def test_a_claim_is_exclusive_until_its_lease_ends(engine, people):
    queue(engine, "k-lease", people.with_email)
    first = dispatcher(engine, Gateway(), lease=timedelta(seconds=30))
    assert len(first.claim(10)) == 1
    assert dispatcher(engine, Gateway()).claim(10) == []  # held by the first
    with Session(engine) as s:  # the first worker died: its lease runs out
        held = s.exec(select(Notice)).one()
        held.claimed_until = utcnow() - timedelta(seconds=1)
        s.add(held)
        s.commit()
    assert len(dispatcher(engine, Gateway()).claim(10)) == 1


async def test_a_failure_backs_off_then_the_notice_is_sent(engine, people):
    queue(engine, "k-retry", people.with_email, attempts=5)
    gateway = Gateway(failures=1)
    d = dispatcher(engine, gateway)
    before = utcnow()
    claimed = d.claim(10)
    await d.deliver(claimed[0])
    failed = row(engine, "k-retry")
    assert failed.status == "pending" and failed.attempts == 1
    assert "gateway down" in (failed.error or "")
    assert failed.next_attempt_at is not None
    assert failed.next_attempt_at >= before + timedelta(seconds=1)  # backed off
    assert failed.claimed_until is None
    assert d.claim(10) == []  # not due yet
    await drain(d, lambda: row(engine, "k-retry").status == "sent")
    assert gateway.sent == ["k-retry"] and row(engine, "k-retry").attempts == 2


async def test_attempts_are_bounded_then_the_notice_is_failed(engine, people):
    queue(
        engine,
        "k-down",
        people.with_email,
        attempts=2,
        max_interval=timedelta(seconds=1),
    )
    gateway = Gateway(failures=99)
    await drain(
        dispatcher(engine, gateway), lambda: row(engine, "k-down").status == "failed"
    )
    gave_up = row(engine, "k-down")
    assert gave_up.attempts == 2 and gave_up.dispatch == "workflow"
    assert (gave_up.error or "").startswith("ConnectionError")


async def test_a_refusal_is_not_retried(engine, people):
    queue(engine, "k-refused", people.with_email, attempts=8)
    await drain(
        dispatcher(engine, Gateway(refuse=True)),
        lambda: row(engine, "k-refused").status == "failed",
    )
    refused = row(engine, "k-refused")
    assert refused.attempts == 1 and (refused.error or "").startswith("NoticeRejected")


def test_backoff_doubles_up_to_the_cap():
    cap = timedelta(seconds=10)
    assert [backoff(n, cap).total_seconds() for n in range(1, 6)] == [1, 2, 4, 8, 10]


def test_a_notice_without_an_input_row_is_ignored(engine):
    assert dispatcher(engine, Gateway()).claim(5) == []
    assert asyncio.run(dispatcher(engine, Gateway()).deliver(12345)) is None
