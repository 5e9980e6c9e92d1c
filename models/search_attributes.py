"""The search attributes a new case starts with, one builder for every starter: the
API's case start, the demo driver, and the campaign and payroll openers (workflow
code: temporalio.common only, sandbox-safe)."""

from __future__ import annotations

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

from models.contracts import SA_ORG_UNIT, SA_PROCESS, SA_STATUS, SA_VETERAN


def case_search_attributes(
    process: str, org_path: str, veteran_id: int | None = None
) -> TypedSearchAttributes:
    """Process, org unit path and status "running"; the veteran when the case has one
    (a county's payroll has none)."""
    values = [(SA_PROCESS, process), (SA_ORG_UNIT, org_path), (SA_STATUS, "running")]
    if veteran_id:
        values.append((SA_VETERAN, str(veteran_id)))
    return TypedSearchAttributes(
        [
            SearchAttributePair(SearchAttributeKey.for_keyword(name), value)
            for name, value in values
        ]
    )
