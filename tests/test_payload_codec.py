"""The payload codec: AES-256-GCM under a keyring, rotation without breaking old
histories, pass-through of payloads recorded before encryption, and the CLI that makes
and rotates the key file."""

from __future__ import annotations

import base64
import os
import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker
from typer.testing import CliRunner

from models.payload_codec import (
    ENCODING,
    KEY_ID,
    AesGcmCodec,
    Keyring,
    PayloadKeyError,
    _payloads_in,
    decode_history,
    keyring_from_settings,
    make_data_converter,
    new_key_entry,
    rotate_key_file,
)
from models.settings import Settings
from tests.replay.test_replay import HISTORIES, load
from tests.support import complete, open_task
from tests.workflows.conftest import start_case, veteran_id
from worker import build_worker
from workflows.registry import ALL_WORKFLOWS, workflow_runner


def entry(kid: str) -> str:
    return f"{kid}:{base64.b64encode(os.urandom(32)).decode()}"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_the_payload_and_names_the_key():
    codec = AesGcmCodec(Keyring.parse(entry("k1")))
    original = plain('{"name": "张三", "id_number": "110101199003077777"}')
    (sealed,) = await codec.encode([original])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert "张三".encode() not in sealed.data and b"json/plain" not in sealed.data
    assert b"110101199003077777" not in sealed.data
    (again,) = await codec.encode([original])
    assert again.data[:12] != sealed.data[:12]  # a fresh nonce each time
    assert await codec.decode([sealed, again]) == [original, original]


async def test_unencrypted_payloads_pass_through():
    codec = AesGcmCodec(Keyring.parse(entry("k1")))
    old = plain('"recorded before encryption"')
    assert await codec.decode([old]) == [old]


async def test_unknown_key_wrong_key_and_altered_data_are_refused_clearly():
    k1, k2 = entry("k1"), entry("k2")
    (sealed,) = await AesGcmCodec(Keyring.parse(k2)).encode([plain("x")])
    with pytest.raises(PayloadKeyError, match=r"unknown key id 'k2'.*holds k1"):
        await AesGcmCodec(Keyring.parse(k1)).decode([sealed])
    other_k2 = entry("k2")  # same id, another key
    with pytest.raises(PayloadKeyError, match="'k2' does not decrypt"):
        await AesGcmCodec(Keyring.parse(other_k2)).decode([sealed])
    tampered = Payload()
    tampered.CopyFrom(sealed)
    tampered.data = sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    with pytest.raises(PayloadKeyError, match="altered"):
        await AesGcmCodec(Keyring.parse(k2)).decode([tampered])
    # Relabelled under another key id of the ring: the key id is authenticated too.
    both = AesGcmCodec(Keyring.parse(f"{k1},{k2}"))
    relabelled = Payload()
    relabelled.CopyFrom(sealed)
    relabelled.metadata[KEY_ID] = b"k1"
    with pytest.raises(PayloadKeyError):
        await both.decode([relabelled])


def test_keyring_parsing_and_settings(tmp_path):
    k1, k2, k3 = entry("k1"), entry("k2"), entry("k3")
    ring = Keyring.parse(f"{k1}, {k2}")
    assert list(ring.keys) == ["k1", "k2"] and ring.active == "k1"
    assert Keyring.parse(f"{k1},{k2}", active="k2").active == "k2"
    for bad, reason in [
        ("", "no payload encryption key"),
        ("k1", "kid:base64key"),
        ("k1:!!!", "not base64"),
        (f"k1:{base64.b64encode(b'short').decode()}", "5 bytes"),
        (f"{k1},{k1}", "appears twice"),
        ("bad id:AAAA", "kid:base64key"),
    ]:
        with pytest.raises(PayloadKeyError, match=reason):
            Keyring.parse(bad)
    with pytest.raises(PayloadKeyError, match="'k9' is not in the keyring"):
        Keyring.parse(k1, active="k9")
    # Environment entries first, then the key file's; # lines are comments.
    key_file = tmp_path / "keys"
    key_file.write_text(f"# rotated 2026\n{k2}\n{k3}\n")
    ring = keyring_from_settings(
        Settings(payload_keys=k1, payload_key_file=str(key_file))
    )
    assert list(ring.keys) == ["k1", "k2", "k3"] and ring.active == "k1"
    with pytest.raises(PayloadKeyError, match="cannot be read"):
        keyring_from_settings(Settings(payload_key_file=str(tmp_path / "missing")))


async def test_rotate_key_file_keeps_old_keys_and_a_running_codec_learns_new_ones(
    tmp_path,
):
    path = tmp_path / "var" / "payload_keys"
    first = rotate_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    settings = Settings(payload_key_file=str(path))
    old_process = AesGcmCodec(
        keyring_from_settings(settings), lambda: keyring_from_settings(settings)
    )
    (under_first,) = await old_process.encode([plain("before")])
    second = rotate_key_file(path)
    ring = keyring_from_settings(settings)
    assert ring.active == second and set(ring.keys) == {first, second}
    new_process = AesGcmCodec(ring)
    (under_second,) = await new_process.encode([plain("after")])
    assert under_second.metadata[KEY_ID] == second.encode()
    # Both keys decrypt; the process started before the rotation reads the file again.
    assert await new_process.decode([under_first]) == [plain("before")]
    assert await old_process.decode([under_second]) == [plain("after")]
    path.write_text("garbage")
    with pytest.raises(PayloadKeyError):
        rotate_key_file(path)  # never rewrites a file it cannot read back
    assert path.read_text() == "garbage"
    assert new_key_entry().startswith("k")


def test_cli_rotate_and_list(tmp_path, monkeypatch):
    from models.settings import load_settings
    from vetflow_cli import app

    path = tmp_path / "keys"
    monkeypatch.setenv("VETFLOW_PAYLOAD_KEY_FILE", str(path))
    monkeypatch.delenv("VETFLOW_PAYLOAD_KEYS", raising=False)
    load_settings.cache_clear()
    try:
        runner = CliRunner()
        one = runner.invoke(app, ["payload-keys", "rotate"])
        assert one.exit_code == 0, one.output
        two = runner.invoke(app, ["payload-keys", "rotate", "--file", str(path)])
        assert two.exit_code == 0, two.output
        listed = runner.invoke(app, ["payload-keys", "list"])
        assert listed.exit_code == 0, listed.output
        lines = listed.output.strip().splitlines()
        assert len(lines) == 2 and lines[0].endswith("(active)")
        assert lines[0].split()[0] in two.output
        key_text = path.read_text()
        assert all(k.split(":")[1] not in listed.output for k in key_text.split())
        new = runner.invoke(app, ["payload-keys", "new"])
        Keyring.parse(new.output.strip())
    finally:
        load_settings.cache_clear()


def test_dev_makes_the_key_file_once(tmp_path, monkeypatch):
    import vetflow_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VETFLOW_PAYLOAD_KEYS", raising=False)
    # _ensure_payload_keys sets VETFLOW_PAYLOAD_KEY_FILE itself: setting it through
    # monkeypatch first makes the teardown remove it again (a relative path left in
    # the environment broke every later test that starts a vetflow process).
    monkeypatch.setenv("VETFLOW_PAYLOAD_KEY_FILE", "")
    monkeypatch.delenv("VETFLOW_PAYLOAD_KEY_FILE")
    vetflow_cli._ensure_payload_keys()
    made = (tmp_path / "var" / "payload_keys").read_text()
    assert os.environ["VETFLOW_PAYLOAD_KEY_FILE"] == "var/payload_keys"
    vetflow_cli._ensure_payload_keys()  # a later start keeps the key
    assert (tmp_path / "var" / "payload_keys").read_text() == made
    Keyring.parse(made)


def key_ids(history: WorkflowHistory) -> list[set[str]]:
    """Per event, the key ids of its encrypted payloads."""
    return [
        {
            p.metadata[KEY_ID].decode()
            for p in _payloads_in(ev)
            if p.metadata.get("encoding") == ENCODING
        }
        for ev in history.events
    ]


def clear_text(history: WorkflowHistory) -> bytes:
    """Every payload's data of a history, joined: what a reader of it sees."""
    return b"\n".join(p.data for ev in history.events for p in _payloads_in(ev))


async def test_a_case_encrypted_under_key_1_runs_on_and_replays_after_rotation_to_key_2(
    temporal_env: WorkflowEnvironment, settings: Settings, seeded_engine
):
    k1, k2 = entry("k1"), entry("k2")
    codec = AesGcmCodec(Keyring.parse(k1))
    client = Client(
        temporal_env.client.service_client,
        namespace=temporal_env.client.namespace,
        data_converter=make_data_converter(codec),
    )
    e = seeded_engine
    address = "示范县城关镇东关村1号".encode()
    async with build_worker(client, settings, e):
        handle = await start_case(client, settings, veteran_id(e, party_member=True))
        try:
            await complete(handle, e, "archive_review", "county", "approve", {})
            await open_task(e, handle.id, "information_collection")
            # Rotated: key 2 active, key 1 kept (as a restart on the rotated key file
            # loads it; swapped in place so no stopped worker's sticky queue waits).
            codec.keyring = Keyring.parse(f"{k2},{k1}")
            info = {"hukou_address": address.decode(), "education": "高中"}
            await complete(
                handle, e, "information_collection", "village", "submitted", info
            )
            await open_task(e, handle.id, "township_review")
            history = await handle.fetch_history()
        finally:
            await handle.terminate("test over")

    ids = key_ids(history)
    assert ids[0] == {"k1"}  # the start, before the rotation
    assert set().union(*ids) == {"k1", "k2"}
    accepted = [
        i
        for i, ev in enumerate(history.events)
        if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert ids[accepted[-1]] == {"k2"}  # the completion after it
    assert all(s <= {"k2"} for s in ids[accepted[-1] :])  # nothing new under key 1
    assert address not in clear_text(history)

    result = await Replayer(
        workflows=ALL_WORKFLOWS, data_converter=client.data_converter
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure
    decoded = await decode_history(history, codec)
    assert address in clear_text(decoded)
    assert not any(key_ids(decoded))
    # A keyring without key 2 says which key it lacks.
    with pytest.raises(PayloadKeyError, match="unknown key id 'k2'"):
        await decode_history(history, AesGcmCodec(Keyring.parse(k1)))


async def test_recorded_unencrypted_histories_decode_to_themselves():
    """The replay gate's histories predate encryption: decoding leaves them as they are
    (tests/replay/test_replay.py replays them all through the encrypting converter)."""
    history = load(sorted(HISTORIES)[0])
    assert not any(key_ids(history))
    decoded = await decode_history(history, AesGcmCodec(Keyring.parse(entry("k1"))))
    assert decoded.to_json() == history.to_json()


def test_no_key_no_converter():
    from models.payload_codec import data_converter

    with pytest.raises(PayloadKeyError, match="VETFLOW_PAYLOAD_KEYS"):
        data_converter(Settings(payload_keys="", payload_key_file=""))


# What a refused write's error may quote: a name and an ID number.
REFUSAL = "退役军人张三(110101199003077777)的记录写入被拒绝"


@activity.defn(name="refuse_write")
async def refuse_write() -> None:
    raise ApplicationError(REFUSAL, type="RefusedWrite", non_retryable=True)


@workflow.defn(name="FailsWithPersonalData")
class FailsWithPersonalData:
    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            refuse_write,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def test_a_failure_message_is_encrypted_and_reads_back_with_the_key(
    temporal_env: WorkflowEnvironment,
):
    codec = AesGcmCodec(Keyring.parse(entry("k1")))
    client = Client(
        temporal_env.client.service_client,
        namespace=temporal_env.client.namespace,
        data_converter=make_data_converter(codec),
    )
    queue = f"failures-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[FailsWithPersonalData],
        activities=[refuse_write],
        workflow_runner=workflow_runner(),
    ):
        handle = await client.start_workflow(
            FailsWithPersonalData.run, id=queue, task_queue=queue
        )
        # With the key, the error reads as raised.
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    refused = activity_error.cause
    assert isinstance(refused, ApplicationError)
    assert refused.message == REFUSAL and refused.type == "RefusedWrite"
    # As Temporal stores it (its database, its Web UI, a raw export): neither the name
    # nor the ID number, in the message, the stack trace or any payload.
    raw = await temporal_env.client.get_workflow_handle(queue).fetch_history()
    stored = raw.to_json()
    assert "张三" not in stored and "110101199003077777" not in stored
    assert "Encoded failure" in stored
    # The payloads' decoding gives the auditor the message back (the export path).
    decoded = await decode_history(raw, codec)
    assert b"110101199003077777" in clear_text(decoded)
