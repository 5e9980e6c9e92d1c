"""Schemathesis over /openapi.json (issue 7, item 5): generated requests, valid and
invalid, with a clerk's and an admin's token, through the whole app in-process (real
Temporal dev server, seeded database). No answer may be a server error, and every
answer must match the schema (status code documented, body of the documented shape).

Hypothesis runs in a worker thread; each request is sent on the test's own event loop
(where the app's Temporal client lives) through httpx's ASGI transport. Examples are
bounded per operation and derandomized, so the run is reproducible and stays within
about a minute on two cores."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import SQLITE_ONLY

# The schema and the input bounds do not depend on the database (the input guard and
# the DB-fault tests run on both).
pytestmark = SQLITE_ONLY

# Examples per operation, per token and per mode (valid / invalid data): 10 keeps the
# run near a minute per database on two cores as the API grows.
MAX_EXAMPLES = 10
# Operations that would end the test's own sessions, or whose per-address login
# throttle would slow the run with its growing delays; test_auth.py covers them.
SKIP = {("POST", "/api/auth/logout"), ("POST", "/api/auth/token")}
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def _httpx_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The requests-style arguments schemathesis prepares, for httpx."""
    out = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params") or None,
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    if kwargs.get("files"):
        out["files"] = kwargs["files"]
    return out


def _hypothesis_test(
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    send: Callable[[dict[str, Any]], httpx.Response],
) -> Callable[[], None]:
    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://test", headers=headers)
        case.validate_response(send(kwargs), checks=CHECKS)

    return check


async def test_openapi_schema_holds_for_generated_requests(http, auth):
    spec = (await http.get("/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(spec)
    tokens = {"clerk": await auth("county"), "admin": await auth("admin")}
    loop = asyncio.get_running_loop()
    failures: list[str] = []
    sent = 0
    statuses: dict[int, int] = {}

    def send(kwargs: dict[str, Any]) -> httpx.Response:
        nonlocal sent
        sent += 1
        future = asyncio.run_coroutine_threadsafe(
            http.request(**_httpx_kwargs(kwargs)), loop
        )
        response = future.result(timeout=60)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        return response

    def run() -> None:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SKIP:
                continue
            for who, headers in tokens.items():
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    check = _hypothesis_test(operation, mode, headers, send)
                    try:
                        check()
                    except Unsatisfiable:
                        # No invalid value exists (e.g. no parameters, or a free
                        # string path parameter): nothing to send in that mode.
                        assert mode is GenerationMode.NEGATIVE
                    except Exception as exc:  # one line per failing operation
                        failures.append(
                            f"{who} {mode.value} {operation.method.upper()} "
                            f"{operation.path}: {exc}"
                        )

    await asyncio.to_thread(run)
    assert not failures, "\n\n".join(failures)
    # Enough requests went through, and some of them were valid enough to succeed.
    assert sent > 500 and statuses.get(200, 0) > 50, statuses
    assert not any(code >= 500 for code in statuses), statuses
