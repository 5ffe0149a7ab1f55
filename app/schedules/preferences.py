"""Per-person on-call preferences: the hand-off reminder lead time and switch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import NotFound
from app.people.models import User
from app.schedules import schemas
from app.schedules.models import OnCallPreferences

DEFAULT_LEAD_MINUTES = 60


@dataclass(frozen=True)
class Preferences:
    user_id: int
    reminder_lead_minutes: int = DEFAULT_LEAD_MINUTES
    reminders_enabled: bool = True


async def get_preferences(session: AsyncSession, user_id: int) -> Preferences:
    if (await session.get(User, user_id)) is None:
        raise NotFound(f"user {user_id} not found")
    row = await session.get(OnCallPreferences, user_id)
    if row is None:
        return Preferences(user_id)
    return Preferences(user_id, row.reminder_lead_minutes, row.reminders_enabled)


async def preferences_for(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, Preferences]:
    """Everyone's preferences, defaults included, in one query."""
    ids = set(user_ids)
    rows = (
        (
            await session.scalars(
                select(OnCallPreferences).where(OnCallPreferences.user_id.in_(ids))
            )
        ).all()
        if ids
        else []
    )
    found = {
        r.user_id: Preferences(r.user_id, r.reminder_lead_minutes, r.reminders_enabled)
        for r in rows
    }
    return {user_id: found.get(user_id, Preferences(user_id)) for user_id in ids}


async def update_preferences(
    session: AsyncSession, principal: Principal, user_id: int, data: schemas.PreferencesUpdate
) -> Preferences:
    principal.require_self_or_admin(user_id)
    await get_preferences(session, user_id)
    row = await session.get(OnCallPreferences, user_id)
    if row is None:
        row = OnCallPreferences(user_id=user_id)
        session.add(row)
    if data.reminder_lead_minutes is not None:
        row.reminder_lead_minutes = data.reminder_lead_minutes
    elif row.reminder_lead_minutes is None:
        row.reminder_lead_minutes = DEFAULT_LEAD_MINUTES
    if data.reminders_enabled is not None:
        row.reminders_enabled = data.reminders_enabled
    elif row.reminders_enabled is None:
        row.reminders_enabled = True
    await session.flush()
    return Preferences(user_id, row.reminder_lead_minutes, row.reminders_enabled)
