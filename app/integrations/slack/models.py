from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, TimestampMixin


class SlackUserLink(Base):
    """Which Baton user a Slack user is: found by e-mail once, then remembered."""

    __tablename__ = "slack_user_links"
    __table_args__ = (UniqueConstraint("slack_team_id", "slack_user_id"),)

    id: Mapped[IntPK]
    slack_team_id: Mapped[str] = mapped_column(String(32))
    slack_user_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # "email" (matched by the Slack profile's e-mail) or "admin" (set through the API).
    method: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime]


class SlackAnnouncement(TimestampMixin, Base):
    """One schedule's Slack announcements: the settings, and what was last announced.

    The settings (channel, on change, daily time, user group, topic) are set through the API.
    The rest is the engine's memory, so every replica agrees on what was already said: the
    responders last announced, the day of the last daily post, the user group members and the
    topic last set. A run claims the row (``claimed_until``) before its network calls, so two
    replicas never announce the same hand-off twice.
    """

    __tablename__ = "slack_announcements"

    id: Mapped[IntPK]
    schedule_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("schedules.id", ondelete="CASCADE"), unique=True
    )
    channel_id: Mapped[str | None] = mapped_column(String(32))
    on_change: Mapped[bool] = mapped_column(default=True)
    # Wall-clock time in the schedule's zone ("09:00"), or None for no daily post.
    daily_at: Mapped[str | None] = mapped_column(String(5))
    usergroup_id: Mapped[str | None] = mapped_column(String(32))
    set_topic: Mapped[bool] = mapped_column(default=False)

    # None until the engine first looked: the first look announces nothing, it only remembers.
    announced_responders: Mapped[list[int] | None] = mapped_column(JSONType)
    announced_at: Mapped[datetime | None]
    daily_posted_on: Mapped[date | None]
    usergroup_members: Mapped[list[str] | None] = mapped_column(JSONType)
    topic: Mapped[str | None] = mapped_column(String(250))
    claimed_until: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str] = mapped_column(String(500), default="")
