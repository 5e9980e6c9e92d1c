"""The generic guard in front of every route: bounded request bodies and clean text.

:class:`InputGuardMiddleware` reads a request body only up to ``MAX_BODY_BYTES`` (a
larger ``Content-Length`` is refused before anything is read; the Temporal Web UI's
remote codec under ``/api/codec/`` has wider bounds, ``WIDE_PATHS``), then checks the
body it hands on: a JSON body for nesting depth, keys per object, values in all, string
length, integers within 64 bits and finite numbers; JSON strings, form fields, query
parameters and the path for control characters and lone surrogates. What it finds is
left in the request state and raised by :func:`raise_input_problem`, an app-wide
dependency, so the JSON API answers ``413 {"detail": str}`` or FastAPI's
``422 {"detail": [{"loc", "msg", "type"}]}`` and pages show their error page. Nothing
refused here reaches the database or Temporal (whose payload limit is 2 MiB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.params import bad_text_reason

MAX_BODY_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_KEYS_PER_OBJECT = 500
MAX_VALUES = 10_000
MAX_STRING_CHARS = 20_000
MAX_INT = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    body_bytes: int = MAX_BODY_BYTES
    values: int = MAX_VALUES
    string_chars: int = MAX_STRING_CHARS


DEFAULT_LIMITS = Limits()
# The Temporal Web UI's remote codec (api/routes/codec.py) posts batches of encoded
# payloads, each up to Temporal's own 2 MiB, as base64 strings.
CODEC_LIMITS = Limits(
    body_bytes=16 * 1024 * 1024, values=100_000, string_chars=16 * 1024 * 1024
)
WIDE_PATHS = {"/api/codec/": CODEC_LIMITS}


def limits_for(path: str) -> Limits:
    for prefix, limits in WIDE_PATHS.items():
        if path.startswith(prefix):
            return limits
    return DEFAULT_LIMITS


STATE_KEY = "input_problem"


def too_large(limit: int) -> str:
    return f"请求内容过大，上限 {limit // 1024} KiB (request body larger than {limit} bytes)"


class InputProblem(Exception):
    """What is wrong with the request: an HTTP status and its detail."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _invalid(loc: list[str | int], msg: str, kind: str) -> InputProblem:
    return InputProblem(422, [{"loc": loc, "msg": msg, "type": kind}])


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def check_json_value(
    value: Any, loc: list[str | int], limits: Limits = DEFAULT_LIMITS
) -> None:
    """Raise :class:`InputProblem` (422, with the value's ``loc``) for the first bound
    the parsed JSON ``value`` breaks."""
    count = 0
    stack: list[tuple[Any, list[str | int]]] = [(value, loc)]
    while stack:
        item, where = stack.pop()
        count += 1
        if count > limits.values:
            raise _invalid(
                loc,
                f"至多 {limits.values} 个值 (at most {limits.values} values)",
                "too_long",
            )
        depth = len(where) - len(loc)
        if isinstance(item, dict | list) and depth >= MAX_DEPTH:
            raise _invalid(
                where,
                f"嵌套过深，至多 {MAX_DEPTH} 层 (nested deeper than {MAX_DEPTH})",
                "too_deep",
            )
        if isinstance(item, dict):
            if len(item) > MAX_KEYS_PER_OBJECT:
                raise _invalid(
                    where,
                    f"至多 {MAX_KEYS_PER_OBJECT} 个字段 "
                    f"(at most {MAX_KEYS_PER_OBJECT} keys)",
                    "too_long",
                )
            for key, sub in item.items():
                _check_text(key, [*where, key], limits)
                stack.append((sub, [*where, key]))
        elif isinstance(item, list):
            stack.extend((sub, [*where, i]) for i, sub in enumerate(item))
        elif isinstance(item, str):
            _check_text(item, where, limits)
        elif isinstance(item, int) and not isinstance(item, bool):
            if not -MAX_INT - 1 <= item <= MAX_INT:
                raise _invalid(
                    where, "整数超出范围 (integer out of range)", "int_range"
                )


def _check_text(
    text: str, where: list[str | int], limits: Limits = DEFAULT_LIMITS
) -> None:
    if len(text) > limits.string_chars:
        raise _invalid(
            where,
            f"文本过长，至多 {limits.string_chars} 字 "
            f"(longer than {limits.string_chars} characters)",
            "string_too_long",
        )
    reason = bad_text_reason(text)
    if reason is not None:
        raise _invalid(where, reason, "string_invalid")


def check_body(content_type: str, body: bytes, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check a whole request body by its content type (JSON, or a URL-encoded form)."""
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return
    if kind in ("", "application/json") or kind.endswith("+json"):
        try:
            value = json.loads(body, parse_constant=_reject_constant)
        except ValueError as exc:  # JSONDecodeError, bad UTF-8, NaN/Infinity
            raise _invalid(
                ["body"], f"JSON 格式错误 (invalid JSON: {exc})", "json_invalid"
            ) from None
        check_json_value(value, ["body"], limits)
    elif kind == "application/x-www-form-urlencoded":
        fields = parse_qsl(
            body.decode("latin-1"), keep_blank_values=True, errors="replace"
        )
        for key, val in fields:
            _check_text(key, ["body", key], limits)
            _check_text(val, ["body", key], limits)


def check_query(query_string: bytes) -> None:
    for key, val in parse_qsl(
        query_string.decode("latin-1"), keep_blank_values=True, errors="replace"
    ):
        _check_text(key, ["query", key])
        _check_text(val, ["query", key])


class InputGuardMiddleware:
    """Bounds and checks every HTTP request's path, query and body (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            reason = bad_text_reason(scope.get("path", ""))
            if reason is not None:
                raise _invalid(["path"], reason, "string_invalid")
            check_query(scope.get("query_string", b""))
        except InputProblem as problem:
            state[STATE_KEY] = problem
        limits = limits_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limits.body_bytes:
            # Refused unread: the route sees an empty body and the guard's 413.
            state[STATE_KEY] = InputProblem(413, too_large(limits.body_bytes))
            await self.app(scope, _empty_body, send)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the route will see it too
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limits.body_bytes:
                state[STATE_KEY] = InputProblem(413, too_large(limits.body_bytes))
                await self.app(scope, _empty_body, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if STATE_KEY not in state:
            try:
                content_type = headers.get(b"content-type", b"").decode("latin-1")
                check_body(content_type, body, limits)
            except InputProblem as problem:
                state[STATE_KEY] = problem
        await self.app(scope, _replay(body, receive), send)


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again


async def raise_input_problem(request: Request) -> None:
    """App-wide dependency: answer what the middleware found (413 or 422) before the
    route's own dependencies (authentication included) and its work."""
    problem = request.scope.get("state", {}).get(STATE_KEY)
    if isinstance(problem, InputProblem):
        raise HTTPException(problem.status, detail=problem.detail)
