"""Error answers of the JSON API, each a clear ``{"detail": ...}``.

404 is also the answer for things outside the caller's org subtree: staff must not
learn that a record of another unit exists (visibility rule of the registry).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from pydantic import BaseModel, Field


def not_found(what_zh: str, what_en: str) -> HTTPException:
    """404 ``"<what>不存在 (<what> not found)"``."""
    return HTTPException(
        status.HTTP_404_NOT_FOUND, detail=f"{what_zh}不存在 ({what_en} not found)"
    )


def conflict(message: str) -> HTTPException:
    """409: the request clashes with data that exists (e.g. a duplicate ID number)."""
    return HTTPException(status.HTTP_409_CONFLICT, detail=message)


def forbidden(message: str) -> HTTPException:
    """403: authenticated, but the role does not allow this action."""
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=message)


def field_error(field: str, message: str, *, location: str = "body") -> HTTPException:
    """422 in FastAPI's own validation shape, so clients read every 422 the same way:
    ``{"detail": [{"loc": ["body", field], "msg": ..., "type": "value_error"}]}``."""
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        detail=[{"loc": [location, field], "msg": message, "type": "value_error"}],
    )


def invalid(errors: list[dict[str, Any]]) -> HTTPException:
    """422 with several ``{"loc", "msg", "type"}`` items (FastAPI's shape)."""
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=errors)


# --- the one error shape of the API, as OpenAPI documents it -------------------------


class Refusal(BaseModel):
    """A refusal with a machine-readable ``type`` (e.g. ``ClaimedByOther``,
    ``TaskNotOpen``, ``CaseClosed``, ``TemporalTimeout``) and a message for people."""

    type: str | None = None
    message: str
    holder: str | None = Field(
        default=None, description="Who holds the task (409 ClaimedByOther)"
    )
    case_id: str | None = Field(
        default=None, description="The case that already exists (409 on a start)"
    )


class ErrorResponse(BaseModel):
    """Every error but 422: ``{"detail": "<message>"}`` or ``{"detail": {"type",
    "message", ...}}``."""

    detail: str | Refusal


class ValidationItem(BaseModel):
    loc: list[str | int] = Field(
        description='Where: `["body", field, ...]`, `["query", name]`, `["path", name]`'
    )
    msg: str
    type: str


class ValidationErrorResponse(BaseModel):
    """Every 422, the workflow's refusals of form data included:
    ``{"detail": [{"loc", "msg", "type"}, ...]}``."""

    detail: list[ValidationItem]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Declared for every route of the app (FastAPI(responses=...)).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("The body could not be read"),
    401: _doc("Not authenticated, or the token expired"),
    403: _doc("Authenticated, but not allowed to do this"),
    404: _doc("Not found, or outside your organisation's subtree"),
    409: _doc("Clashes with the current state (task taken, case closed, duplicate)"),
    413: _doc("Request body too large"),
    422: {
        "model": ValidationErrorResponse,
        "description": "Invalid input: each item names the field and the reason",
    },
    429: _doc("Too many attempts; try again later"),
    503: _doc("Database or workflow engine unavailable; see Retry-After"),
}


def document_errors(openapi: dict[str, Any]) -> dict[str, Any]:
    """Give every operation's error answers the shared body schema, also where a route
    declares a code with a description only (FastAPI then drops the app's model)."""
    for item in openapi.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for code, doc in ERROR_RESPONSES.items():
                answer = op["responses"].setdefault(
                    str(code), {"description": doc["description"]}
                )
                if "content" not in answer:
                    model = doc["model"].__name__
                    answer["content"] = {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{model}"}
                        }
                    }
    return openapi
