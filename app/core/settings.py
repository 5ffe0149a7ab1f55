"""One settings object, read from ``BATON_*`` environment variables and an optional env file.

Settings are read at the composition roots (app factory, CLI, engine start) and passed down;
nothing below those roots imports this module to look a value up.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core import validation
from app.core.netguard import NetworkPolicy, parse_networks
from app.core.ratelimit import RateLimit

DEFAULT_SECRET_KEY = "baton-development-secret-change-me"  # noqa: S105 - a known placeholder
DEFAULT_CONFIG_FILE = Path("config/baton.env")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


class InsecureSettingsError(RuntimeError):
    """Raised when production mode would run with a default or missing secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BATON_",
        env_file=None,
        extra="ignore",
        case_sensitive=False,
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite+aiosqlite:///./baton.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = Field(
        default="",
        description="The URL people and providers reach Baton at; defaults to http://HOST:PORT.",
    )
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    bootstrap_token: SecretStr | None = None
    bootstrap_admin_email: str = "admin@example.com"
    bootstrap_admin_name: str = "Baton Admin"

    engine_enabled: bool = True
    # Processes `baton serve` runs; each serves HTTP and (if enabled) runs the engine.
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")

    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    db_echo: bool = False

    graceful_shutdown_seconds: int = Field(default=20, ge=0)
    verification_code_ttl_minutes: int = Field(default=10, ge=1)
    verification_max_attempts: int = Field(default=5, ge=1)
    verification_resend_seconds: int = Field(default=30, ge=0)

    # Per contact method: at most N messages per window; the rest become one summary.
    rate_limit_sms: str = "4/5m"
    rate_limit_voice: str = "2/5m"
    rate_limit_email: str = "10/5m"
    rate_limit_slack: str = "12/1m"
    rate_limit_webhook: str = "120/1m"

    dispatch_batch_size: int = Field(default=100, ge=1, le=1000)
    dispatch_concurrency: int = Field(default=20, ge=1, le=200)
    send_timeout_seconds: int = Field(default=30, ge=5, le=300)
    send_max_attempts: int = Field(default=5, ge=1, le=20)
    engine_tick_seconds: float = Field(default=1.0, gt=0, le=60)
    # Audit records (who changed which configuration) older than this are pruned by the engine.
    audit_retention_days: int = Field(default=400, ge=1, le=36_500)
    # Deploys that started longer ago are deleted by the engine (unless an unresolved incident
    # names one); incidents themselves are kept.
    incident_retention_days: int = Field(default=730, ge=1, le=36_500)
    # A sent notification's words and links (its incident resolved), and outbox rows for no
    # incident, are kept this long (app/notify/retention.py).
    delivery_payload_retention_days: int = Field(default=30, ge=1, le=36_500)
    # Provider requests already acted on, kept to refuse a replay.
    inbound_receipt_retention_days: int = Field(default=7, ge=1, le=36_500)

    # Per integration key, per process: sustained requests per second and burst.
    integration_rate_per_second: float = Field(default=50.0, gt=0)
    integration_burst: int = Field(default=500, ge=1)
    # Per source address, per process: this many unknown API tokens, integration keys or feed
    # tokens in the window lock the address out (429) until the window has passed.
    auth_failure_limit: str = "20/5m"
    # Bearer token /metrics asks for; unset, /metrics is open (scrapers on a private network).
    metrics_token: SecretStr | None = None

    # Channels (docs/channels.md). A channel without credentials falls back to the console.
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    twilio_sms_per_second: float = Field(default=1.0, gt=0)
    twilio_calls_per_second: float = Field(default=1.0, gt=0)
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    slack_messages_per_second: float = Field(default=1.0, gt=0)
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_from: str = "Baton <baton@localhost>"
    smtp_timeout_seconds: float = Field(default=15.0, gt=0, le=60)

    # Outgoing webhooks (docs/operations.md#security). CIDR networks Baton may send to although
    # they are private, loopback or link-local; empty: only public addresses.
    webhook_allowed_networks: str = ""
    # After a rotation the previous signing key still signs deliveries this long.
    webhook_key_grace_hours: int = Field(default=24, ge=0, le=24 * 30)
    # Told once when an incident's escalation ends with nobody acknowledging, besides the
    # owner team's managers; a service's own fallback_email / fallback_slack_channel wins.
    escalation_fallback_email: str = ""
    escalation_fallback_slack_channel: str = ""

    # Web UI sign-in (docs/web.md). A web session lasts this long from sign-in; sign-out ends it.
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    # A sign-in link e-mailed to someone works once, within this many minutes.
    web_sign_in_link_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # Per process: sign-in links asked for one e-mail address, and from one source address.
    web_sign_in_limit_per_email: str = "5/15m"
    web_sign_in_limit_per_address: str = "30/15m"
    # Single sign-on with OpenID Connect (docs/web.md#single-sign-on): set the issuer, the client
    # id and the client secret together, or none of them. The provider must allow the redirect
    # URI PUBLIC_URL/sign-in/oidc/callback. The sign-in page then shows "Sign in with <name>".
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid email profile"
    oidc_display_name: str = Field(default="SSO", min_length=1, max_length=60)

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_from_number or self.twilio_messaging_service_sid)
        )

    @property
    def slack_configured(self) -> bool:
        return self.slack_bot_token is not None and bool(self.slack_bot_token.get_secret_value())

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_issuer)

    @property
    def network_policy(self) -> NetworkPolicy:
        return NetworkPolicy(parse_networks(self.webhook_allowed_networks))

    @field_validator(
        "rate_limit_sms",
        "rate_limit_voice",
        "rate_limit_email",
        "rate_limit_slack",
        "rate_limit_webhook",
        "auth_failure_limit",
        "web_sign_in_limit_per_email",
        "web_sign_in_limit_per_address",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        RateLimit.parse(value)
        return value

    @field_validator("escalation_fallback_email")
    @classmethod
    def _fallback_email(cls, value: str) -> str:
        return validation.email(value) if value.strip() else ""

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the OpenID Connect issuer must be an https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("the OpenID Connect issuer has no query or fragment")
        # Kept as written (a trailing slash included): ID tokens must name it exactly.
        return value

    @field_validator("oidc_scopes")
    @classmethod
    def _oidc_scopes(cls, value: str) -> str:
        scopes = value.replace(",", " ").split()
        if "openid" not in scopes:
            raise ValueError("the OpenID Connect scopes must include openid")
        return " ".join(dict.fromkeys(scopes))

    @field_validator("database_url")
    @classmethod
    def _use_async_drivers(cls, value: str) -> str:
        return normalize_database_url(value)

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        self.public_url = self.public_url.rstrip("/")
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        given = {
            "BATON_OIDC_ISSUER": bool(self.oidc_issuer),
            "BATON_OIDC_CLIENT_ID": bool(self.oidc_client_id.strip()),
            "BATON_OIDC_CLIENT_SECRET": self.oidc_client_secret is not None
            and bool(self.oidc_client_secret.get_secret_value()),
        }
        if any(given.values()) and not all(given.values()):
            missing = ", ".join(name for name, present in given.items() if not present)
            raise ValueError(f"single sign-on needs {missing} too")
        self.oidc_client_id = self.oidc_client_id.strip()
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def check_production_safety(self) -> None:
        """Refuse to run production with secrets anyone can read in our source code."""
        if self.env is not Environment.PRODUCTION:
            return
        problems: list[str] = []
        secret = self.secret_key.get_secret_value()
        if secret == DEFAULT_SECRET_KEY or len(secret) < 32:
            problems.append("BATON_SECRET_KEY must be set to a random value of 32+ characters")
        if self.bootstrap_token is not None and len(self.bootstrap_token.get_secret_value()) < 32:
            problems.append("BATON_BOOTSTRAP_TOKEN must be at least 32 characters")
        if self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
            problems.append("BATON_OIDC_ISSUER must be an https:// URL")
        if problems:
            raise InsecureSettingsError("refusing to start in production: " + "; ".join(problems))


def normalize_database_url(url: str) -> str:
    """Accept the URLs people paste and map them to the async drivers Baton uses."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        return "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the optional env file, then explicit overrides.

    The env file is ``BATON_CONFIG_FILE`` or ``config/baton.env`` when it exists; real
    environment variables win over it.
    """
    config_file = Path(os.environ.get("BATON_CONFIG_FILE", DEFAULT_CONFIG_FILE))
    env_file = config_file if config_file.is_file() else None
    return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
