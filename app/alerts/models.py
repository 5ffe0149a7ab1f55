from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, str_enum


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


# The partial unique index below only serves queries whose text says status = 'firing': a bound
# parameter would hide the predicate from PostgreSQL's generic plans and scan every open alert.
FIRING_LITERAL = literal_column("'firing'", String)


class Alert(Base):
    """One signal from a source, identified by its dedup key while it is firing."""

    __tablename__ = "alerts"
    __table_args__ = (
        # At most one firing alert per dedup key and service: a repeat updates it, and a
        # trigger after resolution starts a new alert.
        Index(
            "uq_alerts_firing_dedup",
            # The dedup key leads: lookups name several keys at once (= ANY), and a leading
            # column keeps that an index condition even when statistics lag behind a storm.
            "dedup_key",
            "service_id",
            unique=True,
            postgresql_where=text("status = 'firing'"),
            sqlite_where=text("status = 'firing'"),
        ),
        Index("ix_alerts_incident_status", "incident_id", "status"),
    )

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    integration_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("integrations.id", ondelete="SET NULL")
    )
    incident_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE")
    )
    dedup_key: Mapped[str] = mapped_column(String(255))
    status: Mapped[AlertStatus] = mapped_column(str_enum(AlertStatus, 16))
    summary: Mapped[str] = mapped_column(String(1024))
    severity: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(512), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    starts_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    # How many times the source sent this alert again while it was firing.
    seen_count: Mapped[int] = mapped_column(default=1)
