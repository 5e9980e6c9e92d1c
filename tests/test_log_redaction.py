"""ID numbers and mobile numbers stay out of the logs: `vetflow api` (real uvicorn, real
HTTP) writes no query value into its access log and masks personal numbers in every
line; the structlog processor masks them in nested values and tracebacks too."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import structlog

from models.demo import DEMO_PASSWORD
from models.logconfig import configure_logging, redact_text
from models.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
ID_NUMBER = "110101199003077777"
MOBILE = "13800001234"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_vetflow_api_logs_no_id_numbers(tmp_path, settings, seeded_engine, client):
    port = _free_port()
    # The test's settings (database, token and payload keys, ...) as the process's env.
    env = {
        **os.environ,
        **{
            f"VETFLOW_{name.upper()}": str(value).lower()
            if isinstance(value, bool)
            else str(value)
            for name, value in settings.model_dump().items()
            if isinstance(value, str | int | float)
        },
        "PYTHONPATH": str(ROOT),
        "VETFLOW_API_PORT": str(port),
        "VETFLOW_API_HOST": "127.0.0.1",
        "VETFLOW_TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "VETFLOW_LOG_FORMAT": "json",
    }
    out = tmp_path / "api.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "vetflow_cli.py"), "api"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, out.read_text(errors="replace")[-3000:]
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "vetflow api did not start"
                time.sleep(0.2)
        token = httpx.post(
            f"{base}/api/auth/token",
            data={"username": "county", "password": DEMO_PASSWORD},
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        assert (
            httpx.get(f"{base}/api/veterans", params={"q": ID_NUMBER}, headers=h)
        ).status_code == 200
        # A page search by ID number (redirected to the login page: no cookie).
        r = httpx.get(f"{base}/inbox", params={"q": ID_NUMBER, "tab": "all"})
        assert r.status_code in (303, 307)
        # Numbers in the path itself reach the request lines of both loggers.
        assert httpx.get(f"{base}/veterans/{ID_NUMBER}").status_code in (303, 422)
        assert httpx.get(f"{base}/cases/{MOBILE}", headers=h).status_code in (303, 404)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    text = out.read_text(errors="replace")
    assert ID_NUMBER not in text and MOBILE not in text, text[-3000:]
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    access = [e["event"] for e in lines if e.get("logger") == "uvicorn.access"]
    # uvicorn's access log: the path and the parameter names, no values.
    assert any("/api/veterans?q=… HTTP" in a for a in access), access
    assert any("/inbox?q=…&tab=… HTTP" in a for a in access), access
    assert any("/veterans/1101**********7777 HTTP" in a for a in access), access
    # The API's own request line: the path, masked.
    paths = {e.get("path") for e in lines if e.get("event") == "request"}
    assert {"/veterans/1101**********7777", "/cases/138****1234"} <= paths, paths


def test_processor_masks_nested_values_and_tracebacks():
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    buf = io.StringIO()
    try:
        configure_logging(Settings(log_format="json", secret_key="x" * 40))
        root.handlers[0].setStream(buf)
        log = structlog.get_logger("redaction-test")
        log.info(
            "veteran_seen",
            veteran={"id_number": ID_NUMBER, "phones": [MOBILE, int(MOBILE)]},
            note=f"身份证{ID_NUMBER.lower()[:-1]}x，电话+86 {MOBILE}",
            error="550 mailbox zhang.wei@example.org unknown",
            request_id="a1b2c3d4e5f60718",
        )
        try:
            raise ValueError(f"duplicate key ({ID_NUMBER})")
        except ValueError:
            log.exception("failed")
            logging.getLogger("some.library").exception("stdlib failed %s", MOBILE)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.configure(**saved_structlog)
    text = buf.getvalue()
    assert ID_NUMBER not in text and MOBILE not in text, text
    first = json.loads(text.splitlines()[0])
    assert first["veteran"] == {
        "id_number": "1101**********7777",
        "phones": ["138****1234", "138****1234"],
    }
    assert first["note"] == "身份证1101**********777x，电话+86 138****1234"
    assert first["error"] == "550 mailbox z***@example.org unknown"
    assert first["request_id"] == "a1b2c3d4e5f60718"  # hex ids are left alone
    assert "duplicate key (1101**********7777)" in text
    assert "stdlib failed 138****1234" in text
    # Longer digit runs (timestamps, amounts) are not numbers of people.
    assert redact_text("t=1764442800000 n=1234567890123456789") == (
        "t=1764442800000 n=1234567890123456789"
    )
