"""The README's step → clause tables, generated from the step definitions the
workflows run (``models/processes``), so the documentation cannot drift from the code.

    .venv/bin/vetflow docs steps --write   # rewrite the tables in README.md
A test fails when README.md differs from what this module generates.
"""

from __future__ import annotations

import re
from pathlib import Path

from models.contracts import ProcessPolicy, TaskPolicy
from models.process_spec import OUTCOME_LABELS, ProcessSpec
from models.processes import PROCESSES, policy_for

README = Path(__file__).resolve().parent.parent / "README.md"
LEVELS = {
    "village": "村(社区)站",
    "township": "乡镇(街道)站",
    "county": "区(县)中心",
    "city": "市",
    "province": "省",
    # The complaint's levels, relative to the case's handling unit
    # (workflows/complaint.py RELATIVE_LEVELS).
    "handling": "办理单位",
    "above": "上一级",
    "above2": "再上一级",
}


def _limit(policy: TaskPolicy) -> str:
    source = f" ({policy.source})" if policy.source else ""
    return policy.describe() + source


def step_table(spec: ProcessSpec, policy: ProcessPolicy) -> str:
    """A markdown table: each step of ``spec`` in order, who holds it, its outcomes,
    the clause it comes from and its deadline under ``policy``."""
    rows = [
        f"Version {spec.version} of `{spec.key}` ({spec.title}); steps sharing a"
        " group run in parallel.",
        "",
        "| # | step | 环节 | held by | outcomes | clause | deadline (standard) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, step in enumerate(spec.steps, 1):
        outcomes = ", ".join(OUTCOME_LABELS.get(o, o) for o in step.outcomes)
        group = f" ∥ {step.group}" if step.group else ""
        rows.append(
            f"| {n} | `{step.key}`{group} | {step.title} | {step.role} @ "
            f"{LEVELS.get(step.level, step.level)} | {outcomes} | {step.clause} | "
            f"{_limit(policy.for_step(step.key))} |"
        )
    return "\n".join(rows)


def _marker(key: str) -> tuple[str, str]:
    return f"<!-- steps:{key} -->", f"<!-- /steps:{key} -->"


def expected_readme(text: str) -> str:
    """``text`` with every process's table between its markers regenerated."""
    for key, spec in PROCESSES.items():
        start, end = _marker(key)
        table = step_table(spec, policy_for(key, "standard"))
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        match = pattern.search(text)
        if match is None:
            raise SystemExit(f"README.md has no {start} … {end} section")
        # Spliced, not pattern.sub: a backslash in the table stays a backslash.
        text = f"{text[: match.start()]}{start}\n{table}\n{end}{text[match.end() :]}"
    return text


def write_readme() -> bool:
    """Rewrite README.md's tables; True when something changed."""
    old = README.read_text(encoding="utf-8")
    new = expected_readme(old)
    if new != old:
        README.write_text(new, encoding="utf-8")
    return new != old
