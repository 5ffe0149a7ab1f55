"""Incident reviews, their action items, and the weekly digests' once-per-week markers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, TimestampMixin, str_enum

# Each of a review's texts; long enough for a thorough write-up, short enough for any page.
TEXT_LIMIT = 20_000


class ReviewState(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"  # read-only, except for its action items


class Severity(StrEnum):
    NONE = ""  # not judged yet
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"


class ActionStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Review(TimestampMixin, Base):
    """The post-incident review of one incident: what the responders wrote about it. The
    timeline itself is not copied here: it is folded from the incident's events when read."""

    __tablename__ = "reviews"

    id: Mapped[IntPK]
    incident_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    state: Mapped[ReviewState] = mapped_column(str_enum(ReviewState, 16), default=ReviewState.DRAFT)
    severity: Mapped[Severity] = mapped_column(str_enum(Severity, 8), default=Severity.NONE)
    # Markdown, kept as the user wrote it; only the HTML export renders (and sanitizes) it.
    summary: Mapped[str] = mapped_column(Text, default="")
    customer_impact: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    contributing_factors: Mapped[str] = mapped_column(Text, default="")
    went_well: Mapped[str] = mapped_column(Text, default="")
    went_badly: Mapped[str] = mapped_column(Text, default="")
    lessons: Mapped[str] = mapped_column(Text, default="")
    # Who writes it (and is nudged while it is owed).
    owner_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    published_at: Mapped[datetime | None]
    published_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
    # The owner was nudged that the review is owed (once).
    nudged_at: Mapped[datetime | None]


class ActionItem(TimestampMixin, Base):
    __tablename__ = "action_items"
    __table_args__ = (
        # The reminder job looks for open items by due date.
        Index("ix_action_items_status_due", "status", "due_date"),
    )

    id: Mapped[IntPK]
    review_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("reviews.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # A day, not an instant: due "on the 14th" in the owner's own zone.
    due_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[ActionStatus] = mapped_column(
        str_enum(ActionStatus, 16), default=ActionStatus.OPEN
    )
    tracker_url: Mapped[str] = mapped_column(String(2048), default="")
    completed_at: Mapped[datetime | None]
    # Each reminder goes out once: claimed by setting its stamp (see app/review/reminders.py).
    due_reminded_at: Mapped[datetime | None]
    overdue_reminded_at: Mapped[datetime | None]


class TeamDigest(Base):
    """A team's weekly digest was sent for this week: the unique key makes it once per week
    across replicas (the digest job inserts before it sends)."""

    __tablename__ = "team_digests"
    __table_args__ = (UniqueConstraint("team_id", "week_start"),)

    id: Mapped[IntPK]
    team_id: Mapped[int] = mapped_column(BigIntegerType, ForeignKey("teams.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime]
