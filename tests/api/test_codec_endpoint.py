"""Personal data in Temporal is encrypted end to end: Temporal itself (read with a client
that has no key) holds no form value in clear, while the timeline, the decrypted export,
the evidence pack and the Web UI's codec endpoint (auditors and admins only, audited)
still read it."""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
import zipfile
from typing import Any

import httpx
import pytest_asyncio
from sqlmodel import Session, select
from temporalio.client import Client

from api.main import create_app
from models.audit import AuditEvent
from models.payload_codec import ENCODING, AesGcmCodec, Keyring, make_data_converter
from models.tables import Veteran
from tests.api.test_pages import login
from tests.api.test_return_home_flow import Clerk, clerks, demo_veteran
from tests.return_home_forms import RECEIPT
from worker import build_worker

UI = "http://127.0.0.1:8233"


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


def payloads_of(node: Any) -> list[dict[str, Any]]:
    """Every payload ({"metadata", "data"}) inside an exported history (JSON), except
    search attributes (Temporal indexes them, so they stay in clear: the case's process,
    org unit, status and the veteran's internal id; no name, no ID number) and the
    SDK's own patch markers (a patch id) and local-activity markers' ``data`` (the
    SDK's own record: activity type, attempt, times; the result is encrypted)."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "data" in node and isinstance(node.get("metadata"), dict):
            found.append(node)
        for key, value in node.items():
            sdk_own = key == "data" and isinstance(value, dict) and "payloads" in value
            if key not in ("searchAttributes", "patch-data") and not sdk_own:
                found += payloads_of(value)
    elif isinstance(node, list):
        for value in node:
            found += payloads_of(value)
    return found


def clear_text(history: dict[str, Any]) -> str:
    """What a reader of the history sees in its payloads (base64 undone)."""
    return "\n".join(
        base64.b64decode(p.get("data", "")).decode("utf-8", "replace")
        for p in payloads_of(history)
    )


def encrypted(payload: dict[str, Any]) -> bool:
    enc = payload["metadata"].get("encoding", "")
    return base64.b64decode(enc) == ENCODING


async def start_case_with_marker(http, auth, engine) -> tuple[str, str, Clerk]:
    (county,) = await clerks(http, auth, "county")
    marker = f"标记{uuid.uuid4().hex[:8]}"
    r = await http.post(
        "/api/cases",
        json={
            "process": "return_home",
            "veteran_id": demo_veteran(engine, party_member=True),
        },
        headers=county.headers,
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    await county.complete(
        case_id,
        "file_receipt",
        "received",
        {**RECEIPT, "sending_unit": f"某部政治工作部{marker}"},
        comment=f"备注{marker}",
    )
    await county.open_task(case_id, "archive_review")
    return case_id, marker, county


def audit_rows(engine, action: str) -> list[AuditEvent]:
    with Session(engine) as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action)).all())


async def test_temporal_holds_no_form_value_in_clear_yet_the_timeline_and_exports_read_it(
    http, auth, client, seeded_engine, running_worker
):
    case_id, marker, county = await start_case_with_marker(http, auth, seeded_engine)
    with Session(seeded_engine) as s:
        vid = demo_veteran(seeded_engine, party_member=True)
        veteran = s.get(Veteran, vid)
        assert veteran is not None

    # Straight from Temporal, with no key: every payload encrypted, nothing in clear.
    keyless = Client(client.service_client, namespace=client.namespace)
    raw = json.loads(
        (await keyless.get_workflow_handle(case_id).fetch_history()).to_json()
    )
    raw_payloads = payloads_of(raw)
    plain_ones = [p for p in raw_payloads if not encrypted(p)]
    assert raw_payloads and not plain_ones, plain_ones
    seen = json.dumps(raw, ensure_ascii=False) + clear_text(raw)
    for secret in (marker, veteran.name, veteran.id_number, "某部政治工作部"):
        assert secret not in seen, secret

    # The timeline (built from the same history) reads the comment.
    r = await http.get(f"/api/cases/{case_id}/history", headers=county.headers)
    assert r.status_code == 200, r.text
    assert any(e["comment"] == f"备注{marker}" for e in r.json())

    # The auditor's export says which it is: as stored (default) or decrypted.
    auditor = await auth("auditor")
    stored = await http.get(f"/api/cases/{case_id}/history/export", headers=auditor)
    assert stored.status_code == 200, stored.text
    assert stored.headers["x-history-decrypted"] == "false"
    assert marker not in clear_text(stored.json())
    clear = await http.get(
        f"/api/cases/{case_id}/history/export",
        params={"decrypted": "true"},
        headers=auditor,
    )
    assert clear.status_code == 200, clear.text
    assert clear.headers["x-history-decrypted"] == "true"
    assert marker in clear_text(clear.json())
    assert not any(encrypted(p) for p in payloads_of(clear.json()))
    # Both name the history as stored by its SHA-256 (the archive's, the replay's).
    assert len(clear.headers["x-history-sha256"]) == 64
    # A manager may export it as stored but not decrypted.
    manager = await auth("manager")
    refused = await http.get(
        f"/api/cases/{case_id}/history/export",
        params={"decrypted": "true"},
        headers=manager,
    )
    assert refused.status_code == 403
    exports = [
        row.after
        for row in audit_rows(seeded_engine, "history_exported")
        if row.case_id == case_id
    ]
    assert sorted(bool(a and a.get("decrypted")) for a in exports) == [False, True]

    # The evidence pack carries the decrypted history and says so.
    await login(http, "auditor")
    pack = await http.get(f"/audit/cases/{case_id}/evidence.zip")
    assert pack.status_code == 200, pack.text[:300]
    with zipfile.ZipFile(io.BytesIO(pack.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        history = json.loads(z.read("history.json"))
    assert manifest["history_decrypted"] is True
    assert len(manifest["stored_history_sha256"]) == 64
    assert marker in clear_text(history)


async def test_codec_endpoint_decodes_for_auditors_only_and_audits_each_request(
    http, auth, seeded_engine, running_worker
):
    case_id, marker, county = await start_case_with_marker(http, auth, seeded_engine)
    auditor = await auth("auditor")
    stored = await http.get(f"/api/cases/{case_id}/history/export", headers=auditor)
    sealed = [p for p in payloads_of(stored.json()) if encrypted(p)]
    body = {"payloads": sealed}
    before = len(audit_rows(seeded_engine, "payloads_decoded"))

    # The Temporal UI's request: JSON payloads, X-Namespace, from its origin.
    r = await http.post(
        "/api/codec/decode",
        json=body,
        headers={**auditor, "X-Namespace": "default", "Origin": UI},
    )
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == UI
    assert r.headers["access-control-allow-credentials"] == "true"
    decoded = r.json()["payloads"]
    assert len(decoded) == len(sealed)
    assert not any(encrypted(p) for p in decoded)
    assert marker in clear_text({"payloads": decoded})

    # Another role, or no credentials at all, gets nothing decoded.
    assert (
        await http.post("/api/codec/decode", json=body, headers=county.headers)
    ).status_code == 403
    no_token = await http.post("/api/codec/decode", json=body, headers={"Origin": UI})
    assert no_token.status_code == 401
    assert no_token.headers["access-control-allow-origin"] == UI  # readable by the UI
    bad = await http.post(
        "/api/codec/decode",
        json={"payloads": [{"metadata": {}, "data": "***"}]},
        headers=auditor,
    )
    assert bad.status_code == 422

    # One audit row per decoding request (refused ones decode nothing), no contents.
    rows = audit_rows(seeded_engine, "payloads_decoded")
    assert len(rows) == before + 1
    row = rows[-1]
    assert row.actor == "auditor" and row.entity_id == "default"
    assert row.after and row.after["payloads"] == len(sealed) and row.after["ok"]
    assert marker not in json.dumps(row.model_dump(mode="json"), ensure_ascii=False)
    # A key id this keyring does not hold: 422 naming it (and audited as refused).
    unknown = {
        "metadata": {
            "encoding": base64.b64encode(ENCODING).decode(),
            "encryption-key-id": base64.b64encode(b"retired-key").decode(),
        },
        "data": base64.b64encode(b"\0" * 40).decode(),
    }
    r422 = await http.post(
        "/api/codec/decode", json={"payloads": [unknown]}, headers=auditor
    )
    assert r422.status_code == 422
    assert "unknown key id 'retired-key'" in r422.json()["detail"][0]["msg"]
    refused_row = audit_rows(seeded_engine, "payloads_decoded")[-1]
    assert refused_row.after == {"payloads": 1, "key_ids": ["retired-key"], "ok": False}

    # The page session cookie works too (the UI sends it with "include credentials").
    await login(http, "auditor")
    by_cookie = await http.post(
        "/api/codec/decode", json=body, headers={"X-Namespace": "default"}
    )
    assert by_cookie.status_code == 200, by_cookie.text
    assert by_cookie.json() == r.json()

    # encode → decode is the identity; unencrypted payloads pass through decode.
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(b'"x"').decode(),
    }
    enc = await http.post(
        "/api/codec/encode", json={"payloads": [plain]}, headers=auditor
    )
    assert enc.status_code == 200, enc.text
    assert encrypted(enc.json()["payloads"][0])
    dec = await http.post("/api/codec/decode", json=enc.json(), headers=auditor)
    assert dec.json()["payloads"] == [plain]
    same = await http.post(
        "/api/codec/decode", json={"payloads": [plain]}, headers=auditor
    )
    assert same.json()["payloads"] == [plain]


def test_decrypted_export_and_codec_share_their_roles():
    from api.routes import codec, history

    assert history.DECRYPT_ROLES == codec.CODEC_ROLES == {"auditor", "admin"}


async def test_codec_cors_preflight_allows_only_the_temporal_ui(http):
    ok = await http.options(
        "/api/codec/decode",
        headers={
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
    )
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == UI
    assert ok.headers["access-control-allow-credentials"] == "true"
    assert "X-Namespace" in ok.headers["access-control-allow-headers"]
    evil = await http.options(
        "/api/codec/decode",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert "access-control-allow-origin" not in evil.headers


async def test_a_history_under_a_key_this_api_lacks_names_the_key_to_restore(
    http, auth, client, settings, seeded_engine, running_worker
):
    case_id, marker, _ = await start_case_with_marker(http, auth, seeded_engine)
    # A second API whose keyring lost the key the case was written under.
    other = f"other:{base64.b64encode(os.urandom(32)).decode()}"
    keyless = Client(
        client.service_client,
        namespace=client.namespace,
        data_converter=make_data_converter(AesGcmCodec(Keyring.parse(other))),
    )
    app = create_app(settings, engine=seeded_engine, temporal_client=keyless)
    auditor = await auth("auditor")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as lost,
    ):
        export = await lost.get(
            f"/api/cases/{case_id}/history/export",
            params={"decrypted": "true"},
            headers=auditor,
        )
        timeline = await lost.get(f"/api/cases/{case_id}/history", headers=auditor)
        await login(lost, "auditor")
        page = await lost.get(f"/audit/cases/{case_id}")
    for r in (export, timeline):
        assert r.status_code == 500, r.text
        detail = r.json()["detail"]
        assert detail["type"] == "PayloadKeyUnavailable"
        assert "unknown key id" in detail["message"] and "other" in detail["message"]
        assert other.split(":")[1] not in r.text  # a key id, never a key
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-request-id"]
    assert page.status_code == 500 and "unknown key id" in page.text
    assert marker not in export.text + timeline.text + page.text
