from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, TimestampMixin, str_enum


class SupportModel(StrEnum):
    DEV = "dev"  # the developers carry the pager themselves
    OPS = "ops"  # an Ops team supports it after launch review


class UrgencyRule(StrEnum):
    HIGH = "high"
    LOW = "low"
    # critical/error alerts page at high urgency, warning/info at low.
    SEVERITY = "severity"


class DeployerNotice(StrEnum):
    """What the person who deployed hears when an incident opens in their deploy's watch."""

    OFF = "off"
    NOTIFY = "notify"  # an FYI on their own low-urgency rules; never escalates
    PAGE = "page"  # added to the incident as a responder and paged


DEFAULT_DEPLOY_WATCH_MINUTES = 30
# The review policy: a high-urgency incident open longer than this needs a review (as does
# every incident linked to a deploy), and its owner is nudged this many days after it resolved.
DEFAULT_REVIEW_AFTER_MINUTES = 30
DEFAULT_REVIEW_NUDGE_DAYS = 3


class Service(TimestampMixin, Base):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint(
            "ack_timeout_minutes IS NULL OR (ack_timeout_minutes >= 1 AND "
            "ack_timeout_minutes <= 10080)",
            name="ack_timeout_range",
        ),
        CheckConstraint(
            "deploy_watch_minutes >= 0 AND deploy_watch_minutes <= 1440",
            name="deploy_watch_range",
        ),
        CheckConstraint(
            "review_after_minutes >= 0 AND review_after_minutes <= 10080",
            name="review_after_range",
        ),
        CheckConstraint(
            "review_nudge_days >= 1 AND review_nudge_days <= 90", name="review_nudge_range"
        ),
    )

    id: Mapped[IntPK]
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(String(2000), default="")
    team_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="RESTRICT"), index=True
    )
    escalation_policy_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("escalation_policies.id", ondelete="RESTRICT"), index=True
    )
    support_model: Mapped[SupportModel] = mapped_column(
        str_enum(SupportModel, 8), default=SupportModel.DEV
    )
    runbook_url: Mapped[str] = mapped_column(String(2048), default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    urgency_rule: Mapped[UrgencyRule] = mapped_column(
        str_enum(UrgencyRule, 16), default=UrgencyRule.HIGH
    )
    # Re-trigger an acknowledged incident nobody resolved within this many minutes.
    ack_timeout_minutes: Mapped[int | None]
    # Told once, with the owner team's managers, when escalation runs out with nobody
    # acknowledging; empty: the global BATON_ESCALATION_FALLBACK_* settings.
    fallback_email: Mapped[str] = mapped_column(String(320), default="")
    fallback_slack_channel: Mapped[str] = mapped_column(String(80), default="")
    config_managed: Mapped[bool] = mapped_column(default=False)
    # The deploy watch: an incident opening while a deploy runs, or this many minutes after it
    # finished, names the deploy on its pages and tells its deployer.
    deploy_watch_minutes: Mapped[int] = mapped_column(default=DEFAULT_DEPLOY_WATCH_MINUTES)
    deployer_notice: Mapped[DeployerNotice] = mapped_column(
        str_enum(DeployerNotice, 8), default=DeployerNotice.NOTIFY
    )
    # The environments whose deploys are watched; empty: every environment.
    deploy_watch_environments: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The review policy (app/review): see DEFAULT_REVIEW_AFTER_MINUTES.
    review_after_minutes: Mapped[int] = mapped_column(default=DEFAULT_REVIEW_AFTER_MINUTES)
    review_nudge_days: Mapped[int] = mapped_column(default=DEFAULT_REVIEW_NUDGE_DAYS)
    # Support (app/readiness): the Ops team that supports it, or that would take it on (while
    # handed back: its consultants); when the current support model began (None: since it was
    # created); the developers' escalation policy, kept while Ops supports it for a handback.
    ops_team_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    support_since: Mapped[datetime | None]
    developer_policy_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("escalation_policies.id", ondelete="SET NULL")
    )
    # A handback proposal nobody answers within the grace period moves the service back.
    handback_on_silence: Mapped[bool] = mapped_column(default=False)


class MaintenanceWindow(Base):
    """While a window is open, new incidents are recorded but nobody is paged."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_maintenance_windows_service_span", "service_id", "starts_at", "ends_at"),
    )

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
