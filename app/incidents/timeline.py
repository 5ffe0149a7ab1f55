"""The append-only incident timeline. Nothing here updates or deletes an event.

Rows hold typed events (``app/incidents/events.py``): ``kind`` and the payload in ``data``.
Their words are rendered when read (``app/incidents/render.py``); ``message`` is only kept for
rows written before events were typed (migration 0010), shown when their payload cannot be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import insert_rows
from app.incidents import render
from app.incidents.events import (
    ActedEvent,
    Channel,
    Event,
    EventDecodeError,
    from_payload,
    to_payload,
)
from app.incidents.models import IncidentEvent

__all__ = ["Channel", "append", "appended_together", "events_for", "message_of", "typed"]

_TOGETHER = "timeline.together"


def append(
    session: AsyncSession,
    incident_id: int,
    event: Event,
    *,
    at: datetime,
    actor_id: int | None = None,
    channel: Channel | None = None,
) -> None:
    """Add ``event`` to the incident's timeline. Who acted and how default to the event's own
    ``by_user_id`` and ``channel`` when it has them, else to Baton itself."""
    if isinstance(event, ActedEvent):
        actor_id = event.by_user_id if actor_id is None else actor_id
        channel = channel or event.channel
    values = {
        "incident_id": incident_id,
        "at": at,
        "kind": event.kind.value,
        "actor_user_id": actor_id,
        "channel": str(channel or Channel.SYSTEM),
        "message": None,
        "data": to_payload(event),
    }
    together: list[dict[str, Any]] | None = session.info.get(_TOGETHER)
    if together is not None:
        together.append(values)
    else:
        session.add(IncidentEvent(**values))


@asynccontextmanager
async def appended_together(session: AsyncSession) -> AsyncIterator[None]:
    """Within the block, appended events go in at its end, in their order, with one plain
    insert: a storm's batch writes dozens of events and reads none of them back. (Nothing in
    the block may read the timeline it writes; a block inside another writes with the outer.)"""
    if _TOGETHER in session.info:
        yield
        return
    rows: list[dict[str, Any]] = []
    session.info[_TOGETHER] = rows
    try:
        yield
    finally:
        session.info.pop(_TOGETHER, None)
    if rows:
        # Events appended before the block, still pending in the session, keep their place.
        await session.flush()
        await insert_rows(session, IncidentEvent.__table__, rows)


def typed(row: IncidentEvent) -> Event | None:
    """The event a row holds; None for an old row the migration could not type."""
    try:
        return from_payload(row.kind, row.data)
    except EventDecodeError:
        return None


def message_of(row: IncidentEvent, event: Event | None) -> str:
    if event is not None:
        return render.text(event)
    return row.message or row.kind


async def events_for(
    session: AsyncSession, incident_id: int, *, after_id: int | None = None, limit: int = 1000
) -> Sequence[IncidentEvent]:
    stmt = select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
    if after_id is not None:
        stmt = stmt.where(IncidentEvent.id > after_id)
    return (await session.scalars(stmt.order_by(IncidentEvent.id).limit(limit))).all()
