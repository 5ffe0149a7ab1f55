"""Overrides: someone covers a range, for the whole schedule or for one named person.

The past is never rewritten: an override cannot end in the past, a past start takes effect
now, and deleting one that started only removes its future. Overlapping overrides are refused
unless both replace different named people, and replacements that would cover each other in a
circle are refused; the checks run with the schedule row locked. An override lasts at most a
year (a whole-schedule override two), counted from when it takes effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.pagination import PageParams, paginate
from app.schedules import repository, schemas
from app.schedules.models import Schedule, ScheduleOverride
from app.schedules.oncall import MAX_WINDOW, Override, conflicting_overrides, replacement_cycle
from app.schedules.repository import bump_revision
from app.schedules.service import get_schedule, require_user, writable_schedule


async def list_overrides(
    session: AsyncSession,
    schedule_id: int,
    page: PageParams,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: int | None = None,
) -> tuple[Sequence[ScheduleOverride], str | None]:
    await get_schedule(session, schedule_id)
    stmt = select(ScheduleOverride).where(ScheduleOverride.schedule_id == schedule_id)
    if start is not None:
        stmt = stmt.where(ScheduleOverride.ends_at > start)
    if end is not None:
        stmt = stmt.where(ScheduleOverride.starts_at < end)
    if user_id is not None:
        stmt = stmt.where(ScheduleOverride.user_id == user_id)
    return await paginate(session, stmt, ScheduleOverride.id, page)


async def get_override(
    session: AsyncSession, schedule_id: int, override_id: int
) -> ScheduleOverride:
    override = await session.get(ScheduleOverride, override_id)
    if override is None or override.schedule_id != schedule_id:
        raise NotFound(f"override {override_id} not found in schedule {schedule_id}")
    return override


# As long as the longest window a query may ask for. Someone standing in for the whole schedule
# (a team lending its rotation for a long project) may go for two years.
MAX_OVERRIDE = MAX_WINDOW
MAX_WHOLE_SCHEDULE_OVERRIDE = timedelta(days=731)


def _check_length(start: datetime, end: datetime, replaces_user_id: int | None) -> None:
    """``start`` is when the override takes effect (a past start counts from now)."""
    limit = MAX_OVERRIDE if replaces_user_id is not None else MAX_WHOLE_SCHEDULE_OVERRIDE
    if end - start > limit:
        what = "an override replacing someone" if replaces_user_id else "a whole-schedule override"
        raise InvalidInput(
            f"{what} lasts at most {limit.days} days; make several, one after the other",
            field="body.end",
        )


async def _check_conflicts(session: AsyncSession, schedule_id: int, candidate: Override) -> None:
    rows = (
        await session.scalars(
            select(ScheduleOverride).where(
                ScheduleOverride.schedule_id == schedule_id,
                ScheduleOverride.ends_at > candidate.start,
                ScheduleOverride.starts_at < candidate.end,
            )
        )
    ).all()
    existing = [repository.override_from_row(r) for r in rows]
    clashes = conflicting_overrides(existing, candidate)
    if clashes:
        ids = [c.override_id for c in clashes]
        raise Conflict(
            f"overlaps override{'s' if len(ids) > 1 else ''} {', '.join(map(str, ids))}: two "
            "overrides may overlap only when they replace different named people",
            conflicting_override_ids=ids,
        )
    circle = replacement_cycle(existing, candidate)
    if circle:
        ids = [c.override_id for c in circle]
        raise Conflict(
            f"would close a circle of covers with override{'s' if len(ids) > 1 else ''} "
            f"{', '.join(map(str, ids))}: user {candidate.user_id} would cover user "
            f"{candidate.replaces_user_id}, who is covered back by it",
            conflicting_override_ids=ids,
        )


def _override_candidate(
    override_id: int, start: datetime, end: datetime, user_id: int, replaces: int | None
) -> Override:
    if replaces == user_id:
        raise InvalidInput("a user cannot replace themselves", field="body.replaces_user_id")
    return Override(override_id, start, end, user_id, replaces)


async def create_override(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    data: schemas.OverrideCreate,
    *,
    config_managed: bool = False,
) -> ScheduleOverride:
    schedule = await writable_schedule(session, principal, schedule_id)
    return await add_override(
        session,
        schedule,
        start=data.start,
        end=data.end,
        user_id=data.user_id,
        replaces_user_id=data.replaces_user_id,
        reason=data.reason,
        created_by_id=principal.user_id,
        config_managed=config_managed,
    )


async def add_override(
    session: AsyncSession,
    schedule: Schedule,
    *,
    start: datetime,
    end: datetime,
    user_id: int,
    replaces_user_id: int | None,
    reason: str,
    created_by_id: int | None,
    config_managed: bool = False,
) -> ScheduleOverride:
    """An override from ``max(start, now)``: the past is never rewritten. Schedule locked."""
    now = session_clock(session).now()
    if end <= now:
        raise InvalidInput("the override would end in the past", field="body.end")
    if end <= start:
        raise InvalidInput("end must be after start", field="body.end")
    start = max(start.astimezone(UTC), now)
    _check_length(start, end, replaces_user_id)
    await require_user(session, user_id, "body.user_id")
    if replaces_user_id is not None:
        await require_user(session, replaces_user_id, "body.replaces_user_id")
    candidate = _override_candidate(0, start, end, user_id, replaces_user_id)
    await _check_conflicts(session, schedule.id, candidate)
    override = ScheduleOverride(
        schedule_id=schedule.id,
        starts_at=start,
        ends_at=end.astimezone(UTC),
        user_id=user_id,
        replaces_user_id=replaces_user_id,
        created_by_id=created_by_id,
        reason=reason,
        config_managed=config_managed,
    )
    session.add(override)
    await session.flush()
    bump_revision(session, schedule)
    return override


async def update_override(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    override_id: int,
    data: schemas.OverrideUpdate,
) -> ScheduleOverride:
    schedule = await writable_schedule(session, principal, schedule_id)
    override = await get_override(session, schedule_id, override_id)
    now = session_clock(session).now()
    if override.ends_at <= now:
        raise Conflict("this override is over; past shifts are kept as they were")
    changes = data.model_dump(exclude_unset=True)
    started = override.starts_at <= now
    if started:
        for key in ("start", "user_id", "replaces_user_id"):
            if key in changes and changes[key] != _override_field(override, key):
                raise InvalidInput(
                    "this override has started: only its end and reason can change",
                    field=f"body.{key}",
                )
    start = changes.get("start", override.starts_at)
    end = changes.get("end", override.ends_at)
    if end <= now:
        raise InvalidInput(
            "end must be in the future; delete the override to stop it now", field="body.end"
        )
    if end <= start:
        raise InvalidInput("end must be after start", field="body.end")
    start = start if started else max(start.astimezone(UTC), now)
    user_id = changes.get("user_id", override.user_id)
    replaces = changes.get("replaces_user_id", override.replaces_user_id)
    if (start, end, replaces) != (override.starts_at, override.ends_at, override.replaces_user_id):
        _check_length(start, end, replaces)  # an older, longer override may still get a reason
    await require_user(session, user_id, "body.user_id")
    if replaces is not None:
        await require_user(session, replaces, "body.replaces_user_id")
    candidate = _override_candidate(override.id, start, end, user_id, replaces)
    await _check_conflicts(session, schedule_id, candidate)
    values = {
        "starts_at": start.astimezone(UTC),
        "ends_at": end.astimezone(UTC),
        "user_id": user_id,
        "replaces_user_id": replaces,
        "reason": changes.get("reason", override.reason) or "",
    }
    changed = [key for key, value in values.items() if getattr(override, key) != value]
    for key in changed:
        setattr(override, key, values[key])
    if changed:
        bump_revision(session, schedule)
    await session.flush()
    return override


def _override_field(override: ScheduleOverride, key: str) -> Any:
    return override.starts_at if key == "start" else getattr(override, key)


async def delete_override(
    session: AsyncSession, principal: Principal, schedule_id: int, override_id: int
) -> ScheduleOverride | None:
    """Remove an override's future; one that already started is cut at now and kept.

    Returns the shortened override, or None when it was deleted outright.
    """
    schedule = await writable_schedule(session, principal, schedule_id)
    override = await get_override(session, schedule_id, override_id)
    return await end_override(session, schedule, override)


async def end_override(
    session: AsyncSession, schedule: Schedule, override: ScheduleOverride
) -> ScheduleOverride | None:
    now = session_clock(session).now()
    if override.ends_at <= now:
        raise Conflict("this override is over; past shifts are kept as they were")
    bump_revision(session, schedule)
    if override.starts_at < now:
        override.ends_at = now
        await session.flush()
        return override
    await session.delete(override)
    await session.flush()
    return None
