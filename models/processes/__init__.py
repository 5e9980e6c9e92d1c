"""The registry of process definitions (step specs and deadline policies)."""

from __future__ import annotations

from models.contracts import ProcessPolicy
from models.process_spec import ProcessSpec
from models.processes import return_home

PROCESSES: dict[str, ProcessSpec] = {return_home.SPEC.key: return_home.SPEC}
POLICIES: dict[str, dict[str, ProcessPolicy]] = {
    return_home.SPEC.key: return_home.POLICIES
}


def policy_for(process: str, profile: str) -> ProcessPolicy:
    """The deadline policy of ``process`` under a settings profile (standard | fast)."""
    return POLICIES[process].get(profile) or POLICIES[process]["standard"]
