"""docker-compose.yml is not run here (no Docker engine): these checks keep it honest —
it parses, has the services production needs, and configures vetflow only through
variables the settings read."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from models.contracts import SEARCH_ATTRIBUTES
from models.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
VETFLOW = ("vetflow-migrate", "vetflow-api", "vetflow-worker")


def env_of(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    return {k: str(v) for k, v in env.items()}


def test_services_production_needs_are_there():
    assert {
        "postgres",
        "temporal-admin-tools",
        "temporal",
        "temporal-create-namespace",
        "temporal-ui",
        *VETFLOW,
    } <= set(SERVICES)
    assert SERVICES["temporal"]["image"].startswith("temporalio/server:")
    assert (
        env_of("temporal")["DB"] == "postgres12"
        and env_of("temporal")["POSTGRES_SEEDS"] == "postgres"
    )
    assert not any("auto-setup" in s.get("image", "") for s in SERVICES.values())
    assert SERVICES["vetflow-worker"]["deploy"]["replicas"] >= 2
    assert SERVICES["vetflow-api"]["command"] == ["vetflow", "api"]
    assert SERVICES["vetflow-worker"]["command"] == ["vetflow", "worker"]


def test_vetflow_services_use_only_settings_variables():
    fields = {f"VETFLOW_{name.upper()}" for name in Settings.model_fields}
    for service in VETFLOW:
        env = env_of(service)
        unknown = {k for k in env if k.startswith("VETFLOW_")} - fields
        assert not unknown, (service, unknown)
        assert {k for k in env if not k.startswith("VETFLOW_")} == set(), service
    for service in ("vetflow-api", "vetflow-worker"):
        env = env_of(service)
        assert (
            env["VETFLOW_DATABASE_URL"].startswith("postgresql://")
            and "@postgres:5432/" in env["VETFLOW_DATABASE_URL"]
        )
        assert env["VETFLOW_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert env["VETFLOW_SECRET_KEY"].startswith("${")


def test_no_secret_is_committed():
    for name, service in SERVICES.items():
        for key, value in (service.get("environment") or {}).items():
            if re.search("PASSWORD|PWD|SECRET", key) and str(value):
                assert str(value).startswith("${"), (name, key)
    assert "${POSTGRES_PASSWORD" in env_of("vetflow-api")["VETFLOW_DATABASE_URL"]


def test_namespace_job_registers_exactly_our_search_attributes():
    script = (ROOT / "deploy" / "create-namespace.sh").read_text(encoding="utf-8")
    names = set(re.search(r"for attr in ([^;]+);", script).group(1).split())
    assert names == set(SEARCH_ATTRIBUTES)
    assert "--retention 90d" in script


def test_dockerfile_is_python_311_and_not_root():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
