from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, str_enum


class Direction(StrEnum):
    HANDOVER = "handover"  # Dev to Ops
    HANDBACK = "handback"  # Ops to Dev


class RequestState(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    # A handback proposal nobody answered within the grace period, on a service that allows it.
    ACCEPTED_ON_SILENCE = "accepted_on_silence"
    # A handback proposal that no longer applies (the service went back to Dev another way).
    CLOSED = "closed"


class Trigger(StrEnum):
    NIGHTLY = "nightly"
    ON_DEMAND = "on_demand"
    HANDOVER = "handover"


class ReadinessSettings(Base):
    """The organisation's launch requirements and handback criteria (one row, id 1).

    ``items``: the checklist as JSON (None: Baton's default, ``checklist.DEFAULT_ITEMS``);
    ``thresholds``: the handback criteria that differ from ``checklist.HandbackThresholds``.
    """

    __tablename__ = "readiness_settings"

    id: Mapped[int] = mapped_column(BigIntegerType, primary_key=True)
    items: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime]


class TeamReadinessItems(Base):
    """A team's additions to the organisation's checklist (an item with the key of one of the
    organisation's replaces it for the team's services)."""

    __tablename__ = "team_readiness_items"

    team_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime]


class SignOff(Base):
    """A named person's sign-off of one checklist item for one service."""

    __tablename__ = "readiness_sign_offs"
    __table_args__ = (UniqueConstraint("service_id", "item_key"),)

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    item_key: Mapped[str] = mapped_column(String(64))
    signed_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    # Kept with the sign-off: it must still say who signed after the account is gone.
    signed_by_name: Mapped[str] = mapped_column(String(200))
    signed_on: Mapped[date] = mapped_column(Date)
    comment: Mapped[str] = mapped_column(String(2000), default="")
    created_at: Mapped[datetime]


class Evaluation(Base):
    """One evaluation of a service's checklist, with each item's outcome and evidence."""

    __tablename__ = "readiness_evaluations"
    __table_args__ = (
        # The nightly claim: one nightly evaluation per service and day, across replicas.
        UniqueConstraint("service_id", "nightly_day"),
        Index("ix_readiness_evaluations_service_at", "service_id", "evaluated_at"),
    )

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    evaluated_at: Mapped[datetime]
    trigger: Mapped[Trigger] = mapped_column(str_enum(Trigger, 16))
    nightly_day: Mapped[date | None] = mapped_column(Date)
    support_model: Mapped[str] = mapped_column(String(8))
    score: Mapped[int]
    band: Mapped[str] = mapped_column(String(16))
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)


class HandoverRequest(Base):
    """A team's request that an Ops team take a service on."""

    __tablename__ = "handover_requests"
    __table_args__ = (Index("ix_handover_requests_service_state", "service_id", "state"),)

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    ops_team_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="CASCADE")
    )
    requested_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    requested_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(String(2000), default="")
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState, 24))
    decided_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(2000), default="")
    overridden: Mapped[bool] = mapped_column(default=False)


class HandbackProposal(Base):
    """The nightly review found an Ops-supported service breaching the handback criteria."""

    __tablename__ = "handback_proposals"
    __table_args__ = (Index("ix_handback_proposals_service_state", "service_id", "state"),)

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]
    window_since: Mapped[datetime]
    window_until: Mapped[datetime]
    breaches: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    state: Mapped[RequestState] = mapped_column(str_enum(RequestState, 24))
    # When an unanswered proposal moves the service back (None: the service waits for Ops).
    due_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(2000), default="")


class Transition(Base):
    """A service changing hands: who decided, on what evidence, and the policies involved."""

    __tablename__ = "service_transitions"
    __table_args__ = (Index("ix_service_transitions_service_at", "service_id", "decided_at"),)

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    direction: Mapped[Direction] = mapped_column(str_enum(Direction, 16))
    from_support: Mapped[str] = mapped_column(String(8))
    to_support: Mapped[str] = mapped_column(String(8))
    from_policy_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    to_policy_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    ops_team_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="SET NULL")
    )
    # None: the engine decided (a proposal left unanswered past its grace period).
    decided_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by_name: Mapped[str] = mapped_column(String(200), default="")
    decided_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(2000), default="")
    overridden: Mapped[bool] = mapped_column(default=False)
    score: Mapped[int | None]
    # The checklist results (a hand-over) or the breaches (a handback) it was decided on.
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    handover_request_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("handover_requests.id", ondelete="SET NULL")
    )
    handback_proposal_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("handback_proposals.id", ondelete="SET NULL")
    )
