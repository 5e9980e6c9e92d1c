"""The API's Temporal client: every call carries the request id, every Update is timed.

One client interceptor, because every start, signal, query and Update the API makes
goes through it (routes, pages and the demo alike): the request id bound by
api/middleware.py goes into the call's Temporal headers (models/request_id.py), and an
Update's round trip is observed in ``vetflow_temporal_update_duration_seconds``.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import structlog
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    HeaderCodecBehavior,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    StartWorkflowUpdateWithStartInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
    WorkflowUpdateStage,
)
from temporalio.converter import default as default_converter

from api.metrics import ApiMetrics
from models import request_id


class _HasHeaders(Protocol):
    headers: Any


def with_request_id(input: _HasHeaders) -> None:
    """Add the current request's id (if any) to a call's headers."""
    rid = structlog.contextvars.get_contextvars().get("request_id")
    if isinstance(rid, str) and rid:
        payload: Payload = default_converter().payload_converter.to_payload(rid)
        input.headers = {**input.headers, request_id.HEADER: payload}


def _outcome(handle: WorkflowUpdateHandle[Any]) -> str:
    # The outcome the server answered with (the SDK raises it from ``result()``).
    known = getattr(handle, "_known_outcome", None)
    return "rejected" if known is not None and known.HasField("failure") else "ok"


class _Outbound(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, metrics: ApiMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def start_workflow(
        self, input: StartWorkflowInput
    ) -> WorkflowHandle[Any, Any]:
        with_request_id(input)
        return await self.next.start_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        with_request_id(input)
        await self.next.signal_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        with_request_id(input)
        return await self.next.query_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        with_request_id(input)
        started = time.perf_counter()
        outcome = "error"  # timed out, cancelled, unreachable, workflow gone
        try:
            handle = await self.next.start_workflow_update(input)
            outcome = _outcome(handle)
            return handle
        finally:
            # Only calls that waited for the answer measure the Update's round trip.
            if input.wait_for_stage == WorkflowUpdateStage.COMPLETED:
                self.metrics.updates.labels(input.update, outcome).observe(
                    time.perf_counter() - started
                )

    async def start_update_with_start_workflow(
        self, input: StartWorkflowUpdateWithStartInput
    ) -> WorkflowUpdateHandle[Any]:
        with_request_id(input.start_workflow_input)
        with_request_id(input.update_workflow_input)
        return await self.next.start_update_with_start_workflow(input)


class ApiClientInterceptor(Interceptor):
    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Outbound(next, self.metrics)


def api_client(client: Client, metrics: ApiMetrics) -> Client:
    """The same connection as ``client`` (shared gRPC channel), with the API's
    interceptor added after any it already has, and headers encrypted by the payload
    codec like every other payload (a caller's X-Request-ID is theirs to choose)."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], ApiClientInterceptor(metrics)]
    config["header_codec_behavior"] = HeaderCodecBehavior.CODEC
    return Client(**config)
