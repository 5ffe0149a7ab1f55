from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.auth import Role, TeamRole
from app.core.db import Base, BigIntegerType, IntPK, TimestampMixin, str_enum


class TeamKind(StrEnum):
    DEV = "dev"
    OPS = "ops"


class ContactType(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    SLACK = "slack"
    WEBHOOK = "webhook"

    @property
    def needs_verification(self) -> bool:
        # A wrong phone number pages a stranger at 3 a.m.; prove the number first.
        return self in (ContactType.SMS, ContactType.VOICE)


class Urgency(StrEnum):
    HIGH = "high"
    LOW = "low"


class User(TimestampMixin, Base):
    __tablename__ = "users"

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64))
    role: Mapped[Role] = mapped_column(str_enum(Role, 16), default=Role.MEMBER)
    config_managed: Mapped[bool] = mapped_column(default=False)

    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="raise"
    )
    contact_methods: Mapped[list[ContactMethod]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="raise"
    )
    notification_rules: Mapped[list[NotificationRule]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="raise"
    )


class Team(TimestampMixin, Base):
    __tablename__ = "teams"
    __table_args__ = (
        CheckConstraint("digest_weekday >= 0 AND digest_weekday <= 6", name="digest_weekday_range"),
    )

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[TeamKind] = mapped_column(str_enum(TeamKind, 8))
    description: Mapped[str] = mapped_column(String(2000), default="")
    config_managed: Mapped[bool] = mapped_column(default=False)
    # The weekly digest (app/review): sent on this weekday (0 = Monday) at this wall time
    # ("HH:MM") in the team's zone, to its Slack channel and e-mail address where set.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    digest_weekday: Mapped[int] = mapped_column(default=0)
    digest_time: Mapped[str] = mapped_column(String(5), default="09:00")
    digest_slack_channel: Mapped[str] = mapped_column(String(80), default="")
    digest_email: Mapped[str] = mapped_column(String(320), default="")
    digest_enabled: Mapped[bool] = mapped_column(default=True)
    # Where hand-over and handback requests and decisions are posted (empty: the digest's).
    slack_channel: Mapped[str] = mapped_column(String(80), default="")

    memberships: Mapped[list[TeamMembership]] = relationship(
        back_populates="team", cascade="all, delete-orphan", lazy="raise"
    )


class TeamMembership(TimestampMixin, Base):
    __tablename__ = "team_memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[IntPK]
    team_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[TeamRole] = mapped_column(str_enum(TeamRole, 16), default=TeamRole.MEMBER)
    config_managed: Mapped[bool] = mapped_column(default=False)

    team: Mapped[Team] = relationship(back_populates="memberships", lazy="raise")
    user: Mapped[User] = relationship(back_populates="memberships", lazy="raise")


class ContactMethod(TimestampMixin, Base):
    __tablename__ = "contact_methods"
    __table_args__ = (UniqueConstraint("user_id", "type", "address"),)

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[ContactType] = mapped_column(str_enum(ContactType, 16))
    address: Mapped[str] = mapped_column(String(2048))
    label: Mapped[str] = mapped_column(String(100), default="")
    verified_at: Mapped[datetime | None]
    # Set when the person texts STOP or the provider says the address is permanently bad.
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str] = mapped_column(String(200), default="")
    verification_code_hash: Mapped[str | None] = mapped_column(String(64))
    verification_sent_at: Mapped[datetime | None]
    verification_expires_at: Mapped[datetime | None]
    verification_attempts: Mapped[int] = mapped_column(default=0)
    config_managed: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(back_populates="contact_methods", lazy="raise")

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def is_pageable(self) -> bool:
        return self.verified_at is not None and self.disabled_at is None


class NotificationRule(TimestampMixin, Base):
    __tablename__ = "notification_rules"
    __table_args__ = (
        UniqueConstraint("contact_method_id", "delay_minutes", "urgency"),
        CheckConstraint("delay_minutes >= 0 AND delay_minutes <= 1440", name="delay_range"),
    )

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    contact_method_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("contact_methods.id", ondelete="CASCADE"), index=True
    )
    delay_minutes: Mapped[int]
    urgency: Mapped[Urgency] = mapped_column(str_enum(Urgency, 8), default=Urgency.HIGH)
    config_managed: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(back_populates="notification_rules", lazy="raise")
    contact_method: Mapped[ContactMethod] = relationship(lazy="raise")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[IntPK]
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="raise")
