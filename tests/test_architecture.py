"""The import rules of style.md B2, checked on every module with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "workflows", "activities", "api")
SANDBOX_SAFE = (
    "models/contracts.py",
    "models/forms.py",
    "models/process_spec.py",
    "models/processes",
)


def modules(pkg: str) -> list[Path]:
    return sorted((ROOT / pkg).rglob("*.py"))


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


FORBIDDEN = {
    "models": {"workflows", "activities", "api", "worker"},
    "workflows": {
        "api",
        "sqlmodel",
        "sqlalchemy",
        "structlog",
        "fastapi",
        "httpx",
        "worker",
    },
    "activities": {"workflows", "api", "worker"},
    "api": {"activities", "worker"},
}


@pytest.mark.parametrize("pkg", PACKAGES)
def test_layer_imports(pkg):
    offences = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in modules(pkg)
        for name in imports_of(p)
        if top(name) in FORBIDDEN[pkg]
    ]
    assert not offences, offences


def test_sandbox_safe_models_stay_free_of_io_libraries():
    paths = [
        p
        for p in modules("models")
        if any(str(p.relative_to(ROOT)).startswith(s) for s in SANDBOX_SAFE)
    ]
    assert paths
    bad = {"sqlmodel", "sqlalchemy", "structlog", "httpx", "fastapi"}
    offences = [
        f"{p.relative_to(ROOT)} imports {n}"
        for p in paths
        for n in imports_of(p)
        if top(n) in bad or n.startswith("temporalio.client")
    ]
    assert not offences, offences


def test_workflows_use_no_wall_clock_or_randomness():
    offences = []
    for p in modules("workflows"):
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {
                "now",
                "utcnow",
                "uuid4",
                "random",
                "today",
            }:
                base = node.value
                if not (isinstance(base, ast.Name) and base.id == "workflow"):
                    offences.append(
                        f"{p.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}"
                    )
    assert not offences, offences


# Modules whose use in workflow code would make a replay differ (the clock, randomness,
# threads, the process's environment and I/O). The sandbox refuses them at run time in
# a sandboxed module; vetflow's workflows run without the sandbox
# (workflows/registry.py), so this check is their guard.
NONDETERMINISTIC = {
    "time",
    "random",
    "uuid",
    "os",
    "threading",
    "socket",
    "subprocess",
    "secrets",
    "urllib",
    "http",
}


def test_workflows_import_nothing_nondeterministic():
    offences = [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in modules("workflows")
        for name in imports_of(p)
        if top(name) in NONDETERMINISTIC
    ]
    assert not offences, offences


def test_workflow_modules_keep_no_module_state():
    """vetflow's workflow modules are shared by every workflow instance of a worker
    (no sandbox: workflows/registry.py): no function of them rebinds a module-level
    name (no ``global`` statement); their module-level tables are constants by
    review."""
    offences = [
        f"{p.relative_to(ROOT)}:{n.lineno}"
        for p in modules("workflows")
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(n, ast.Global | ast.Nonlocal)
    ]
    assert not offences, offences


def test_worker_does_not_import_the_api():
    assert not any(top(n) == "api" for n in imports_of(ROOT / "worker.py"))


def test_models_package_init_is_empty():
    assert (ROOT / "models" / "__init__.py").read_text().strip() == ""
