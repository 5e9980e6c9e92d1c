"""Signing and offline verification of evidence packs (Ed25519).

A pack is a zip. ``manifest.json`` lists the SHA-256 of every other file of the pack
(``files``) and the history's SHA-256 (``history_sha256``); ``signature.json`` holds the
Ed25519 signature of the exact bytes of ``manifest.json`` with the signing key's id (the
first 16 hex digits of the SHA-256 of the raw 32-byte public key). :func:`verify_pack`
checks a pack against public keys only: no app, database or network needed.

Keys: the private key is a PKCS#8 PEM file (``VETFLOW_EVIDENCE_KEY_FILE``); retired public
keys are PEM files in ``VETFLOW_EVIDENCE_RETIRED_KEYS_DIR`` and stay published, so packs
signed before a rotation still verify.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from models.settings import Settings

ALGORITHM = "Ed25519"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"


class EvidenceInvalid(Exception):
    """The pack does not verify; the message says why."""


@dataclass(frozen=True)
class PublishedKey:
    key_id: str
    public_key: Ed25519PublicKey

    @property
    def public_key_pem(self) -> str:
        return public_pem(self.public_key)

    def public(self) -> dict[str, str]:
        return {
            "key_id": self.key_id,
            "algorithm": ALGORITHM,
            "public_key_pem": self.public_key_pem,
        }


@dataclass(frozen=True)
class Verified:
    """A pack that verified: who signed it with which key, and what it holds."""

    key_id: str
    files: dict[str, str]
    manifest: dict[str, Any]


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def write_new_key(path: Path) -> Ed25519PrivateKey:
    """A new private key in ``path`` (mode 0600); refuses to overwrite an existing file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def signing_key(settings: Settings, *, create: bool = True) -> Ed25519PrivateKey:
    """The current signing key; made on first use when ``create`` (the file is kept, so
    every later pack is signed with the same key until it is rotated)."""
    path = Path(settings.evidence_key_file)
    if create and not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            return write_new_key(path)
    return load_private_key(path)


def load_public_keys(text: str | bytes) -> list[Ed25519PublicKey]:
    """Public keys from PEM text (one or more keys, or a private key's public half) or
    from the JSON list answered by ``GET /api/evidence/keys``."""
    data = text.encode() if isinstance(text, str) else text
    stripped = data.lstrip()
    if stripped.startswith((b"[", b"{")):
        items = json.loads(data)
        items = items if isinstance(items, list) else [items]
        return [k for item in items for k in load_public_keys(item["public_key_pem"])]
    keys: list[Ed25519PublicKey] = []
    for block in data.split(b"-----BEGIN ")[1:]:
        pem = b"-----BEGIN " + block
        if b"PRIVATE KEY" in block.split(b"-----", 1)[0]:
            private = serialization.load_pem_private_key(pem, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            keys.append(private.public_key())
            continue
        public = serialization.load_pem_public_key(pem)
        if not isinstance(public, Ed25519PublicKey):
            raise ValueError("not an Ed25519 key")
        keys.append(public)
    if not keys:
        raise ValueError("no PEM key found")
    return keys


def published_keys(settings: Settings, *, create: bool = True) -> list[PublishedKey]:
    """The current key's public half first, then every retired public key (without
    ``create``, a missing current key is left out instead of made)."""
    keys: list[PublishedKey] = []
    if create or Path(settings.evidence_key_file).exists():
        current = signing_key(settings, create=create).public_key()
        keys.append(PublishedKey(key_id(current), current))
    seen = {k.key_id for k in keys}
    retired = Path(settings.evidence_retired_keys_dir)
    if retired.is_dir():
        for path in sorted(retired.glob("*.pem")):
            for pk in load_public_keys(path.read_bytes()):
                if (kid := key_id(pk)) not in seen:
                    seen.add(kid)
                    keys.append(PublishedKey(kid, pk))
    return keys


def rotate_key(settings: Settings) -> tuple[str, str]:
    """Retire the current key (its public half goes to the retired-keys directory, the
    private file is renamed ``*.retired-<time>``) and make a new one. Answers
    (old key id, new key id)."""
    path = Path(settings.evidence_key_file)
    old = load_private_key(path)
    old_id = key_id(old.public_key())
    retired = Path(settings.evidence_retired_keys_dir)
    retired.mkdir(parents=True, exist_ok=True)
    (retired / f"{old_id}.pem").write_text(public_pem(old.public_key()))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path.rename(path.with_name(f"{path.name}.retired-{stamp}"))
    new = write_new_key(path)
    return old_id, key_id(new.public_key())


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def signed_zip(
    manifest: Mapping[str, Any],
    files: Iterable[tuple[str, bytes]],
    key: Ed25519PrivateKey,
) -> bytes:
    """The pack: ``files``, the manifest with their SHA-256 added, and its signature."""
    entries = list(files)
    names = [n for n, _ in entries]
    if len(set(names)) != len(names) or {MANIFEST, SIGNATURE} & set(names):
        raise ValueError("file names must be unique and not the manifest's")
    full = {**manifest, "files": {n: _sha256(b) for n, b in entries}}
    manifest_bytes = json.dumps(full, ensure_ascii=False, indent=2).encode()
    signature = {
        "key_id": key_id(key.public_key()),
        "algorithm": ALGORITHM,
        "signed_file": MANIFEST,
        "signature": base64.b64encode(key.sign(manifest_bytes)).decode("ascii"),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, manifest_bytes)
        for name, data in entries:
            z.writestr(name, data)
        z.writestr(SIGNATURE, json.dumps(signature, indent=2))
    return buf.getvalue()


def verify_pack(data: bytes, keys: Iterable[Ed25519PublicKey]) -> Verified:
    """Check a pack offline; raises :class:`EvidenceInvalid` naming the first fault."""
    by_id = {key_id(k): k for k in keys}
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise EvidenceInvalid("the zip holds two files of the same name")
        content = {n: z.read(n) for n in names}
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise EvidenceInvalid(f"not a readable zip: {e}") from e
    for needed in (MANIFEST, SIGNATURE):
        if needed not in content:
            raise EvidenceInvalid(f"{needed} is missing")
    try:
        sig = json.loads(content[SIGNATURE])
        raw_signature = base64.b64decode(sig["signature"], validate=True)
        kid, algorithm = str(sig["key_id"]), sig["algorithm"]
    except (ValueError, KeyError, TypeError) as e:
        raise EvidenceInvalid(f"{SIGNATURE} is malformed: {e}") from e
    if algorithm != ALGORITHM:
        raise EvidenceInvalid(f"unsupported signature algorithm {algorithm!r}")
    if kid not in by_id:
        raise EvidenceInvalid(
            f"unknown key id {kid}: none of the given public keys "
            f"({', '.join(sorted(by_id)) or 'none'})"
        )
    try:
        by_id[kid].verify(raw_signature, content[MANIFEST])
    except InvalidSignature:
        raise EvidenceInvalid(
            f"the signature does not match {MANIFEST} for key {kid}"
        ) from None
    manifest = json.loads(content[MANIFEST])
    listed: dict[str, str] = manifest.get("files") or {}
    present = set(content) - {MANIFEST, SIGNATURE}
    if missing := sorted(set(listed) - present):
        raise EvidenceInvalid(f"file(s) removed from the pack: {', '.join(missing)}")
    if added := sorted(present - set(listed)):
        raise EvidenceInvalid(f"file(s) not in the manifest: {', '.join(added)}")
    for name, digest in sorted(listed.items()):
        if _sha256(content[name]) != digest:
            raise EvidenceInvalid(
                f"{name} was altered: its SHA-256 is not the signed one"
            )
    history = content.get("history.json")
    if manifest.get("history_sha256") and history is not None:
        if _sha256(history) != manifest["history_sha256"]:
            raise EvidenceInvalid("history.json does not match history_sha256")
    return Verified(kid, listed, manifest)
