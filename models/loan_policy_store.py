"""The startup-loan policy versions kept in ``loan_policy_version``: which version
applies where and when. One lookup for the API's quote and the workflow's
``load_loan_policy`` activity, so a quote and a case never disagree on the version.

The rule: among the versions whose ``locality`` is a prefix of the case's (or the
caller's) org path, or ``"*"``, and whose ``effective_from`` is on or before the date,
the most specific locality wins (the longest prefix), then the latest
``effective_from``. With no such row the built-in Qingdao policy (``QINGDAO_2024``)
applies. Versions are added, never edited.
"""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, select

from models.loan_policy import ANY_LOCALITY, QINGDAO_2024, LoanPolicy
from models.tables import LoanPolicyVersion


def policy_of(row: LoanPolicyVersion) -> LoanPolicy:
    """The policy a row stores (its ``body`` with the row's own keys)."""
    return LoanPolicy.model_validate(
        {
            **row.body,
            "version": row.version,
            "locality": row.locality,
            "effective_from": row.effective_from,
            "source": row.source,
        }
    )


def applies_to(locality: str, org_path: str) -> bool:
    """Whether a version of ``locality`` covers a unit at ``org_path``."""
    return locality == ANY_LOCALITY or org_path.startswith(locality)


def effective_policy(session: Session, org_path: str, on: date) -> LoanPolicy:
    """The version effective on ``on`` for a unit at ``org_path`` (rule above)."""
    rows = session.exec(
        select(LoanPolicyVersion).where(col(LoanPolicyVersion.effective_from) <= on)
    ).all()
    candidates = [r for r in rows if applies_to(r.locality, org_path)]
    if not candidates:
        return QINGDAO_2024
    best = max(
        candidates,
        key=lambda r: (
            -1 if r.locality == ANY_LOCALITY else len(r.locality),
            r.effective_from,
            r.created_at,
        ),
    )
    return policy_of(best)


def policy_version(session: Session, version: str) -> LoanPolicy | None:
    """One version by name; the built-in default also when no row holds it."""
    row = session.get(LoanPolicyVersion, version)
    if row is not None:
        return policy_of(row)
    return QINGDAO_2024 if version == QINGDAO_2024.version else None


def all_versions(session: Session) -> list[LoanPolicy]:
    """Every version, the built-in default included, newest first."""
    rows = session.exec(select(LoanPolicyVersion)).all()
    policies = [policy_of(r) for r in rows]
    if not any(p.version == QINGDAO_2024.version for p in policies):
        policies.append(QINGDAO_2024)
    return sorted(policies, key=lambda p: (p.effective_from, p.version), reverse=True)


def row_of(policy: LoanPolicy, created_by: str) -> LoanPolicyVersion:
    """The row that stores ``policy`` (the products and rules in ``body``)."""
    return LoanPolicyVersion(
        version=policy.version,
        locality=policy.locality,
        effective_from=policy.effective_from,
        source=policy.source,
        body=policy.model_dump(
            mode="json", exclude={"version", "locality", "effective_from", "source"}
        ),
        created_by=created_by,
    )
