"""The evidence pack of a case: what an auditor needs to verify it offline.

A zip with the timeline in words, every form as submitted with outcome and reason, the
workflow version (worker build ids), the exported history and its SHA-256, signed
with Ed25519 (models/evidence_signing.py; `vetflow verify-evidence` checks it offline).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.history_source import LoadedHistory, build_ids
from api.timeline import TimelineEntry
from models.evidence_signing import signed_zip
from models.tables import Case, HumanTask


def _vetflow_version() -> str:
    try:
        return version("vetflow")
    except PackageNotFoundError:
        return "unknown"


def evidence_zip(
    case: Case,
    tasks: list[HumanTask],
    timeline: list[TimelineEntry],
    loaded: LoadedHistory,
    actor: str,
    signing_key: Ed25519PrivateKey,
) -> bytes:
    forms: list[dict[str, Any]] = [
        {
            "task_id": t.id,
            "step": t.step,
            "title": t.title,
            "round": t.round,
            "regulation": t.regulation,
            "status": t.status,
            "outcome": t.outcome,
            "data": t.result,
            "comment": t.comment,
            "completed_by": t.completed_by,
            "completed_at": t.completed_at.isoformat() if t.completed_at else None,
            "due_at": t.due_at.isoformat() if t.due_at else None,
            "overdue": t.overdue,
        }
        for t in tasks
    ]
    manifest = {
        "case_id": case.id,
        "process": case.process,
        "workflow_id": case.workflow_id,
        "workflow_build_ids": build_ids(loaded.as_dict),
        "vetflow_version": _vetflow_version(),
        "history_source": loaded.source,
        # history.json has its payloads decrypted, so the pack reads offline without
        # the payload keys; stored_history_sha256 is that of the history as Temporal
        # and the archive hold it (encrypted), the export's X-History-SHA256.
        "history_decrypted": True,
        "history_sha256": loaded.decoded_sha256,
        "stored_history_sha256": loaded.sha256,
        "generated_at": datetime.now(UTC).isoformat(),
        "generated_by": actor,
    }
    text_timeline = "\n".join(
        f"{e.at}\t{e.actor or ''}\t{e.text}" + (f"\t{e.comment}" if e.comment else "")
        for e in timeline
    )
    # Signed: manifest.json lists every file's SHA-256; signature.json signs it.
    files = [
        (
            "timeline.json",
            json.dumps(
                [e.model_dump() for e in timeline], ensure_ascii=False, indent=2
            ).encode(),
        ),
        ("timeline.txt", text_timeline.encode()),
        ("forms.json", json.dumps(forms, ensure_ascii=False, indent=2).encode()),
        ("history.json", loaded.decoded_text.encode()),
        ("history.sha256", f"{loaded.decoded_sha256}  history.json\n".encode()),
    ]
    return signed_zip(manifest, files, signing_key)
