"""`vetflow dev` end to end: it starts Temporal on a state file, migrates, seeds, starts
the demo cases, serves; Ctrl-C stops everything; starting again keeps the open case and
its task (and neither seeds nor starts demo cases twice)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / "dev.log").open("ab")
    return subprocess.Popen(
        [sys.executable, str(ROOT / "vetflow_cli.py"), "dev", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=log,
    )


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], tmp_path: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "dev.log").read_text(errors="replace")[
            -3000:
        ]
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("vetflow dev did not become healthy")


def _dev_env(tmp_path: Path) -> tuple[dict[str, str], str]:
    """The environment of a `vetflow dev` on free ports with its state under
    tmp_path/var (dev makes its own token key there), and its API's base URL."""
    api, temporal, ui = _free_port(), _free_port(), _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "VETFLOW_API_PORT": str(api),
        "VETFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal}",
        "VETFLOW_TEMPORAL_UI_PORT": str(ui),
        "VETFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/var/vetflow.db",
        "VETFLOW_LOG_FORMAT": "json",
    }
    env.pop("VETFLOW_SECRET_KEY", None)
    return env, f"http://127.0.0.1:{api}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert proc.wait(timeout=60) == 0


def test_dev_runs_stops_and_resumes(tmp_path):
    env, base = _dev_env(tmp_path)
    proc = _start(tmp_path, env)
    try:
        _wait_healthy(base, proc, tmp_path)
        assert (tmp_path / "var" / "temporal.db").exists() and (
            tmp_path / "var" / "secret_key"
        ).exists()
        tok = httpx.post(
            f"{base}/api/auth/token",
            data={"username": "county", "password": "demo-password"},
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        # The login page comes first in the banner, before the API docs.
        log = (tmp_path / "dev.log").read_text(errors="replace")
        assert f"{base}/login" in log
        assert log.index(f"{base}/login") < log.index(f"{base}/docs")
        # A freshly seeded database gets the demo cases (village, correction with an
        # overdue file request, closed), started in the background once the worker runs.
        for _ in range(300):
            cases = httpx.get(f"{base}/api/cases", headers=h).json()["count"]
            if cases >= 3:
                break
            time.sleep(0.1)
        assert cases == 3
        case = httpx.post(
            f"{base}/api/cases",
            json={"process": "return_home", "veteran_id": 1},
            headers=h,
        ).json()
        for _ in range(100):
            open_tasks = httpx.get(
                f"{base}/api/tasks",
                params={"case_id": case["id"], "status": "open"},
                headers=h,
            ).json()["data"]
            if open_tasks:
                break
            time.sleep(0.1)
        assert [t["step"] for t in open_tasks] == ["file_receipt"]
        assert "vetflow is running" in (tmp_path / "dev.log").read_text(
            errors="replace"
        )
        # The background driver brings every demo case to its point (the closed one too).
        for _ in range(600):
            log = (tmp_path / "dev.log").read_text(errors="replace")
            if "demo_cases_started" in log or "demo_cases_failed" in log:
                break
            time.sleep(0.1)
        assert "demo_cases_started" in log, log[-3000:]
    finally:
        _stop(proc)
    # Start again on the same state files: the case and its task are still there and move on.
    proc = _start(tmp_path, env)
    try:
        _wait_healthy(base, proc, tmp_path)
        tok = httpx.post(
            f"{base}/api/auth/token",
            data={"username": "county", "password": "demo-password"},
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {tok}"}
        task = httpx.get(
            f"{base}/api/tasks",
            params={"case_id": case["id"], "status": "open"},
            headers=h,
        ).json()["data"][0]
        r = httpx.post(
            f"{base}/api/tasks/{task['id']}/complete",
            json={
                "outcome": "received",
                "data": {
                    "sending_unit": "某部政治工作部",
                    "transfer_means": "机要交通",
                    "received_on": "2026-11-02",
                },
            },
            headers=h,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        assert (
            httpx.get(f"{base}/api/veterans", headers=h).json()["count"] == 5
        )  # seeded once, not twice
        # ... and the demo cases started once: the three and the one started above,
        # 杨磊's startup loan, the two demo complaints (a bad rating, a petition),
        # beside this year's annual review and this month's payroll, opened once.
        # The campaign starts its review case on its own: one the first run started
        # just before it stopped may resume only once its workflow task times out on the
        # stopped worker (10 s), so the list is read until it is whole (up to 30 s).
        expected = [
            "annual_review",
            *["complaint"] * 2,
            "monthly_pay",
            *["return_home"] * 4,
            "startup_loan",
        ]
        for _ in range(60):
            cases = httpx.get(f"{base}/api/cases", headers=h).json()["data"]
            by_process = sorted(c["process"] for c in cases)
            if by_process == expected:
                break
            time.sleep(0.5)
        assert by_process == [
            "annual_review",
            *["complaint"] * 2,
            "monthly_pay",
            *["return_home"] * 4,
            "startup_loan",
        ], by_process
        log = (tmp_path / "dev.log").read_text(errors="replace")
        assert log.count("demo_cases_started") == 1
    finally:
        _stop(proc)


def _temporal_servers(port: int) -> list[int]:
    """Live (not zombie) `temporal server start-dev` processes serving ``port``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"start-dev" in cmd and str(port).encode() in cmd and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module", autouse=True)
def orphan_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Future[None] | None]:
    """The killed-dev scenario, started with the module in a thread beside the other
    test: each waits on `vetflow dev` processes of its own (own ports, own state
    folder), so together they take about the longer one instead of the sum."""
    name = test_dev_stops_the_temporal_a_killed_dev_left_behind.__name__
    if not any(
        item.module is request.module and item.name == name
        for item in request.session.items
    ):
        yield None
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(
            killed_dev_leaves_no_orphan, tmp_path_factory.mktemp("orphan")
        )


def test_dev_stops_the_temporal_a_killed_dev_left_behind(
    orphan_run: Future[None] | None,
) -> None:
    """A `vetflow dev` killed outright (SIGKILL, a crash) leaves its Temporal running;
    the next `vetflow dev` stops that orphan and starts its own, and Ctrl-C leaves no
    Temporal behind."""
    assert orphan_run is not None
    orphan_run.result()


def killed_dev_leaves_no_orphan(tmp_path: Path) -> None:
    env, base = _dev_env(tmp_path)
    temporal = int(env["VETFLOW_TEMPORAL_ADDRESS"].rsplit(":", 1)[1])
    pid_file = tmp_path / "var" / "temporal.pid"
    proc = _start(tmp_path, env, "--no-seed")
    try:
        _wait_healthy(base, proc, tmp_path)
        orphan = int(pid_file.read_text())
        assert _temporal_servers(temporal) == [orphan]
        proc.kill()  # SIGKILL: no clean-up of any kind runs
        proc.wait(timeout=30)
        assert _temporal_servers(temporal) == [orphan]  # left running
        proc = _start(tmp_path, env, "--no-seed")
        _wait_healthy(base, proc, tmp_path)
        fresh = int(pid_file.read_text())
        assert fresh != orphan and _temporal_servers(temporal) == [fresh]
        assert "temporal_orphan_stopped" in (tmp_path / "dev.log").read_text(
            errors="replace"
        )
    finally:
        _stop(proc)  # Ctrl-C
    assert _temporal_servers(temporal) == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", temporal)) != 0  # nothing on the port
    assert not pid_file.exists()
