"""The veteran's self-service link to a ``submit_report`` round (001 第九条: the year's
登记 "现场或网上"; the online way is this link, the on-site way the station's 帮办)."""

from __future__ import annotations

import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.contracts import IssueLinkInput
from models.self_link import sign_link, task_id_of
from models.settings import Settings, load_settings

log = structlog.get_logger(__name__)

SELF_PATH = "/self/annual-review/"


def self_link_url(settings: Settings, token: str) -> str:
    """The address a veteran opens: the public base plus the signed token."""
    return f"{settings.public_base_url.rstrip('/')}{SELF_PATH}{token}"


class SelfLinkActivities:
    """Signs links with the app secret (``VETFLOW_SECRET_KEY``, which the worker and
    the API share); ``settings`` None reads them from the environment when first
    needed."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @activity.defn
    def issue_self_link(self, inp: IssueLinkInput) -> str:
        """The full URL of a signed link to round ``inp.round`` of the veteran's
        report, valid until ``inp.expires_at``. A secret too short, or a task id that
        is not the round's, is permanent (an incident, not a retry)."""
        if inp.task_id != task_id_of(inp.case_id, inp.round):
            raise ApplicationError(
                f"task {inp.task_id} is not round {inp.round} of {inp.case_id}",
                type="InvalidInput",
                non_retryable=True,
            )
        try:
            token = sign_link(
                self.settings.secret_key,
                case_id=inp.case_id,
                round=inp.round,
                veteran_id=inp.veteran_id,
                expires_at=inp.expires_at,
            )
        except ValueError as exc:  # no key, or a naive expiry
            raise ApplicationError(
                str(exc), type="SelfLinkUnavailable", non_retryable=True
            ) from exc
        # The token itself is a credential: never logged.
        log.info(
            "self_link_issued",
            case_id=inp.case_id,
            task_id=inp.task_id,
            expires_at=inp.expires_at.isoformat(),
        )
        return self_link_url(self.settings, token)
