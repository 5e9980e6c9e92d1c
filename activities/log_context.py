"""Bind case_id / workflow_id / activity / request_id to every structlog line an
activity writes.

The request id (models/request_id.py) arrives in the Temporal headers of the API's
start, signal and Update calls. The workflow interceptor below reads it from them and
puts it in the headers of the activities and child workflows the workflow starts (the
pattern of temporalio/samples-python ``context_propagation``): an activity started by
an Update or signal handler carries that call's id; one started by the workflow's main
loop carries the id of the latest start, signal or Update the workflow received (most
often the click that let it move on). The id only travels in headers: the workflow's decisions never
read it, so replay is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import structlog
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.converter import default as default_converter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    ExecuteWorkflowInput,
    HandleSignalInput,
    HandleUpdateInput,
    Interceptor,
    StartActivityInput,
    StartChildWorkflowInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from models.request_id import HEADER, VALID

# The id of the handler (signal or Update) being run, in that handler's asyncio task.
_HANDLER_REQUEST_ID: ContextVar[str | None] = ContextVar(
    "vetflow_handler_request_id", default=None
)


def request_id_of(headers: Mapping[str, Payload]) -> str | None:
    """The request id in Temporal headers, if one is there and well formed."""
    payload = headers.get(HEADER)
    if payload is None:
        return None
    try:
        value = default_converter().payload_converter.from_payload(payload, str)
    except Exception:  # a foreign or broken header is ignored, never fatal
        return None
    return value if isinstance(value, str) and VALID.match(value) else None


def _context(headers: Mapping[str, Payload]) -> dict[str, Any]:
    info = activity.info()
    wf = info.workflow_id or ""
    case_id = wf.removeprefix("archive-")
    context = {
        "workflow_id": wf,
        "case_id": case_id,
        "activity": info.activity_type,
        "attempt": info.attempt,
    }
    rid = request_id_of(headers)
    if rid:
        context["request_id"] = rid
    return context


class _BindLogContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        # Bound around the await: the SDK copies this context into the thread that
        # runs a sync activity when it submits it, inside this block.
        with structlog.contextvars.bound_contextvars(**_context(input.headers)):
            return await self.next.execute_activity(input)


class _WorkflowInbound(WorkflowInboundInterceptor):
    """One per workflow run: remembers the latest request id it received."""

    latest: str | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        self.next.init(_WorkflowOutbound(outbound, self))

    @contextmanager
    def _received(self, headers: Mapping[str, Payload]) -> Iterator[None]:
        rid = request_id_of(headers)
        if rid is None:
            yield
            return
        self.latest = rid
        token = _HANDLER_REQUEST_ID.set(rid)
        try:
            yield
        finally:
            _HANDLER_REQUEST_ID.reset(token)

    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        # Not bound for the main loop: it uses ``latest``, which later calls move on.
        self.latest = request_id_of(input.headers)
        return await self.next.execute_workflow(input)

    async def handle_signal(self, input: HandleSignalInput) -> None:
        with self._received(input.headers):
            return await self.next.handle_signal(input)

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        with self._received(input.headers):
            return await self.next.handle_update_handler(input)


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(
        self, next: WorkflowOutboundInterceptor, inbound: _WorkflowInbound
    ) -> None:
        super().__init__(next)
        self.inbound = inbound

    def _headers(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        rid = _HANDLER_REQUEST_ID.get() or self.inbound.latest
        if rid is None:
            return headers
        return {
            **headers,
            HEADER: default_converter().payload_converter.to_payload(rid),
        }

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = self._headers(input.headers)
        return self.next.start_activity(input)

    def start_local_activity(
        self, input: StartLocalActivityInput
    ) -> workflow.ActivityHandle[Any]:
        input.headers = self._headers(input.headers)
        return self.next.start_local_activity(input)

    async def start_child_workflow(
        self, input: StartChildWorkflowInput
    ) -> workflow.ChildWorkflowHandle[Any, Any]:
        input.headers = self._headers(input.headers)
        return await self.next.start_child_workflow(input)


class LogContextInterceptor(Interceptor):
    """Worker interceptor: every activity runs with its case (and the request id that
    led to it, when there is one) in the log context."""

    def intercept_activity(
        self, next: ActivityInboundInterceptor
    ) -> ActivityInboundInterceptor:
        return _BindLogContext(next)

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound
