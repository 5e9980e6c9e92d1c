"""The escalation ladders the processes share (003 §7.9): who hears of an overdue task,
and when. A process's policy names one of these instead of spelling its rungs out."""

from __future__ import annotations

from datetime import timedelta

from models.contracts import EscalationRung


def county_ladder(leader_after_working_days: int) -> list[EscalationRung]:
    """The supervisor at the due time, the county centre's leaders that many working
    days later."""
    return [
        EscalationRung(after_working_days=0, notify="supervisor"),
        EscalationRung(
            after_working_days=leader_after_working_days, notify="county_leader"
        ),
    ]


def fast_county_ladder() -> list[EscalationRung]:
    """The demo and test profiles' ladder: the supervisor at once, the county's
    leaders two minutes later."""
    return [
        EscalationRung(after=timedelta(0), notify="supervisor"),
        EscalationRung(after=timedelta(minutes=2), notify="county_leader"),
    ]
