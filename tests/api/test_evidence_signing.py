"""The evidence pack is signed (Ed25519 with a key id) and `vetflow verify-evidence`
checks it offline against the keys the API publishes: a real case on the real Temporal
dev server, the pack downloaded by an auditor over HTTP, then tampered with."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from models.demo import DEMO_PASSWORD
from models.evidence_signing import (
    EvidenceInvalid,
    key_id,
    load_public_keys,
    public_pem,
    signed_zip,
    verify_pack,
)
from models.settings import load_settings
from tests.support import tasks, wait_for
from vetflow_cli import app as cli
from worker import build_worker

VETFLOW = Path(sys.executable).parent / "vetflow"


@pytest.fixture
def settings(settings, tmp_path):
    """The test's own signing key and retired-keys folder (never the repository's var/)."""
    return settings.model_copy(
        update={
            "evidence_key_file": str(tmp_path / "keys" / "evidence.pem"),
            "evidence_retired_keys_dir": str(tmp_path / "keys" / "retired"),
        }
    )


@pytest_asyncio.fixture
async def running_worker(client, settings, seeded_engine):
    async with build_worker(client, settings, seeded_engine) as w:
        yield w


async def page_login(http, username: str) -> None:
    """Log in through the login form, sending its hidden CSRF field when it has one."""
    form = await http.get("/login")
    hidden = dict(re.findall(r'name="(csrf[a-z_]*)" value="([^"]*)"', form.text))
    r = await http.post(
        "/login",
        data={"username": username, "password": DEMO_PASSWORD, **hidden},
    )
    assert r.status_code == 303, r.text


def verify_cli(pack: Path, *keys: Path) -> tuple[int, str]:
    args = ["verify-evidence", str(pack)]
    for k in keys:
        args += ["--key", str(k)]
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output


def rezip(data: bytes, change) -> bytes:
    """The pack's files through ``change(files) -> files``, zipped again."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        files = {n: z.read(n) for n in z.namelist()}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, content in change(files).items():
            z.writestr(name, content)
    return buf.getvalue()


async def test_auditor_pack_is_signed_and_verifies_offline(
    http, auth, seeded_engine, running_worker, settings, tmp_path, monkeypatch
):
    county = await auth("county")
    vet = (
        await http.get("/api/veterans", params={"q": "张伟"}, headers=county)
    ).json()["data"][0]
    r = await http.post(
        "/api/cases",
        json={"process": "return_home", "veteran_id": vet["id"]},
        headers=county,
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    await wait_for(lambda: tasks(seeded_engine, case_id))

    # The API publishes the public key (authenticated like every endpoint).
    assert (await http.get("/api/evidence/keys")).status_code == 401
    keys = await http.get("/api/evidence/keys", headers=await auth("auditor"))
    assert keys.status_code == 200, keys.text
    (published,) = keys.json()
    assert published["algorithm"] == "Ed25519" and len(published["key_id"]) == 16
    keys_json = tmp_path / "keys.json"
    keys_json.write_text(keys.text)

    await page_login(http, "auditor")
    r = await http.get(f"/audit/cases/{case_id}/evidence.zip")
    assert r.status_code == 200, r.text
    pack = tmp_path / "evidence.zip"
    pack.write_bytes(r.content)
    with zipfile.ZipFile(pack) as z:
        manifest = json.loads(z.read("manifest.json"))
        signature = json.loads(z.read("signature.json"))
        names = set(z.namelist())
    assert signature["key_id"] == published["key_id"]
    assert signature["algorithm"] == "Ed25519"
    assert set(manifest["files"]) == names - {"manifest.json", "signature.json"}
    assert {"history.json", "forms.json", "timeline.json"} <= set(manifest["files"])
    assert manifest["case_id"] == case_id and manifest["history_sha256"]

    # Offline: the saved JSON of /api/evidence/keys, or the PEM alone.
    code, out = verify_cli(pack, keys_json)
    assert code == 0, out
    assert out.startswith("OK") and published["key_id"] in out and case_id in out
    pem = tmp_path / "public.pem"
    pem.write_text(published["public_key_pem"])
    assert verify_cli(pack, pem)[0] == 0
    # The installed console script, as an auditor runs it.
    run = subprocess.run(
        [str(VETFLOW), "verify-evidence", str(pack), "--key", str(pem)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and run.stdout.startswith("OK"), run.stderr

    original = pack.read_bytes()

    def flip_a_byte(files):
        body = bytearray(files["forms.json"])
        body[len(body) // 2] ^= 0x01
        return {**files, "forms.json": bytes(body)}

    other = Ed25519PrivateKey.generate()

    def foreign_signature(files):
        """Signed by another key that claims the published key's id."""
        sig = json.loads(files["signature.json"])
        sig["signature"] = base64.b64encode(other.sign(files["manifest.json"])).decode()
        return {**files, "signature.json": json.dumps(sig).encode()}

    def re_signed_by_stranger(files):
        """A forger rewrites the forms and signs a new manifest with their own key."""
        manifest = json.loads(files["manifest.json"])
        del manifest["files"]
        body = {
            n: b
            for n, b in files.items()
            if n not in ("manifest.json", "signature.json")
        }
        body["forms.json"] = b"[]"
        forged = signed_zip(manifest, body.items(), other)
        with zipfile.ZipFile(io.BytesIO(forged)) as z:
            return {n: z.read(n) for n in z.namelist()}

    cases = [
        (flip_a_byte, "forms.json was altered"),
        (
            lambda f: {k: v for k, v in f.items() if k != "timeline.txt"},
            "removed from the pack: timeline.txt",
        ),
        (lambda f: {**f, "extra.txt": b"added"}, "not in the manifest: extra.txt"),
        (
            lambda f: {k: v for k, v in f.items() if k != "signature.json"},
            "signature.json is missing",
        ),
        (foreign_signature, "signature does not match"),
        (re_signed_by_stranger, f"unknown key id {key_id(other.public_key())}"),
    ]
    for change, reason in cases:
        bad = tmp_path / "tampered.zip"
        bad.write_bytes(rezip(original, change))
        code, out = verify_cli(bad, keys_json)
        assert code == 1 and reason in out, (reason, out)
    # Unchanged, re-zipped: still fine (the signature covers content, not zip layout).
    same = tmp_path / "same.zip"
    same.write_bytes(rezip(original, lambda f: f))
    assert verify_cli(same, keys_json)[0] == 0
    # A key file that is no key at all: exit 2, not a traceback.
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    code, out = verify_cli(pack, junk)
    assert code == 2 and "cannot read" in out

    # Rotation: the old key is retired but still published; new packs use the new key.
    monkeypatch.setenv("VETFLOW_EVIDENCE_KEY_FILE", settings.evidence_key_file)
    monkeypatch.setenv(
        "VETFLOW_EVIDENCE_RETIRED_KEYS_DIR", settings.evidence_retired_keys_dir
    )
    load_settings.cache_clear()  # the CLI reads the environment once per process
    try:
        result = CliRunner().invoke(cli, ["evidence-key", "rotate"])
    finally:
        load_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert f"retired {published['key_id']}" in result.output
    rotated = await http.get("/api/evidence/keys", headers=await auth("auditor"))
    ids = [k["key_id"] for k in rotated.json()]
    assert len(ids) == 2 and ids[1] == published["key_id"] and ids[0] != ids[1]
    r = await http.get(f"/audit/cases/{case_id}/evidence.zip")
    assert r.status_code == 200
    new_pack = tmp_path / "new.zip"
    new_pack.write_bytes(r.content)
    all_keys = tmp_path / "all-keys.json"
    all_keys.write_text(rotated.text)
    assert verify_cli(pack, all_keys)[0] == 0  # signed before the rotation
    assert verify_cli(new_pack, all_keys)[0] == 0
    code, out = verify_cli(new_pack, keys_json)  # only the retired key: refused
    assert code == 1 and f"unknown key id {ids[0]}" in out


def test_verify_pack_refuses_malformed_packs():
    key = Ed25519PrivateKey.generate()
    pub = load_public_keys(public_pem(key.public_key()))
    good = signed_zip({"case_id": "c1"}, [("a.txt", b"a")], key)
    assert verify_pack(good, pub).files == {
        "a.txt": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    }
    with pytest.raises(EvidenceInvalid, match="not a readable zip"):
        verify_pack(b"PK\x03\x04 nonsense", pub)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as z:
        for n in src.namelist():
            z.writestr(n, src.read(n))
        with pytest.warns(UserWarning):  # zipfile warns about the duplicate name
            z.writestr("a.txt", b"b")
    with pytest.raises(EvidenceInvalid, match="two files of the same name"):
        verify_pack(buf.getvalue(), pub)
    history = signed_zip({"history_sha256": "0" * 64}, [("history.json", b"{}")], key)
    with pytest.raises(EvidenceInvalid, match="history_sha256"):
        verify_pack(history, pub)
    with pytest.raises(ValueError, match="unique"):
        signed_zip({}, [("manifest.json", b"x")], key)
