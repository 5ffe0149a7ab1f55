"""Tables behind the channels: SMS reply codes, inbound receipts, status subscriptions,
webhook signing keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
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


class WebhookSigningKey(Base):
    """A random secret that signs the deliveries of one webhook: a person's contact method, or
    one URL named by one escalation policy.

    Keys belong to their owner, never to the URL, so adding someone else's URL as your own
    contact method gets you a key of your own, not theirs. The secret is stored encrypted
    (``app/core/crypto.py``); ``key_id`` is public and travels with each delivery. A rotated-out
    key keeps signing until ``retires_at`` so receivers can switch without losing a page.
    """

    __tablename__ = "webhook_signing_keys"
    __table_args__ = (
        CheckConstraint(
            "(contact_method_id IS NOT NULL AND escalation_policy_id IS NULL AND address IS NULL)"
            " OR (contact_method_id IS NULL AND escalation_policy_id IS NOT NULL"
            " AND address IS NOT NULL)",
            name="one_owner",
        ),
        # At most one current key per owner, whichever replica creates it first.
        Index(
            "uq_webhook_keys_current_method",
            "contact_method_id",
            unique=True,
            postgresql_where=text("retires_at IS NULL AND contact_method_id IS NOT NULL"),
            sqlite_where=text("retires_at IS NULL AND contact_method_id IS NOT NULL"),
        ),
        Index(
            "uq_webhook_keys_current_target",
            "escalation_policy_id",
            "address",
            unique=True,
            postgresql_where=text("retires_at IS NULL AND escalation_policy_id IS NOT NULL"),
            sqlite_where=text("retires_at IS NULL AND escalation_policy_id IS NOT NULL"),
        ),
        Index("ix_webhook_keys_method", "contact_method_id"),
        Index("ix_webhook_keys_target", "escalation_policy_id", "address"),
    )

    id: Mapped[IntPK]
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    contact_method_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("contact_methods.id", ondelete="CASCADE")
    )
    escalation_policy_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("escalation_policies.id", ondelete="CASCADE")
    )
    address: Mapped[str | None] = mapped_column(String(2048))
    secret_encrypted: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[datetime]
    # None while the key is current; set when a rotation retires it.
    retires_at: Mapped[datetime | None]
