from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, TimestampMixin, str_enum


class IntegrationKind(StrEnum):
    ALERTMANAGER = "alertmanager"
    GRAFANA = "grafana"
    PAGERDUTY = "pagerduty"
    GENERIC = "generic"
    HEARTBEAT = "heartbeat"
    GITHUB = "github"  # deployment_status webhooks: deploys, never alerts


class HeartbeatState(StrEnum):
    WAITING = "waiting"  # no ping yet
    OK = "ok"
    OVERDUE = "overdue"


class Integration(TimestampMixin, Base):
    """An inbound endpoint bound to a service by a secret key (only its hash is stored)."""

    __tablename__ = "integrations"
    __table_args__ = (
        Index("ix_integrations_heartbeat_due", "kind", "heartbeat_state", "heartbeat_due_at"),
    )

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[IntegrationKind] = mapped_column(str_enum(IntegrationKind, 16))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    # Grafana's optional HMAC signing secret. It must be readable to verify signatures; it
    # never leaves the database through the API.
    signing_secret: Mapped[str | None] = mapped_column(String(200))
    signing_timestamp_header: Mapped[str | None] = mapped_column(String(100))
    # GitHub's webhook secret, encrypted (``core.crypto``: Baton must use it to check signatures).
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(String(500))

    heartbeat_interval_seconds: Mapped[int | None]
    heartbeat_grace_seconds: Mapped[int | None]
    heartbeat_state: Mapped[HeartbeatState | None] = mapped_column(str_enum(HeartbeatState, 16))
    last_ping_at: Mapped[datetime | None]
    # When the monitor turns overdue if no ping arrives; the heartbeat job scans this index.
    heartbeat_due_at: Mapped[datetime | None]
