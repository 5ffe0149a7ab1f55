from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.db import Base, BigIntegerType, IntPK, JSONType, str_enum
from app.incidents.models import Page
from app.notify.base import MessageKind
from app.people.models import ContactType


class NotificationStatus(StrEnum):
    PENDING = "pending"  # waiting for due_at (first attempt or a retry)
    SENDING = "sending"  # claimed by a dispatcher; outcome unknown until recorded
    SENT = "sent"  # the provider accepted it
    DELIVERED = "delivered"  # the provider confirmed delivery
    FAILED = "failed"
    CANCELLED = "cancelled"  # no longer needed (acknowledged or resolved first)
    BUNDLED = "bundled"  # folded into a summary message (see bundle_id)

    @property
    def is_final(self) -> bool:
        return self not in (NotificationStatus.PENDING, NotificationStatus.SENDING)


class SendPriority(IntEnum):
    """Which due notifications go first when more are due than can be sent (lower first):
    a high-urgency page to someone not yet paged for the incident, then repeats (a later rule,
    a later pass of the ladder), then bundled summaries, then low urgency, then the rest.
    Within a class the dispatcher takes the least recently paged person first."""

    FIRST_PAGE = 0
    REPEAT = 1
    SUMMARY = 2
    LOW_URGENCY = 3
    OTHER = 4


class Notification(Base):
    """The outbox: one message to one address, written before it is sent."""

    __tablename__ = "notifications"
    __table_args__ = (
        # Each notification rule fires exactly once per page, whatever happens to the engine.
        UniqueConstraint("page_id", "rule_id"),
        Index("ix_notifications_due", "status", "due_at"),
        Index("ix_notifications_contact_sent", "contact_method_id", "sent_at"),
        Index("ix_notifications_incident", "incident_id", "status"),
        Index("ix_notifications_provider_message", "provider_message_id"),
        # The dispatcher's "least recently paged first" asks when each person was last paged.
        Index("ix_notifications_user_sent", "user_id", "sent_at"),
    )

    id: Mapped[IntPK]
    incident_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE")
    )
    page_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("pages.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    contact_method_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("contact_methods.id", ondelete="SET NULL")
    )
    rule_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("notification_rules.id", ondelete="SET NULL")
    )
    kind: Mapped[MessageKind] = mapped_column(str_enum(MessageKind, 16))
    contact_type: Mapped[ContactType] = mapped_column(str_enum(ContactType, 16))
    address: Mapped[str] = mapped_column(String(2048))
    subject: Mapped[str] = mapped_column(String(1024))
    body: Mapped[str] = mapped_column(String(4000))
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    status: Mapped[NotificationStatus] = mapped_column(str_enum(NotificationStatus, 16))
    due_at: Mapped[datetime]
    priority: Mapped[int] = mapped_column(SmallInteger, default=SendPriority.OTHER)
    attempts: Mapped[int] = mapped_column(default=0)
    sending_deadline: Mapped[datetime | None]
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(String(1000))
    bundle_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("notifications.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    # Lets a page and its notifications be written in one flush.
    page: Mapped[Page | None] = relationship(lazy="raise")
