"""The public keys that verify evidence packs (the current key and every retired one)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SettingsDep
from models.evidence_signing import published_keys


class EvidenceKey(BaseModel):
    key_id: str
    algorithm: str
    public_key_pem: str


router = APIRouter(prefix="/api/evidence", tags=["evidence"])


@router.get("/keys", summary="Public keys that verify evidence packs")
async def evidence_keys(user: CurrentUser, settings: SettingsDep) -> list[EvidenceKey]:
    """The Ed25519 public keys of evidence packs: the current signing key first, then
    retired keys (kept so packs signed before a rotation still verify). Save the answer
    and check a pack offline: `vetflow verify-evidence pack.zip --key keys.json`."""
    keys = await run_in_threadpool(published_keys, settings)
    return [EvidenceKey(**k.public()) for k in keys]
