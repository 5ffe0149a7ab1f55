from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import Field, SecretStr, model_validator

from app.core.schemas import InputModel, Name, OutputModel
from app.integrations.models import HeartbeatState, IntegrationKind


class IntegrationCreate(InputModel):
    kind: IntegrationKind
    name: Name
    signing_secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="Grafana only: the HMAC secret configured on the contact point.",
    )
    signing_timestamp_header: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Grafana only: the header carrying the signature timestamp, if configured.",
    )
    heartbeat_interval_seconds: int | None = Field(default=None, ge=30, le=7 * 86400)
    heartbeat_grace_seconds: int | None = Field(default=None, ge=0, le=86400)
    webhook_secret: SecretStr | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        description="GitHub only, and required there: the secret set on the GitHub webhook, "
        "which signs every delivery (X-Hub-Signature-256). Stored encrypted, never shown again.",
    )

    @model_validator(mode="after")
    def _fits_kind(self) -> Self:
        if self.kind is IntegrationKind.HEARTBEAT:
            if self.heartbeat_interval_seconds is None:
                raise ValueError("a heartbeat needs heartbeat_interval_seconds")
        elif (
            self.heartbeat_interval_seconds is not None or self.heartbeat_grace_seconds is not None
        ):
            raise ValueError("heartbeat settings only apply to heartbeat integrations")
        if self.kind is not IntegrationKind.GRAFANA and (
            self.signing_secret or self.signing_timestamp_header
        ):
            raise ValueError("signing settings only apply to Grafana integrations")
        if self.kind is IntegrationKind.GITHUB:
            # GitHub cannot send a bearer token: an unsigned webhook would be a URL anyone who
            # saw it could post deploys to.
            if self.webhook_secret is None:
                raise ValueError("a GitHub integration needs the webhook_secret set on GitHub")
        elif self.webhook_secret is not None:
            raise ValueError("webhook_secret only applies to GitHub integrations")
        return self


class IntegrationOut(OutputModel):
    id: int
    service_id: int
    kind: IntegrationKind
    name: str
    key_prefix: str
    signed: bool = Field(
        default=False,
        description="Grafana: an HMAC secret is configured; GitHub: always (the webhook secret).",
    )
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None
    heartbeat_interval_seconds: int | None
    heartbeat_grace_seconds: int | None
    heartbeat_state: HeartbeatState | None
    last_ping_at: datetime | None
    url: str = Field(
        description="Where the sender posts (put the key in the bearer token; GitHub, which "
        "cannot, posts to url_with_key)."
    )


class IntegrationCreated(IntegrationOut):
    key: str = Field(description="The secret key. Shown only in this answer.")
    url_with_key: str = Field(description="For senders that cannot set headers.")
