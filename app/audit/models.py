from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, str_enum


class ActorKind(StrEnum):
    USER = "user"  # a person: API token, Slack, SMS or voice
    APPLY = "apply"  # `baton apply`, run by someone named in the label
    CLI = "cli"  # another `baton` command run on the host
    SYSTEM = "system"  # Baton itself at start-up (the bootstrap admin)


class AuditRecord(Base):
    """One change of configuration: who, when, what, and the changed fields before and after.

    Actor ids are plain numbers, not foreign keys: the record outlives the user and the token.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_log_actor_user_id", "actor_user_id", "id"),
    )

    id: Mapped[IntPK]
    at: Mapped[datetime]
    actor_kind: Mapped[ActorKind] = mapped_column(str_enum(ActorKind, 16))
    actor_user_id: Mapped[int | None] = mapped_column(BigIntegerType)
    actor_token_id: Mapped[int | None] = mapped_column(BigIntegerType)
    # "declarative apply by alice", "cli by root", "bootstrap"; empty for a person.
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    # How the change arrived: api, slack, sms, voice, cli, system.
    channel: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(100))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(BigIntegerType)
    action: Mapped[str] = mapped_column(String(16))
    # Created: only ``after``; deleted: only ``before``; otherwise the changed fields in both.
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
