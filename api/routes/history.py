"""Auditors: a case's timeline in words, its raw history, and a replay against the code."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.audit import record_case_action
from api.case_queries import visible_case
from api.deps import CurrentUser, EngineDep, ReplayPoolDep, TemporalDep
from api.history_source import LoadedHistory, load_history, replay_history
from api.timeline import TimelineEntry, build_timeline
from models.public import ReplayResult
from models.tables import Case

router = APIRouter(prefix="/api/cases", tags=["history"])

REPLAY_ROLES = frozenset({"auditor", "admin"})
# Who may take a case's raw history (every form, comment and personal detail) away
# from the system: the API export and the evidence pack.
EXPORT_ROLES = frozenset({"auditor", "manager", "admin"})
# Who may take it with its payloads decrypted (as api/routes/codec.py's CODEC_ROLES).
DECRYPT_ROLES = frozenset({"auditor", "admin"})


async def _visible(engine: EngineDep, user: CurrentUser, case_id: str) -> Case:
    case = await run_in_threadpool(
        lambda: visible_case(engine, case_id, user.org_path, username=user.username)
    )
    if case is None:
        raise HTTPException(404, detail="案件不存在 (case not found)")
    return case


async def _load(
    engine: EngineDep, temporal: TemporalDep, user: CurrentUser, case_id: str
) -> tuple[Case, LoadedHistory]:
    case = await _visible(engine, user, case_id)
    loaded = await load_history(temporal, engine, case.workflow_id)
    if loaded is None:
        raise HTTPException(404, detail="案件历史已不存在 (history not found)")
    return case, loaded


@router.get(
    "/{case_id}/history",
    response_model=list[TimelineEntry],
    summary="The case's timeline in words",
)
async def case_history(
    case_id: str, engine: EngineDep, temporal: TemporalDep, user: CurrentUser
) -> list[TimelineEntry]:
    """Time, step, actor and what happened, built from the Temporal history (or its
    archived copy once Temporal's retention has removed it). 500
    `PayloadKeyUnavailable` names the key id to restore when the history is encrypted
    under a key this API lacks."""
    case, loaded = await _load(engine, temporal, user, case_id)
    return build_timeline(loaded.as_dict, case.process)


@router.get("/{case_id}/history/export", summary="The raw Temporal history as JSON")
async def export_history(
    case_id: str,
    engine: EngineDep,
    temporal: TemporalDep,
    user: CurrentUser,
    decrypted: Annotated[
        bool,
        Query(description="Payloads decrypted (auditors, admins); default: as stored"),
    ] = False,
) -> Any:
    """The history exactly as exported (`WorkflowHistory.to_json`); its SHA-256 and source
    come in the `X-History-SHA256` and `X-History-Source` headers. Auditors, managers
    and admins only (403 for other roles); every export is audited as
    `history_exported` (who, which case, when, the SHA-256; not the history).

    The history comes as stored, its payloads encrypted, unless ``decrypted=true``
    (auditors and admins: payloads in clear); `X-History-Decrypted` says which.
    `X-History-SHA256` is always that of the history as stored. Decrypted under a key
    this API lacks: 500 `PayloadKeyUnavailable`, naming the key id to restore."""
    if not EXPORT_ROLES.intersection(user.roles):
        raise HTTPException(
            403, detail="仅审计人员和主任可导出案件历史 (auditors and managers only)"
        )
    if decrypted and not DECRYPT_ROLES.intersection(user.roles):
        raise HTTPException(
            403, detail="仅审计人员和管理员可导出解密历史 (auditors and admins only)"
        )
    _, loaded = await _load(engine, temporal, user, case_id)
    await run_in_threadpool(
        record_case_action,
        engine,
        user.username,
        "history_exported",
        case_id,
        {"source": loaded.source, "sha256": loaded.sha256, "decrypted": decrypted},
    )
    return JSONResponse(
        loaded.as_dict if decrypted else loaded.stored_dict,
        headers={
            "X-History-SHA256": loaded.sha256,
            "X-History-Source": loaded.source,
            "X-History-Decrypted": "true" if decrypted else "false",
        },
    )


@router.post(
    "/{case_id}/replay",
    response_model=ReplayResult,
    summary="Replay the history against the current code",
)
async def replay_case(
    case_id: str,
    engine: EngineDep,
    temporal: TemporalDep,
    user: CurrentUser,
    pool: ReplayPoolDep,
) -> ReplayResult:
    """Auditors only: re-run the recorded history through today's workflow code and say
    whether it still produces the same decisions (no non-determinism)."""
    if not REPLAY_ROLES.intersection(user.roles):
        raise HTTPException(403, detail="仅审计人员可执行回放 (auditors only)")
    case = await _visible(engine, user, case_id)
    # Off the API's process: the pool reads an archived history itself, parses,
    # decrypts and replays; this process checks, fetches from Temporal and audits.
    replayed = await replay_history(temporal, engine, case.workflow_id, pool)
    if replayed is None:
        raise HTTPException(404, detail="案件历史已不存在 (history not found)")
    source, outcome = replayed
    await run_in_threadpool(
        record_case_action,
        engine,
        user.username,
        "replay_history",
        case_id,
        {"ok": outcome.failure is None, "source": source, "sha256": outcome.sha256},
    )
    return ReplayResult(
        ok=outcome.failure is None,
        event_count=outcome.event_count,
        error=outcome.failure,
        source=source,
        sha256=outcome.sha256,
    )
