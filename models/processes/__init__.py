"""The registry of process definitions (step specs and deadline policies), by version."""

from __future__ import annotations

from models.contracts import ProcessPolicy
from models.process_spec import ProcessSpec
from models.processes import (
    annual_review,
    complaint,
    monthly_pay,
    notice_delivery,
    retiree_aftercare,
    return_home,
    startup_loan,
)

# Every released version of every process: a case finds the definition it started with.
SPEC_VERSIONS: dict[str, dict[int, ProcessSpec]] = {
    return_home.SPEC.key: return_home.SPECS,
    annual_review.SPEC.key: annual_review.SPECS,
    monthly_pay.SPEC.key: monthly_pay.SPECS,
    startup_loan.SPEC.key: startup_loan.SPECS,
    retiree_aftercare.SPEC.key: retiree_aftercare.SPECS,
    retiree_aftercare.LOST_CONTACT_SPEC.key: retiree_aftercare.LOST_CONTACT_SPECS,
    complaint.SPEC.key: complaint.SPECS,
}
# The version new cases start with: the highest.
PROCESSES: dict[str, ProcessSpec] = {
    key: versions[max(versions)] for key, versions in SPEC_VERSIONS.items()
}
# Definitions of the engine's own work items (not started by clerks).
SUPPORT_SPECS: dict[str, ProcessSpec] = {notice_delivery.SPEC.key: notice_delivery.SPEC}
POLICIES: dict[str, dict[str, ProcessPolicy]] = {
    return_home.SPEC.key: return_home.POLICIES,
    annual_review.SPEC.key: annual_review.POLICIES,
    monthly_pay.SPEC.key: monthly_pay.POLICIES,
    notice_delivery.SPEC.key: notice_delivery.POLICIES,
    startup_loan.SPEC.key: startup_loan.POLICIES,
    retiree_aftercare.SPEC.key: retiree_aftercare.POLICIES,
    retiree_aftercare.LOST_CONTACT_SPEC.key: retiree_aftercare.POLICIES,
    complaint.SPEC.key: complaint.POLICIES,
}


def spec_of(process: str, version: int | None = None) -> ProcessSpec | None:
    """The definition of ``process`` at ``version`` (latest when None), or None."""
    if process in SUPPORT_SPECS:
        return SUPPORT_SPECS[process]
    versions = SPEC_VERSIONS.get(process)
    if not versions:
        return None
    return versions.get(version if version is not None else max(versions))


def policy_for(process: str, profile: str) -> ProcessPolicy:
    """The deadline policy of ``process`` under a settings profile (standard | fast)."""
    return POLICIES[process].get(profile) or POLICIES[process]["standard"]
