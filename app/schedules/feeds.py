"""Calendar feed tokens and the feeds they unlock.

A feed URL carries a random secret; only its SHA-256 is stored, the secret is shown once. An
unknown or revoked token answers 404, so a feed URL reveals nothing once it is revoked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import InvalidInput, NotFound
from app.core.security import display_prefix, hash_secret, new_secret
from app.schedules import repository, schemas
from app.schedules.ical import FeedShift, render_calendar
from app.schedules.models import CalendarFeed, FeedKind
from app.schedules.oncall import final_schedule
from app.schedules.service import get_schedule, people

FEED_PREFIX = "batoncal"
# What a subscribed calendar shows: a month back (for "who had it last week") and half a year
# ahead. The window starts at a UTC midnight so it moves once a day, not on every poll.
FEED_PAST = timedelta(days=30)
FEED_FUTURE = timedelta(days=180)
# Calendar apps poll often; recording every poll would turn reads into writes.
USE_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedFeed:
    feed: CalendarFeed
    secret: str


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - FEED_PAST, midnight + FEED_FUTURE


def feed_url(public_url: str, secret: str) -> str:
    return f"{public_url}/api/v1/calendars/{secret}.ics"


async def create_feed(
    session: AsyncSession, principal: Principal, data: schemas.FeedCreate
) -> IssuedFeed:
    principal.require_write()
    if data.schedule_id is not None:
        try:
            await get_schedule(session, data.schedule_id)
        except NotFound:
            raise InvalidInput(
                f"schedule {data.schedule_id} does not exist", field="body.schedule_id"
            ) from None
        kind = FeedKind.SCHEDULE
    else:
        assert data.user_id is not None
        # A personal feed shows where someone will be on call: theirs to share, or an admin's.
        principal.require_self_or_admin(data.user_id)
        if not await people(session, [data.user_id]):
            raise InvalidInput(f"user {data.user_id} does not exist", field="body.user_id")
        kind = FeedKind.USER
    secret = new_secret(FEED_PREFIX)
    feed = CalendarFeed(
        kind=kind,
        schedule_id=data.schedule_id,
        user_id=data.user_id,
        owner_id=principal.user_id,
        name=data.name,
        prefix=display_prefix(secret, FEED_PREFIX),
        token_hash=hash_secret(secret),
        created_at=session_clock(session).now(),
    )
    session.add(feed)
    await session.flush()
    return IssuedFeed(feed, secret)


async def list_feeds(
    session: AsyncSession, principal: Principal, *, everyone: bool = False
) -> Sequence[CalendarFeed]:
    stmt = select(CalendarFeed).order_by(CalendarFeed.id)
    if everyone:
        principal.require_admin()
    else:
        stmt = stmt.where(CalendarFeed.owner_id == principal.user_id)
    return (await session.scalars(stmt)).all()


async def revoke_feed(session: AsyncSession, principal: Principal, feed_id: int) -> CalendarFeed:
    principal.require_write()
    feed = await session.get(CalendarFeed, feed_id)
    if feed is None or (feed.owner_id != principal.user_id and not principal.is_admin):
        raise NotFound(f"calendar feed {feed_id} not found")
    if feed.revoked_at is None:
        feed.revoked_at = session_clock(session).now()
    await session.flush()
    return feed


async def _feed_for_secret(session: AsyncSession, secret: str) -> CalendarFeed:
    feed = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == hash_secret(secret))
    )
    if feed is None or feed.revoked_at is not None:
        raise NotFound("no such calendar")
    return feed


async def render_feed(session: AsyncSession, secret: str) -> bytes:
    """The iCalendar body for a feed token (NotFound for unknown or revoked tokens)."""
    feed = await _feed_for_secret(session, secret)
    now = session_clock(session).now()
    if feed.last_used_at is None or now - feed.last_used_at > USE_RESOLUTION:
        feed.last_used_at = now
    start, end = feed_window(now)
    if feed.kind is FeedKind.SCHEDULE:
        assert feed.schedule_id is not None
        schedule_ids = [feed.schedule_id]
    else:
        schedule_ids = await repository.all_schedule_ids(session)
    shifts = await feed_shifts(session, schedule_ids, start, end, user_id=feed.user_id)
    name = await _calendar_name(session, feed)
    return render_calendar(name, shifts, stamp=now, with_person=feed.kind is FeedKind.SCHEDULE)


async def feed_shifts(
    session: AsyncSession,
    schedule_ids: Sequence[int],
    start: datetime,
    end: datetime,
    *,
    user_id: int | None = None,
) -> list[FeedShift]:
    """Shifts of the schedules over ``[start, end)``, only ``user_id``'s when given."""
    loaded = await repository.loaded_schedules(session, schedule_ids)
    found = []
    for entry in loaded.values():
        for shift in final_schedule(entry.compiled, start, end):
            if user_id is None or shift.user_id == user_id:
                found.append((entry, shift))
    users = await people(session, {shift.user_id for _, shift in found})
    return [
        FeedShift(
            schedule_id=entry.schedule_id,
            schedule_name=entry.name,
            user_id=shift.user_id,
            user_name=users[shift.user_id].name if shift.user_id in users else "someone",
            start=shift.start,
            end=shift.end,
            shadow=shift.shadow,
            source_kind=shift.source_kind,
            source_id=shift.source_id,
            source_name=entry.layer_names.get(shift.source_id, "")
            if shift.source_kind == "layer"
            else f"override {shift.source_id}",
        )
        for entry, shift in sorted(found, key=lambda item: (item[1].start, item[0].schedule_id))
    ]


async def _calendar_name(session: AsyncSession, feed: CalendarFeed) -> str:
    if feed.kind is FeedKind.SCHEDULE:
        assert feed.schedule_id is not None
        return f"On call: {(await get_schedule(session, feed.schedule_id)).name}"
    assert feed.user_id is not None
    users = await people(session, [feed.user_id])
    who = users[feed.user_id].name if feed.user_id in users else "me"
    return f"On call: {who}"
