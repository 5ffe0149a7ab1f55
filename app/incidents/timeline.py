"""The append-only incident timeline. Nothing here updates or deletes an event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.models import IncidentEvent


class Channel(StrEnum):
    """How an action reached Baton."""

    API = "api"
    WEB = "web"
    CLI = "cli"
    SLACK = "slack"
    SMS = "sms"
    VOICE = "voice"
    EMAIL = "email"
    INTEGRATION = "integration"
    SYSTEM = "system"


def record(
    session: AsyncSession,
    incident_id: int,
    kind: str,
    message: str,
    *,
    at: datetime,
    actor_id: int | None = None,
    channel: str = Channel.SYSTEM,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    event = IncidentEvent(
        incident_id=incident_id,
        at=at,
        kind=kind,
        actor_user_id=actor_id,
        channel=str(channel),
        message=message[:2000],
        data=data or {},
    )
    session.add(event)
    return event


async def events_for(
    session: AsyncSession, incident_id: int, *, after_id: int | None = None, limit: int = 1000
) -> Sequence[IncidentEvent]:
    stmt = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
    if after_id is not None:
        stmt = stmt.where(IncidentEvent.id > after_id)
    return (await session.scalars(stmt.order_by(IncidentEvent.id).limit(limit))).all()
