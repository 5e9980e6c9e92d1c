"""The production stack: docker-compose.yml, the Dockerfile and the deploy/ scripts.

Docker does not run here, so the compose file is parsed and checked against the code it
configures: the services production needs, vetflow configured only through variables
`Settings` reads, no committed secret. The namespace script does run, against the test
session's Temporal dev server; the image's package data is checked with a real build.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tomllib
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from models.contracts import SEARCH_ATTRIBUTES
from models.settings import Settings
from tests.conftest import temporal_binary

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load(
    (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
VETFLOW = ("vetflow-migrate", "vetflow-api", "vetflow-worker")
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PACKAGES = ("models", "workflows", "activities", "api", "tools")


def env_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    return {k: str(v) for k, v in env.items()}


def completed(service: str, dependency: str) -> bool:
    condition = SERVICES[service]["depends_on"][dependency]["condition"]
    return bool(condition == "service_completed_successfully")


# --- compose ---------------------------------------------------------------------


def test_services_production_needs_are_there():
    assert {
        "postgres",
        "temporal-admin-tools",
        "temporal",
        "temporal-create-namespace",
        "temporal-ui",
        *VETFLOW,
    } <= set(SERVICES)
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert any(v.startswith("pgdata:") for v in SERVICES["postgres"]["volumes"])
    assert "pgdata" in COMPOSE["volumes"]
    assert "healthcheck" in SERVICES["postgres"]
    assert SERVICES["temporal"]["image"] == "temporalio/server:1.30.1"
    assert env_of("temporal")["DB"] == "postgres12"
    assert env_of("temporal")["POSTGRES_SEEDS"] == "postgres"
    for job in ("temporal-admin-tools", "temporal-create-namespace"):
        assert SERVICES[job]["image"] == "temporalio/admin-tools:1.30.1"
    assert SERVICES["temporal-ui"]["image"] == "temporalio/ui:2.34.0"
    assert any(str(p).endswith("8080:8080") for p in SERVICES["temporal-ui"]["ports"])
    # auto-setup images are for development only (Temporal's own advice).
    assert not any("auto-setup" in s.get("image", "") for s in SERVICES.values())


def test_start_order_schema_then_server_then_namespace_then_vetflow():
    assert completed("temporal", "temporal-admin-tools")
    assert (
        SERVICES["temporal-create-namespace"]["depends_on"]["temporal"]["condition"]
        == "service_healthy"
    )
    for service in ("vetflow-api", "vetflow-worker"):
        assert completed(service, "vetflow-migrate")
        assert completed(service, "temporal-create-namespace")


def test_vetflow_services_run_our_image_and_commands():
    for service in VETFLOW:
        assert SERVICES[service]["image"].startswith("vetflow:")
        assert SERVICES[service]["build"] == "."
    assert SERVICES["vetflow-migrate"]["command"] == ["vetflow", "migrate"]
    assert SERVICES["vetflow-api"]["command"] == ["vetflow", "api"]
    assert SERVICES["vetflow-worker"]["command"] == ["vetflow", "worker"]
    assert any(str(p).endswith("8000:8000") for p in SERVICES["vetflow-api"]["ports"])
    health = " ".join(SERVICES["vetflow-api"]["healthcheck"]["test"])
    assert "/healthz" in health
    assert SERVICES["vetflow-worker"]["deploy"]["replicas"] >= 2


def test_api_and_workers_keep_no_state_and_share_one_configuration():
    """Any number of either can run (tests/test_scale_out.py runs 2 APIs and 3
    workers): nothing of theirs is on a volume, and every worker variable reaches
    the API with the same value (one token key, one payload keyring, one queue)."""
    for service in ("vetflow-api", "vetflow-worker"):
        assert not SERVICES[service].get("volumes"), service
        assert SERVICES[service]["restart"] == "unless-stopped"
    api, worker = env_of("vetflow-api"), env_of("vetflow-worker")
    shared = {k: v for k, v in worker.items() if k != "VETFLOW_WORKER_METRICS_ADDRESS"}
    assert {k: api.get(k) for k in shared} == shared
    assert SERVICES["vetflow-worker"]["stop_grace_period"]


def test_vetflow_services_use_only_settings_variables():
    fields = {f"VETFLOW_{name.upper()}" for name in Settings.model_fields}
    for service in VETFLOW:
        env = env_of(service)
        assert set(env) <= fields, (service, set(env) - fields)
    for service in ("vetflow-api", "vetflow-worker"):
        env = env_of(service)
        assert {
            "VETFLOW_DATABASE_URL",
            "VETFLOW_TEMPORAL_ADDRESS",
            "VETFLOW_SECRET_KEY",
        } <= set(env)
        assert re.fullmatch(
            r"postgresql://[^@]+@postgres:5432/vetflow", env["VETFLOW_DATABASE_URL"]
        )
        assert env["VETFLOW_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["VETFLOW_LOG_FORMAT"] == "json"
    assert env_of("vetflow-api")["VETFLOW_API_HOST"] == "0.0.0.0"  # noqa: S104
    # Metrics: the API's behind a token given at deploy time, each worker's SDK metrics
    # on the compose network.
    assert (
        env_of("vetflow-api")["VETFLOW_METRICS_TOKEN"] == "${VETFLOW_METRICS_TOKEN:-}"
    )
    assert env_of("vetflow-worker")["VETFLOW_WORKER_METRICS_ADDRESS"] == "0.0.0.0:9464"


def test_compose_values_are_valid_settings():
    """With the ${...} references filled in, every vetflow service's environment is
    accepted by Settings (types and allowed values, e.g. LOG_FORMAT)."""

    def fill(value: str) -> str:
        return re.sub(
            r"\$\{(\w+)(?::?[-?]([^}]*))?\}",
            lambda m: "x" * 40 if "?" in m.group(0) else (m.group(2) or ""),
            value,
        )

    for service in VETFLOW:
        env = {
            k[len("VETFLOW_") :].lower(): fill(v) for k, v in env_of(service).items()
        }
        settings = Settings.model_validate(env)
        assert settings.database_url.startswith("postgresql://")


def _secret_like(key: str) -> bool:
    return re.search("PASSWORD|PWD|SECRET", key) is not None


def test_no_secret_is_committed():
    """Every password/secret value is a ${...} reference; the required ones use `:?`
    (compose refuses to start without them) and none has a non-empty default."""
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if _secret_like(key):
                assert re.fullmatch(r"\$\{\w+(:\?[^}]*|:-)?\}", str(value)), (name, key)
    for service in ("postgres", "temporal", "temporal-admin-tools"):
        for key, value in env_of(service).items():
            if _secret_like(key):
                assert value.startswith("${POSTGRES_PASSWORD:?"), (service, key)
    for service in ("vetflow-api", "vetflow-worker"):
        env = env_of(service)
        assert env["VETFLOW_SECRET_KEY"].startswith("${VETFLOW_SECRET_KEY:?")
        # The password inside the URL is a reference too.
        assert ":${POSTGRES_PASSWORD:?" in env["VETFLOW_DATABASE_URL"]


def test_mounted_deploy_files_exist():
    for name, service in SERVICES.items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)


# --- Temporal schema and namespace jobs ------------------------------------------


def test_schema_job_sets_up_both_temporal_databases():
    script = (ROOT / "deploy" / "setup-temporal-postgres.sh").read_text(
        encoding="utf-8"
    )
    assert re.search(r"for db in temporal temporal_visibility\b", script)
    for step in ("create", "setup-schema -v 0.0", "update-schema -d"):
        assert f'temporal-sql-tool --db "$db" {step}' in script
    assert "SCHEMA_DIR=/etc/temporal/schema/postgresql/v12\n" in script
    assert '"$SCHEMA_DIR/temporal/versioned"' in script
    assert '"$SCHEMA_DIR/visibility/versioned"' in script
    assert env_of("temporal-admin-tools")["SQL_PLUGIN"] == "postgres12"
    assert env_of("temporal-admin-tools")["SQL_HOST"] == "postgres"


def test_namespace_job_registers_exactly_our_search_attributes():
    script = (ROOT / "deploy" / "create-namespace.sh").read_text(encoding="utf-8")
    names = re.search(r'^SEARCH_ATTRIBUTES="([^"]+)"', script, re.M)
    assert names is not None
    assert sorted(names.group(1).split()) == sorted(SEARCH_ATTRIBUTES)
    assert "--type Keyword" in script
    assert "--retention 90d" in script
    assert env_of("temporal-create-namespace")["TEMPORAL_NAMESPACE"] == "default"


async def _run_namespace_job(address: str, namespace: str, home: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        "sh",
        str(ROOT / "deploy" / "create-namespace.sh"),
        env={
            "PATH": f"{Path(temporal_binary()).parent}:/usr/bin:/bin",
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": namespace,
            "HOME": str(home),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=150)
    assert proc.returncode == 0, out.decode()
    return out.decode()


async def test_namespace_job_runs_against_temporal_and_can_rerun(
    client: Client, tmp_path: Path
):
    """The script itself, run twice against a real Temporal server on a new namespace:
    90-day retention and the four Keyword search attributes, and a rerun keeps them."""
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    address = client.service_client.config.target_host

    await _run_namespace_job(address, namespace, tmp_path)
    rerun = await _run_namespace_job(address, namespace, tmp_path)

    assert f"namespace {namespace} exists" in rerun
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    assert retention == timedelta(days=90)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    ours = {
        name: kind
        for name, kind in listed.custom_attributes.items()
        if name.startswith("Vetflow")
    }
    assert ours == dict.fromkeys(
        SEARCH_ATTRIBUTES, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    )


# --- image -----------------------------------------------------------------------


def test_dockerfile_is_python_311_and_not_root():
    assert re.search(r"^FROM python:3\.11(-slim)?\s*$", DOCKERFILE, re.M)
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users, "the image must switch away from root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"^RUN pip install \.", DOCKERFILE, re.M)
    assert re.search(r'^CMD \["vetflow", "api"\]', DOCKERFILE, re.M)


def test_dockerfile_copies_every_module_the_package_installs():
    """A new top-level module in pyproject must also be copied into the image."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "tool"
    ]["setuptools"]
    copied = {
        part
        for line in re.findall(r"^COPY (.+)$", DOCKERFILE, re.M)
        for part in line.split()[:-1]
    }
    modules = {f"{m}.py" for m in setuptools["py-modules"]}
    packages = {p.rstrip("*") for p in setuptools["packages"]["find"]["include"]}
    assert modules | packages | {"pyproject.toml"} <= copied
    assert set(PACKAGES) == packages


def test_installed_package_carries_every_data_file(tmp_path):
    """`pip install .` in the image installs only declared package data: every file of
    our packages that is not Python (templates, static files, catalogs, migration
    template) must be in the build, or the image runs without it."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from setuptools import setup; setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(tmp_path),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    tracked = subprocess.run(
        ["git", "ls-files", *PACKAGES],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    data = {f for f in tracked if not f.endswith(".py") and (ROOT / f).exists()}
    assert data, "expected templates and static files"
    missing = {f for f in data if not (tmp_path / f).is_file()}
    assert not missing
    assert (tmp_path / "models" / "migrations" / "env.py").is_file()
    versions = {p.name for p in (ROOT / "models/migrations/versions").glob("*.py")}
    built = {p.name for p in (tmp_path / "models/migrations/versions").glob("*.py")}
    assert versions == built
