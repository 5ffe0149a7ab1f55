"""Tables behind the two-way channels: SMS reply codes, inbound receipts, status subscriptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType


class SmsReplyCode(Base):
    """A short number a phone texts back (``4a``) to act on the incidents it stands for.

    Codes are per phone number and stay taken while any of their incidents is open; once they
    are all resolved the code is free and the next page to that number may reuse it.
    """

    __tablename__ = "sms_reply_codes"
    __table_args__ = (UniqueConstraint("phone", "code"),)

    id: Mapped[IntPK]
    phone: Mapped[str] = mapped_column(String(32))
    code: Mapped[int]
    # One incident for a page; every incident of a bundled summary ("ack all").
    incident_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    bundle: Mapped[bool] = mapped_column(default=False)
    # When a page last used this code: "a" alone answers the newest page.
    assigned_at: Mapped[datetime]


class InboundReceipt(Base):
    """A provider request Baton already acted on: a replay of it is refused, not acted on twice.

    Twilio signatures carry no timestamp, so a captured request stays valid forever; the
    receipt (its MessageSid, or CallSid and keys) is what stops it from acting again.
    """

    __tablename__ = "inbound_receipts"
    __table_args__ = (UniqueConstraint("source", "key"),)

    id: Mapped[IntPK]
    source: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime]


class StatusUpdateSubscription(Base):
    """A person's webhook contact method that also wants every change of incidents it paged.

    Off by default, like the pager it stands for: a page is news, an acknowledgement by a
    colleague usually is not. Webhook escalation targets always get every change.
    """

    __tablename__ = "status_update_subscriptions"

    contact_method_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("contact_methods.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime]
