"""Application settings, read from ``VETFLOW_*`` environment variables.

There is no module-level singleton: the worker, the API and the CLI call
:func:`load_settings`, and tests build their own :class:`Settings`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

TASK_QUEUE_DEFAULT = "vetflow"


class Settings(BaseSettings):
    """Everything vetflow reads from its environment (see README, Configuration)."""

    model_config = SettingsConfigDict(
        env_prefix="VETFLOW_", frozen=True, extra="ignore"
    )

    database_url: str = Field(
        default="sqlite:///var/vetflow.db",
        description="SQLAlchemy URL of the app database (SQLite or PostgreSQL).",
    )
    temporal_address: str = Field(
        default="localhost:7233", description="host:port of Temporal."
    )
    temporal_namespace: str = Field(default="default")
    temporal_ui_port: int = Field(
        default=8233, description="Web UI port of the dev server."
    )
    temporal_db_file: str = Field(
        default="var/temporal.db", description="State file of the embedded dev server."
    )
    task_queue: str = Field(default=TASK_QUEUE_DEFAULT)
    case_id_prefix: str = Field(
        default="",
        description="Prefix of case/workflow ids (isolates installations sharing one namespace).",
    )
    api_host: str = Field(default="127.0.0.1")
    api_port: int = Field(default=8000)
    secret_key: str = Field(
        default="",
        description="HMAC key for access tokens. Empty: `vetflow dev` makes one under var/.",
    )
    token_ttl_minutes: int = Field(default=480, description="Access token lifetime.")
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Address veterans reach the app at: the base of the self-service "
        "links sent to them.",
    )
    self_link_requests_per_minute: int = Field(
        default=20,
        ge=1,
        description="Requests of the self-service pages per client address and minute.",
    )
    log_format: Literal["console", "json", "auto"] = Field(default="auto")
    log_level: str = Field(default="INFO")
    notify_adapter: Literal["log", "smtp", "webhook"] = Field(default="log")
    smtp_host: str = Field(default="localhost")
    smtp_port: int = Field(default=25)
    smtp_sender: str = Field(default="vetflow@localhost")
    webhook_url: str = Field(
        default="", description="SMS gateway endpoint (webhook adapter)."
    )
    webhook_secret: str = Field(
        default="", description="HMAC-SHA256 key for webhook bodies."
    )
    bank_secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Per-bank HMAC keys of the bank webhook and callbacks, as JSON "
        '({"icbc": "..."}); a bank not listed gets a key derived from secret_key.',
    )
    bank_callback_max_skew_seconds: int = Field(
        default=300,
        ge=1,
        description="A bank callback whose timestamp is further than this from now "
        "is refused (replay protection beside the per-reference idempotency).",
    )
    policy_profile: Literal["standard", "fast"] = Field(
        default="standard",
        description="Deadline policy: `standard` = statutory working days; `fast` = seconds (demo/tests).",
    )
    at_risk_hours: float = Field(
        default=24.0,
        description="A task due within this many hours shows as at risk (amber).",
    )
    temporal_call_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest the API waits for Temporal (start, Update, query) before "
        "answering 503 with Retry-After.",
    )
    unmask_roles: str = Field(
        default="county_staff,desk_party,desk_hukou,desk_social_insurance,desk_medical_insurance,desk_housing_fund,desk_reserve,desk_bank,desk_subsidy",
        description="Comma-separated roles that see full ID numbers (every such read is audited).",
    )
    complaint_identity_roles: str = Field(
        default="leader,manager,city_staff,county_staff,township_staff,village_staff",
        description="Comma-separated roles that may reveal a complainant's identity "
        "(name, phone, ID number, representatives, whom a report names) with "
        "`?reveal=true`: the staff who call the complainant back (问题核实, 回访) and "
        "their leaders. Never the rated clerk or a reported person (信访工作条例 "
        "第三十条); every reveal and every refusal is audited.",
    )
    evidence_key_file: str = Field(
        default="var/evidence-signing-key.pem",
        description="Ed25519 private key (PKCS#8 PEM) that signs evidence packs; made on "
        "first use when missing. `vetflow evidence-key rotate` retires it.",
    )
    evidence_retired_keys_dir: str = Field(
        default="var/evidence-keys-retired",
        description="Public keys (*.pem) of retired evidence keys, still published so "
        "packs signed before a rotation verify.",
    )
    login_max_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Failed logins of one account within the window before it is locked.",
    )
    login_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        description="Failed logins from one client address within the window before "
        "it is locked.",
    )
    login_failure_window_minutes: float = Field(
        default=15.0, gt=0, description="Window in which failed logins are counted."
    )
    login_lock_minutes: float = Field(
        default=5.0,
        gt=0,
        description="First lock after too many failures; each further lock doubles.",
    )
    login_lock_max_minutes: float = Field(
        default=240.0, gt=0, description="Longest lock."
    )
    payload_keys: str = Field(
        default="",
        description="Keys that encrypt Temporal payloads (AES-256-GCM): `kid:base64key` "
        "entries separated by commas; the first is active unless "
        "VETFLOW_PAYLOAD_ACTIVE_KEY names another, all decrypt. `vetflow payload-keys new` "
        "prints an entry.",
    )
    payload_key_file: str = Field(
        default="",
        description="File of `kid:base64key` lines (read after VETFLOW_PAYLOAD_KEYS); "
        "`vetflow dev` makes var/payload_keys, `vetflow payload-keys rotate` puts a new active "
        "key first.",
    )
    payload_active_key: str = Field(
        default="",
        description="Key id that encrypts new payloads (default: the first entry).",
    )
    metrics_token: str = Field(
        default="",
        description="Bearer token that a Prometheus scrape of the API's /metrics must "
        "send. Empty: /metrics answers 404.",
    )
    metrics_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long /metrics reuses its task and outbox counts before it "
        "queries the database again.",
    )
    worker_metrics_address: str = Field(
        default="",
        description="host:port where the worker serves the Temporal SDK's own metrics "
        "(Prometheus, e.g. 0.0.0.0:9464). Empty: not served.",
    )
    outbox_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often each worker's notice dispatcher looks for due outbox "
        "rows (a notice queued by the same worker wakes it at once).",
    )
    outbox_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a dispatcher holds a claimed notice before another "
        "worker may take it (longer than a delivery's timeout: the webhook's is 10 s).",
    )
    replay_processes: int = Field(
        default=1,
        ge=1,
        description="Processes the API replays histories in (an auditor's replay "
        "never runs in the API's event loop; more replays at once wait their turn); "
        "started on the first replay. At most the cores less one: the API keeps one.",
    )
    codec_cors_origins: str = Field(
        default="http://127.0.0.1:8233,http://localhost:8233",
        description="Comma-separated origins (the Temporal Web UI) allowed to call "
        "/api/codec with credentials.",
    )

    @property
    def unmask_role_set(self) -> frozenset[str]:
        return frozenset(r.strip() for r in self.unmask_roles.split(",") if r.strip())

    @property
    def complaint_identity_role_set(self) -> frozenset[str]:
        return frozenset(
            r.strip() for r in self.complaint_identity_roles.split(",") if r.strip()
        )


@lru_cache
def load_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
