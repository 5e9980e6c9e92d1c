"""The remote payload codec for the Temporal Web UI (Temporal's codec server protocol).

Temporal holds every payload encrypted (models/payload_codec.py), so its Web UI shows
ciphertext. Started with ``--ui-codec-endpoint http://<api>/api/codec`` (as `vetflow dev`
does), the UI posts ``{"payloads": [{"metadata": {k: base64}, "data": base64}]}`` to
``/api/codec/decode`` and shows what comes back. Only auditors and admins get clear
payloads: the caller is authenticated by a bearer token or the page session cookie (the
UI sends the cookie when its "include credentials" setting is on), others get 401/403,
and each request leaves one audit row (counts and key ids, never payload contents).
Browsers may call it from the origins in ``VETFLOW_CODEC_CORS_ORIGINS`` only.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.api.common.v1 import Payload

from api.audit import record_audit
from api.deps import (
    AuthUser,
    EngineDep,
    SettingsDep,
    TemporalDep,
    bearer_session,
    get_current_user,
    load_session_user,
)
from api.errors import field_error, invalid
from api.web.session import session_claims
from models.payload_codec import ENCODING, KEY_ID, PayloadKeyError
from models.settings import Settings

router = APIRouter(prefix="/api/codec", tags=["codec"])

CODEC_ROLES = frozenset({"auditor", "admin"})
MAX_PAYLOADS = 2000


class WirePayload(BaseModel):
    """A Temporal payload as JSON: metadata values and data in base64."""

    metadata: dict[str, str] = Field(default_factory=dict, max_length=64)
    data: str = ""


class WirePayloads(BaseModel):
    payloads: list[WirePayload] = Field(max_length=MAX_PAYLOADS)


def cors_headers(request: Request, settings: Settings) -> dict[str, str]:
    """CORS answer headers for an allowed ``Origin`` (credentials allowed); none else."""
    origin = request.headers.get("origin", "")
    allowed = {o.strip() for o in settings.codec_cors_origins.split(",") if o.strip()}
    if origin and origin in allowed:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }
    return {"Vary": "Origin"}


def _to_proto(i: int, wire: WirePayload, cors: dict[str, str]) -> Payload:
    try:
        return Payload(
            metadata={
                k: base64.b64decode(v, validate=True) for k, v in wire.metadata.items()
            },
            data=base64.b64decode(wire.data, validate=True),
        )
    except (binascii.Error, ValueError) as exc:
        error = invalid(
            [
                {
                    "loc": ["body", "payloads", i],
                    "msg": "metadata values and data must be base64",
                    "type": "value_error",
                }
            ]
        )
        error.headers = cors
        raise error from exc


def _to_wire(p: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
        "data": base64.b64encode(p.data).decode(),
    }


async def _caller(
    request: Request, settings: Settings, engine: Engine
) -> AuthUser | None:
    """The bearer token's user, else the page session's; None when neither is valid."""
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        try:
            session = await bearer_session(auth[7:].strip(), settings)
            return await get_current_user(session, engine)
        except HTTPException:
            return None
    claims = session_claims(request, settings)
    if claims is None:
        return None
    return await run_in_threadpool(
        load_session_user, engine, claims["sid"], str(claims["sub"]), "page"
    )


async def codec_user(
    request: Request, settings: SettingsDep, engine: EngineDep
) -> AuthUser:
    """An auditor or admin (401/403 otherwise, with the UI's CORS headers); a
    dependency, so the caller is checked before the body or the path."""
    cors = cors_headers(request, settings)
    user = await _caller(request, settings, engine)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="未登录或登录已过期 (not authenticated)",
            headers={"WWW-Authenticate": "Bearer", **cors},
        )
    if not user.has_role(*CODEC_ROLES):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail="仅审计人员和管理员可解密 (auditors and admins only)",
            headers=cors,
        )
    return user


def _audit(
    engine: Engine, actor: str, op: str, namespace: str, after: dict[str, Any]
) -> None:
    with Session(engine) as s:
        record_audit(
            s,
            actor=actor,
            action=f"payloads_{op}d",
            entity_type="temporal_namespace",
            entity_id=namespace,
            after=after,
        )
        s.commit()


@router.options("/{op}", include_in_schema=False)
async def codec_preflight(
    op: Literal["encode", "decode"], request: Request, settings: SettingsDep
) -> Response:
    headers = cors_headers(request, settings)
    if "Access-Control-Allow-Origin" in headers:
        headers |= {
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, Authorization, X-Namespace",
            "Access-Control-Max-Age": "600",
        }
    return Response(status_code=204, headers=headers)


@router.post(
    "/{op}",
    response_model=WirePayloads,
    summary="Temporal remote codec: decode or encode payloads (auditors, admins)",
    responses={
        401: {"description": "Not authenticated"},
        403: {"description": "Not an auditor or admin"},
        422: {"description": "Not base64, or a key id this keyring does not hold"},
    },
)
async def codec(
    op: Literal["encode", "decode"],
    body: WirePayloads,
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    temporal: TemporalDep,
    user: Annotated[AuthUser, Depends(codec_user)],
    x_namespace: Annotated[str, Header(max_length=255)] = "",
) -> JSONResponse:
    """``decode`` answers the payloads in clear, ``encode`` encrypts them with the
    active key; payloads that are not encrypted pass through ``decode`` unchanged."""
    cors = cors_headers(request, settings)
    payloads = [_to_proto(i, p, cors) for i, p in enumerate(body.payloads)]
    key_ids = sorted(
        {
            p.metadata[KEY_ID].decode("utf-8", "replace")
            for p in payloads
            if p.metadata.get("encoding") == ENCODING and KEY_ID in p.metadata
        }
    )
    codec = temporal.data_converter.payload_codec
    detail: dict[str, Any] = {"payloads": len(payloads), "key_ids": key_ids}
    try:
        if codec is None:
            out = payloads
        elif op == "decode":
            out = await codec.decode(payloads)
        else:
            out = await codec.encode(payloads)
    except PayloadKeyError as exc:
        await run_in_threadpool(
            _audit, engine, user.username, op, x_namespace, {**detail, "ok": False}
        )
        error = field_error("payloads", str(exc))
        error.headers = cors
        raise error from exc
    await run_in_threadpool(
        _audit, engine, user.username, op, x_namespace, {**detail, "ok": True}
    )
    return JSONResponse({"payloads": [_to_wire(p) for p in out]}, headers=cors)
