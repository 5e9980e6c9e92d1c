"""README's step → clause tables are the ones the step definitions generate, and every
step of every version cites a source."""

from __future__ import annotations

import re

from models.processes import SPEC_VERSIONS
from tools.step_table import README, expected_readme

# A clause cites a seed (000–004 with § or 第…条) or a named national regulation.
CITATION = re.compile(
    r"^(00[0-4] (§\d|第)|退役军人安置条例 第|军人抚恤优待条例 第|信访工作条例 第)"
)


def test_readme_tables_match_the_step_definitions():
    text = README.read_text(encoding="utf-8")
    assert expected_readme(text) == text, (
        "README.md's step tables are stale: run `.venv/bin/vetflow docs steps --write`"
    )


def test_every_step_cites_its_source():
    for versions in SPEC_VERSIONS.values():
        for spec in versions.values():
            for step in spec.steps:
                parts = [p.strip() for p in step.clause.split(";")]
                assert parts and all(CITATION.match(p) for p in parts), (
                    spec.version,
                    step.key,
                    step.clause,
                )
