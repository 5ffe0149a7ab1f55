from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, str_enum
from app.incidents.lifecycle import IncidentState
from app.people.models import Urgency

__all__ = ["Incident", "IncidentAssignee", "IncidentEvent", "IncidentState", "Page"]


# Queries that must use the partial index of open incidents spell the predicate out literally
# (see the note on alerts.FIRING_LITERAL).
RESOLVED_LITERAL = literal_column("'resolved'", String)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per alert group (Alertmanager's groupKey) and service.
        Index(
            "uq_incidents_open_group",
            "service_id",
            "group_key",
            unique=True,
            postgresql_where=text("state <> 'resolved' AND group_key IS NOT NULL"),
            sqlite_where=text("state <> 'resolved' AND group_key IS NOT NULL"),
        ),
        Index("ix_incidents_escalation_due", "state", "next_escalation_at"),
        Index("ix_incidents_ack_due", "state", "ack_expires_at"),
        Index("ix_incidents_service_created", "service_id", "created_at"),
    )

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(1024))
    state: Mapped[IncidentState] = mapped_column(
        str_enum(IncidentState, 16), default=IncidentState.TRIGGERED
    )
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8), default=Urgency.HIGH)
    group_key: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    resolved_at: Mapped[datetime | None]
    resolved_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )

    # The escalation policy as it was when the incident opened: editing the policy later never
    # changes a page that is already escalating.
    policy_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    escalation_step: Mapped[int] = mapped_column(default=0)
    escalation_loop: Mapped[int] = mapped_column(default=0)
    next_escalation_at: Mapped[datetime | None]
    # Opened during maintenance: recorded, nobody paged until the window closes.
    held_for_maintenance: Mapped[bool] = mapped_column(default=False)
    # The deploy the incident opened after (``decide.NearbyDeploy`` as JSON), so every page,
    # escalations included, names it; None: no deploy was in its watch.
    nearby_deploy: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # For the record and the metrics: the first acknowledgement (``acknowledged_at`` is the
    # current one, cleared by an un-acknowledge), and whether escalation went past step 1.
    first_acknowledged_at: Mapped[datetime | None]
    escalated_past_first_step: Mapped[bool] = mapped_column(default=False)
    escalation_exhausted_at: Mapped[datetime | None]
    ack_timeout_minutes: Mapped[int | None]
    ack_expires_at: Mapped[datetime | None]

    alert_count: Mapped[int] = mapped_column(default=0)
    # Alerts the source dropped from its message (Alertmanager's truncatedAlerts).
    truncated_alerts: Mapped[int] = mapped_column(default=0)
    last_alert_at: Mapped[datetime | None]


class IncidentAssignee(Base):
    """Who is responsible right now (and who shadows them)."""

    __tablename__ = "incident_assignees"
    __table_args__ = (UniqueConstraint("incident_id", "user_id"),)

    id: Mapped[IntPK]
    incident_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    shadow: Mapped[bool] = mapped_column(default=False)
    assigned_at: Mapped[datetime]


class Page(Base):
    """One person paged for one incident: their notification rules run from ``paged_at``."""

    __tablename__ = "pages"

    id: Mapped[IntPK]
    incident_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    shadow: Mapped[bool] = mapped_column(default=False)
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8))
    paged_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200))
    escalation_step: Mapped[int | None]
    escalation_loop: Mapped[int | None]


class IncidentEvent(Base):
    """The append-only timeline: every alert, page, notification and action, with who and how,
    as typed events (``kind`` and ``data``)."""

    __tablename__ = "incident_events"
    __table_args__ = (Index("ix_incident_events_incident_at", "incident_id", "id"),)

    id: Mapped[IntPK]
    incident_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE")
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    actor_user_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(16))
    # The words of rows written before events were typed (migration 0010); NULL since: words
    # are rendered from ``data`` when read (app/incidents/render.py).
    message: Mapped[str | None] = mapped_column(String(2000))
    # The typed event's payload (app/incidents/events.py), with its version under "v".
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
