"""Error answers of the JSON API, each a clear ``{"detail": ...}``.

404 is also the answer for things outside the caller's org subtree: staff must not
learn that a record of another unit exists (visibility rule of the registry).
"""

from __future__ import annotations

from fastapi import HTTPException, status


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
