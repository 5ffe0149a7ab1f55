"""Who hears about an incident's events: subscribers registered once at start-up.

``service.apply`` hands every event to each subscriber, in registration order, inside the
transaction that records it: the outbox queues pages and cancels the ones an acknowledgement
made pointless, channels showing the incident queue their updates, the alerts domain closes
alerts a person resolved, counters count. What they send leaves after commit (outbox rows), so
a rolled-back change never pages anyone.

A subscriber may return the event completed with what only it knows (how many pending
notifications it cancelled); the timeline records that version. It must not decide anything:
the rules live in ``decide.py``.

``incidents`` imports no subscriber. ``app/wiring.py`` registers them, and ``apply`` refuses to
run with none registered: a process that forgot to wire them would record incidents and page
nobody.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.incidents.events import Event
from app.incidents.models import Incident, Page
from app.people.ladders import RuleTarget
from app.people.models import ContactType


@dataclass(frozen=True, slots=True)
class PageWritten:
    """One person paged: their page row and the rules its notifications follow."""

    page: Page
    user_id: int
    shadow: bool
    targets: tuple[RuleTarget, ...]


@dataclass(frozen=True, slots=True)
class Applied:
    """An event as ``apply`` hands it on, with what applying it wrote."""

    incident: Incident
    service: Service
    event: Event
    at: datetime
    pages: tuple[PageWritten, ...] = ()
    # Slack channels and webhooks a step names, unmasked: only the outbox sees these.
    channels: tuple[tuple[ContactType, str], ...] = ()
    reason: str = ""  # why the pages went out, in words for the page itself


Subscriber = Callable[[AsyncSession, Applied], Awaitable[Event | None]]

_SUBSCRIBERS: dict[str, Subscriber] = {}


class NotWired(RuntimeError):
    """``apply`` ran in a process that registered no subscribers."""


def subscribe(name: str, subscriber: Subscriber) -> None:
    """Register ``subscriber`` under ``name``; registering a name again replaces it."""
    _SUBSCRIBERS[name] = subscriber


def subscribed() -> list[str]:
    return list(_SUBSCRIBERS)


async def deliver(session: AsyncSession, applied: Applied) -> Event:
    """Hand ``applied`` to every subscriber; returns the event as the timeline records it."""
    if not _SUBSCRIBERS:
        raise NotWired("no incident subscribers registered: call app.wiring.wire() at start-up")
    for subscriber in _SUBSCRIBERS.values():
        completed = await subscriber(session, applied)
        if completed is not None:
            applied = replace(applied, event=completed)
    return applied.event
