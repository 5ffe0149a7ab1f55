"""Schedules: layers with their version history, overrides, cover requests, feeds, reminders.

A layer's rotation (who, in which order, how long, when, restricted to which windows) lives in
``LayerVersion`` rows. Editing a layer never changes a version that was already in force: the
current version is closed at "now" and a new one opens from "now", so the answer to "who was on
call yesterday" never changes. ``Schedule.revision`` is bumped by every change that can change an
answer; the on-call engine caches compiled schedules keyed by it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, BigIntegerType, IntPK, JSONType, TimestampMixin, str_enum
from app.schedules.oncall import HandoffRule, ShiftUnit


class CoverRequestState(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class FeedKind(StrEnum):
    SCHEDULE = "schedule"
    USER = "user"


class ReminderKind(StrEnum):
    START = "start"
    END = "end"


class Schedule(TimestampMixin, Base):
    __tablename__ = "schedules"
    # Never reuse an id: the compiled-schedule cache is keyed by (id, revision), and SQLite
    # without AUTOINCREMENT hands a deleted row's id to the next insert.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    time_zone: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(2000), default="")
    revision: Mapped[int] = mapped_column(default=1)
    config_managed: Mapped[bool] = mapped_column(default=False)

    # passive_deletes: the database cascades; the ORM must not lazy-load children to delete.
    layers: Mapped[list[ScheduleLayer]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", lazy="raise", passive_deletes=True
    )


class ScheduleLayer(TimestampMixin, Base):
    """A layer's stable identity; its rotation over time is in ``versions``."""

    __tablename__ = "schedule_layers"

    id: Mapped[IntPK]
    schedule_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # A deleted layer keeps its history: it simply has no version in force after this instant.
    deleted_at: Mapped[datetime | None]
    config_managed: Mapped[bool] = mapped_column(default=False)

    schedule: Mapped[Schedule] = relationship(back_populates="layers", lazy="raise")
    versions: Mapped[list[LayerVersion]] = relationship(
        back_populates="layer",
        cascade="all, delete-orphan",
        lazy="raise",
        passive_deletes=True,
        order_by="LayerVersion.id",
    )


class LayerVersion(Base):
    """One layer's rotation over ``[valid_from, valid_until)``; never edited once in force."""

    __tablename__ = "schedule_layer_versions"
    __table_args__ = (
        CheckConstraint("shift_length > 0", name="shift_length_positive"),
        CheckConstraint(
            "valid_until IS NULL OR valid_from IS NULL OR valid_until >= valid_from",
            name="valid_range",
        ),
    )

    id: Mapped[IntPK]
    layer_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedule_layers.id", ondelete="CASCADE"), index=True
    )
    # NULL valid_from: since the layer began; NULL valid_until: the version in force now.
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    priority: Mapped[int]
    shift_length: Mapped[int]
    shift_unit: Mapped[ShiftUnit] = mapped_column(str_enum(ShiftUnit, 8))
    # wall_clock: hand-offs at the same local times (a shift across a DST change is an hour
    # shorter or longer); elapsed: every shift lasts its length of absolute time.
    handoff_rule: Mapped[HandoffRule] = mapped_column(str_enum(HandoffRule, 16))
    # The IANA zone of the layer's hand-offs and restriction windows; NULL: the schedule's.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # The first hand-off of the rotation: shift k starts k shift lengths after it.
    anchor: Mapped[datetime]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    # [{"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}, ...]
    restrictions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime]
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )

    layer: Mapped[ScheduleLayer] = relationship(back_populates="versions", lazy="raise")
    members: Mapped[list[LayerMember]] = relationship(
        back_populates="version",
        cascade="all, delete-orphan",
        lazy="raise",
        passive_deletes=True,
        order_by="[LayerMember.shadow, LayerMember.position]",
    )

    @property
    def participant_ids(self) -> list[int]:
        return [m.user_id for m in self.members if not m.shadow]

    @property
    def shadow_ids(self) -> list[int]:
        return [m.user_id for m in self.members if m.shadow]


class LayerMember(Base):
    """A participant (or shadow) at one position of a layer version; a user may repeat."""

    __tablename__ = "schedule_layer_members"
    __table_args__ = (UniqueConstraint("version_id", "shadow", "position"),)

    id: Mapped[IntPK]
    version_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedule_layer_versions.id", ondelete="CASCADE"), index=True
    )
    # RESTRICT: deleting someone who is (or was) in a rotation must not silently reshape it.
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int]
    shadow: Mapped[bool] = mapped_column(default=False)

    version: Mapped[LayerVersion] = relationship(back_populates="members", lazy="raise")


class ScheduleOverride(TimestampMixin, Base):
    __tablename__ = "schedule_overrides"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_schedule_overrides_schedule_id_ends_at", "schedule_id", "ends_at"),
    )

    id: Mapped[IntPK]
    schedule_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="CASCADE")
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    # NULL: the override user covers the whole schedule; otherwise only this person.
    replaces_user_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="RESTRICT")
    )
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(500), default="")
    config_managed: Mapped[bool] = mapped_column(default=False)


class CoverRequest(TimestampMixin, Base):
    __tablename__ = "schedule_cover_requests"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[IntPK]
    schedule_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    requester_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    message: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[CoverRequestState] = mapped_column(
        str_enum(CoverRequestState, 16), default=CoverRequestState.OPEN
    )
    accepted_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    accepted_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    override_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("schedule_overrides.id", ondelete="SET NULL")
    )


class ShiftReminder(Base):
    """A claim that one reminder was sent; the unique key makes each reminder go out once.

    ``boundary_at`` is the shift's start for a ``start`` reminder and its end for an ``end``
    reminder: the instant the reminder is about, which every replica computes the same way.
    """

    __tablename__ = "schedule_shift_reminders"
    __table_args__ = (UniqueConstraint("schedule_id", "user_id", "boundary_at", "kind"),)

    id: Mapped[IntPK]
    schedule_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    boundary_at: Mapped[datetime]
    kind: Mapped[ReminderKind] = mapped_column(str_enum(ReminderKind, 8))
    shadow: Mapped[bool] = mapped_column(default=False)
    sent_at: Mapped[datetime]


class CalendarFeed(Base):
    """A secret iCalendar URL: one schedule's shifts, or one user's shifts on every schedule."""

    __tablename__ = "calendar_feeds"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'schedule' AND schedule_id IS NOT NULL AND user_id IS NULL)"
            " OR (kind = 'user' AND user_id IS NOT NULL AND schedule_id IS NULL)",
            name="one_subject",
        ),
    )

    id: Mapped[IntPK]
    kind: Mapped[FeedKind] = mapped_column(str_enum(FeedKind, 16))
    schedule_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OnCallPreferences(TimestampMixin, Base):
    """Per-user on-call settings; a user without a row has the defaults."""

    __tablename__ = "oncall_preferences"
    __table_args__ = (
        CheckConstraint(
            "reminder_lead_minutes >= 0 AND reminder_lead_minutes <= 1440", name="lead_range"
        ),
    )

    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    reminder_lead_minutes: Mapped[int] = mapped_column(default=60)
    reminders_enabled: Mapped[bool] = mapped_column(default=True)
