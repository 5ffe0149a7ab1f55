from __future__ import annotations

from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, BigIntegerType, IntPK, TimestampMixin, str_enum


class TargetKind(StrEnum):
    USER = "user"
    SCHEDULE = "schedule"
    SLACK_CHANNEL = "slack_channel"
    WEBHOOK = "webhook"


class EscalationPolicy(TimestampMixin, Base):
    __tablename__ = "escalation_policies"
    __table_args__ = (CheckConstraint("repeat >= 0 AND repeat <= 9", name="repeat_range"),)

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    team_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    description: Mapped[str] = mapped_column(String(2000), default="")
    # How many more times the whole ladder runs after the first pass.
    repeat: Mapped[int] = mapped_column(default=0)
    config_managed: Mapped[bool] = mapped_column(default=False)

    steps: Mapped[list[EscalationStep]] = relationship(
        back_populates="policy",
        cascade="all, delete-orphan",
        order_by="EscalationStep.position",
        lazy="raise",
    )


class EscalationStep(Base):
    __tablename__ = "escalation_steps"
    __table_args__ = (
        UniqueConstraint("policy_id", "position"),
        CheckConstraint("delay_minutes >= 1 AND delay_minutes <= 1440", name="delay_range"),
    )

    id: Mapped[IntPK]
    policy_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("escalation_policies.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int]
    # Minutes to wait for an acknowledgement before the next step.
    delay_minutes: Mapped[int]

    policy: Mapped[EscalationPolicy] = relationship(back_populates="steps", lazy="raise")
    targets: Mapped[list[EscalationTarget]] = relationship(
        back_populates="step",
        cascade="all, delete-orphan",
        order_by="EscalationTarget.id",
        lazy="raise",
    )


class EscalationTarget(Base):
    __tablename__ = "escalation_targets"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'user' AND user_id IS NOT NULL) OR "
            "(kind = 'schedule' AND schedule_id IS NOT NULL) OR "
            "(kind IN ('slack_channel', 'webhook') AND address IS NOT NULL)",
            name="target_reference",
        ),
    )

    id: Mapped[IntPK]
    step_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("escalation_steps.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[TargetKind] = mapped_column(str_enum(TargetKind, 16))
    # A person or schedule that is a target cannot be deleted while the policy names them.
    user_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    schedule_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="RESTRICT"), index=True
    )
    address: Mapped[str | None] = mapped_column(String(2048))

    step: Mapped[EscalationStep] = relationship(back_populates="targets", lazy="raise")
