"""Every payload vetflow hands to Temporal is encrypted (AES-256-GCM) before it leaves
the process, so Temporal's database, its Web UI and raw history exports hold no form,
name or ID number in clear.

A payload is serialized whole (``Payload.SerializeToString``: its metadata and data),
encrypted under the keyring's active key with a random 12-byte nonce, and replaced by a
payload with metadata ``encoding: binary/encrypted`` and ``encryption-key-id: <id>``
whose data is ``nonce || ciphertext``. The key id is also the GCM associated data, so a
payload relabelled with another key id fails to decrypt.

Decoding passes through every payload that is not ``binary/encrypted``: histories
recorded before encryption replay, and cases started before it run on. A payload under a
key id the keyring does not hold fails with :class:`PayloadKeyError` naming that id.

Keys (see :func:`keyring_from_settings`): ``kid:base64key`` entries separated by commas
or new lines, from ``VETFLOW_PAYLOAD_KEYS`` and/or the file ``VETFLOW_PAYLOAD_KEY_FILE``.
The first entry is the active key (the one new payloads use) unless
``VETFLOW_PAYLOAD_ACTIVE_KEY`` names another; every entry decrypts.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import re
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from models.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
_KID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class PayloadKeyError(Exception):
    """A payload cannot be decrypted (unknown key id, wrong key or altered data), or
    the keyring is missing or malformed."""


@dataclass(frozen=True)
class Keyring:
    """Key id → 32-byte AES key; ``active`` encrypts, every key decrypts."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise PayloadKeyError(
                f"active payload key {self.active!r} is not in the keyring "
                f"(ids: {', '.join(self.keys) or 'none'})"
            )

    @classmethod
    def parse(cls, text: str, active: str = "") -> Keyring:
        """Entries ``kid:base64key`` separated by commas or new lines (``#`` starts a
        comment line); the first is active unless ``active`` names another."""
        keys: dict[str, bytes] = {}
        for raw in re.split(r"[,\n]", text):
            entry = raw.strip()
            if not entry or entry.startswith("#"):
                continue
            kid, sep, b64 = entry.partition(":")
            kid = kid.strip()
            if not sep or not _KID.match(kid):
                raise PayloadKeyError(
                    "payload key entries are 'kid:base64key' with a key id of letters, "
                    "digits, '.', '_' or '-'"
                )
            try:
                key = base64.b64decode(b64.strip(), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise PayloadKeyError(f"payload key {kid!r} is not base64") from exc
            if len(key) != KEY_BYTES:
                raise PayloadKeyError(
                    f"payload key {kid!r} has {len(key)} bytes; AES-256 needs {KEY_BYTES}"
                )
            if kid in keys:
                raise PayloadKeyError(f"payload key id {kid!r} appears twice")
            keys[kid] = key
        if not keys:
            raise PayloadKeyError(
                "no payload encryption key: set VETFLOW_PAYLOAD_KEYS or "
                "VETFLOW_PAYLOAD_KEY_FILE (`vetflow payload-keys new` prints one; "
                "`vetflow dev` makes var/payload_keys)"
            )
        return cls(keys=keys, active=active or next(iter(keys)))


def new_key_entry(now: datetime | None = None) -> str:
    """A fresh ``kid:base64key`` entry: a random 256-bit key, dated id."""
    day = (now or datetime.now(UTC)).strftime("%Y%m%d")
    kid = f"k{day}-{secrets.token_hex(3)}"
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def rotate_key_file(path: Path) -> str:
    """Put a new key first in the key file (it becomes the active key) and keep every
    older key for decryption; the file is created (mode 0600) when missing. Returns the
    new key id."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old.strip():
        Keyring.parse(old)  # refuse to rewrite a file we could not read back
    entry = new_key_entry()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(entry + "\n" + old, encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return entry.partition(":")[0]


def keyring_text(settings: Settings) -> str:
    """The entries of VETFLOW_PAYLOAD_KEYS, then those of VETFLOW_PAYLOAD_KEY_FILE."""
    parts = [settings.payload_keys]
    if settings.payload_key_file:
        path = Path(settings.payload_key_file)
        try:
            parts.append(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PayloadKeyError(
                f"payload key file {path} cannot be read: {exc.strerror}"
            ) from exc
    return "\n".join(p for p in parts if p.strip())


def keyring_from_settings(settings: Settings) -> Keyring:
    return Keyring.parse(keyring_text(settings), settings.payload_active_key)


class AesGcmCodec(PayloadCodec):
    """AES-256-GCM payload codec over a keyring.

    ``reload`` (optional) reads the keyring again: when a payload names a key id this
    process does not know (another process rotated the key file), the keyring is read
    once more before the payload is refused.
    """

    def __init__(
        self, keyring: Keyring, reload: Callable[[], Keyring] | None = None
    ) -> None:
        self.keyring = keyring
        self._reload = reload

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        kid = self.keyring.active
        aead = AESGCM(self.keyring.keys[kid])
        out: list[Payload] = []
        for p in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = aead.encrypt(nonce, p.SerializeToString(), kid.encode())
            out.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: kid.encode()},
                    data=nonce + sealed,
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]

    def decode_one(self, p: Payload) -> Payload:
        if p.metadata.get("encoding") != ENCODING:
            return p  # recorded before encryption: passes through as it is
        kid = p.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        key = self._key(kid)
        nonce, sealed = p.data[:NONCE_BYTES], p.data[NONCE_BYTES:]
        try:
            plain = AESGCM(key).decrypt(nonce, sealed, kid.encode())
        except InvalidTag as exc:
            raise PayloadKeyError(
                f"payload under key id {kid!r} does not decrypt: wrong key or altered data"
            ) from exc
        return Payload.FromString(plain)

    def _key(self, kid: str) -> bytes:
        key = self.keyring.keys.get(kid)
        if key is None and self._reload is not None:
            self.keyring = self._reload()
            key = self.keyring.keys.get(kid)
        if key is None:
            raise PayloadKeyError(
                f"payload encrypted under unknown key id {kid!r}; this keyring holds "
                f"{', '.join(self.keyring.keys)} (add the key to VETFLOW_PAYLOAD_KEYS "
                "or VETFLOW_PAYLOAD_KEY_FILE)"
            )
        return key


def codec_from_settings(settings: Settings) -> AesGcmCodec:
    return AesGcmCodec(
        keyring_from_settings(settings), lambda: keyring_from_settings(settings)
    )


def make_data_converter(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic data converter, encrypting with ``codec`` (None: no codec, for
    tools that must see payloads exactly as stored). With a codec, a failure's message
    and stack trace move into its encoded attributes, which the codec encrypts: an
    error that quotes a name or an ID number (a refused write, a form's rejection) is
    no more readable in Temporal than the payloads. Failures recorded before that
    carry their message in clear and decode as they are."""
    if codec is None:
        return dataclasses.replace(pydantic_data_converter, payload_codec=None)
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(settings: Settings) -> DataConverter:
    """The one data converter of every Temporal client, worker and Replayer of vetflow:
    pydantic payloads, encrypted with the configured keyring. Refuses to build without
    a key (:class:`PayloadKeyError`)."""
    return make_data_converter(codec_from_settings(settings))


def _payloads_in(msg: Message) -> Iterator[Payload]:
    """Every Payload inside a protobuf message, at any depth (maps and lists too)."""
    for field, value in msg.ListFields():
        kind = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind is None:
            continue
        if kind.GetOptions().map_entry:
            if kind.fields_by_name["value"].type != FieldDescriptor.TYPE_MESSAGE:
                continue
            items = list(value.values())
        elif field.is_repeated:
            items = list(value)
        else:
            items = [value]
        for item in items:
            if isinstance(item, Payload):
                yield item
            else:
                yield from _payloads_in(item)


async def decode_history(
    history: WorkflowHistory, codec: PayloadCodec | None
) -> WorkflowHistory:
    """A copy of ``history`` with every payload decoded by ``codec`` (the history as
    stored is left as it is); without a codec, the history itself."""
    if codec is None:
        return history
    events = []
    for event in history.events:
        copy = type(event)()
        copy.CopyFrom(event)
        events.append(copy)
    found = [p for event in events for p in _payloads_in(event)]
    if found:
        for target, plain in zip(found, await codec.decode(found), strict=True):
            if plain is not target:
                target.CopyFrom(plain)
    return WorkflowHistory(history.workflow_id, events)


def has_encrypted_payloads(history: WorkflowHistory) -> bool:
    return any(
        p.metadata.get("encoding") == ENCODING
        for event in history.events
        for p in _payloads_in(event)
    )
