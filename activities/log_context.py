"""Bind case_id / workflow_id / activity to every structlog line an activity writes."""

from __future__ import annotations

import inspect
from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


def _context() -> dict[str, Any]:
    info = activity.info()
    wf = info.workflow_id or ""
    case_id = wf.removeprefix("archive-")
    return {
        "workflow_id": wf,
        "case_id": case_id,
        "activity": info.activity_type,
        "attempt": info.attempt,
    }


class _BindLogContext(ActivityInboundInterceptor):
    def execute_activity(self, input: ExecuteActivityInput) -> Any:
        if inspect.iscoroutinefunction(input.fn):
            return self._run_async(input)
        with structlog.contextvars.bound_contextvars(**_context()):
            return self.next.execute_activity(input)

    async def _run_async(self, input: ExecuteActivityInput) -> Any:
        with structlog.contextvars.bound_contextvars(**_context()):
            return await self.next.execute_activity(input)


class LogContextInterceptor(Interceptor):
    """Worker interceptor: every activity runs with its case in the log context."""

    def intercept_activity(
        self, next: ActivityInboundInterceptor
    ) -> ActivityInboundInterceptor:
        return _BindLogContext(next)
