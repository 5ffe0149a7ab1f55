"""Hand-off reminders: tell people shortly before their shift starts and when it ends.

The engine calls :func:`send_due_reminders` every minute or so in every replica. Each run
recomputes what is due from the schedules and claims each reminder by inserting a marker whose
unique key is (schedule, person, boundary instant, kind) with ``ON CONFLICT DO NOTHING``: only
the transaction whose insert succeeded sends, so a reminder goes out once even when two
replicas run at the same moment or the process restarts. The message leaves after the claim
commits; a crash in between loses that reminder rather than repeating it, as for pages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.people.models import User
from app.schedules import messaging, repository
from app.schedules.models import ReminderKind, ShiftReminder
from app.schedules.oncall import Shift, final_schedule, on_call_at
from app.schedules.preferences import Preferences, preferences_for
from app.schedules.repository import LoadedSchedule
from app.schedules.service import people

log = logging.getLogger(__name__)

# A reminder still goes out this long after its moment (a slow or restarted engine), never later.
GRACE = timedelta(minutes=10)
# Look back further than the grace so a shift starting inside it is seen whole, not clipped.
LOOKBACK = GRACE + timedelta(minutes=5)
# Markers only need to outlive the grace; old ones are removed as the job runs.
KEEP_MARKERS = timedelta(days=14)
DEFAULT_HORIZON = timedelta(hours=24, minutes=1)  # covers the longest lead time, a day


@dataclass(frozen=True)
class Stretch:
    """One person's continuous time in one role on one schedule, whatever put them there."""

    user_id: int
    shadow: bool
    start: datetime
    end: datetime


@dataclass(frozen=True)
class DueReminder:
    schedule: LoadedSchedule
    stretch: Stretch
    kind: ReminderKind

    @property
    def boundary(self) -> datetime:
        return self.stretch.start if self.kind is ReminderKind.START else self.stretch.end


def stretches(shifts: Iterable[Shift]) -> list[Stretch]:
    """Shifts merged per (person, role) where they touch: a layer shift that runs into an
    override of the same person is one stretch, so nobody is told "ended" then "starts"."""
    by_person: dict[tuple[int, bool], list[tuple[datetime, datetime]]] = {}
    for shift in sorted(shifts, key=lambda s: s.start):
        runs = by_person.setdefault((shift.user_id, shift.shadow), [])
        if runs and shift.start <= runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], shift.end))
        else:
            runs.append((shift.start, shift.end))
    return [
        Stretch(user_id, shadow, start, end)
        for (user_id, shadow), runs in by_person.items()
        for start, end in runs
    ]


def window_stretches(
    schedule: LoadedSchedule, now: datetime, horizon: timedelta
) -> tuple[datetime, datetime, list[Stretch]]:
    window_start, window_end = now - LOOKBACK, now + horizon
    shifts = final_schedule(schedule.compiled, window_start, window_end)
    return window_start, window_end, stretches(shifts)


def due_reminders(
    schedule: LoadedSchedule,
    now: datetime,
    horizon: timedelta,
    prefs: dict[int, Preferences],
) -> list[DueReminder]:
    """Reminders of one schedule due at ``now``, by each person's lead time."""
    window_start, window_end, found_stretches = window_stretches(schedule, now, horizon)
    found = []
    for stretch in found_stretches:
        pref = prefs.get(stretch.user_id, Preferences(stretch.user_id))
        if not pref.reminders_enabled:
            continue
        lead = timedelta(minutes=pref.reminder_lead_minutes)
        # A stretch cut by the window edge did not really start or end there.
        if window_start < stretch.start and stretch.start - lead <= now < stretch.start + GRACE:
            found.append(DueReminder(schedule, stretch, ReminderKind.START))
        if stretch.end < window_end and stretch.end <= now < stretch.end + GRACE:
            found.append(DueReminder(schedule, stretch, ReminderKind.END))
    return found


async def send_due_reminders(db: Database, *, horizon: timedelta = DEFAULT_HORIZON) -> int:
    """Claim and send every reminder due now; returns how many this call claimed.

    ``horizon`` must cover the longest lead time (a day); the default does.
    """
    now = db.clock.now()
    async with db.transaction() as session:
        ids = await repository.all_schedule_ids(session)
        loaded = list((await repository.loaded_schedules(session, ids)).values())
        everyone = {
            stretch.user_id
            for entry in loaded
            for stretch in window_stretches(entry, now, horizon)[2]
        }
        prefs = await preferences_for(session, everyone)
        due = [d for entry in loaded for d in due_reminders(entry, now, horizon, prefs)]
        users = await people(session, {d.stretch.user_id for d in due})
        claimed = 0
        for reminder in due:
            if reminder.stretch.user_id in users and await _claim(session, reminder, now):
                await _tell(session, reminder, users)
                claimed += 1
        await session.execute(
            delete(ShiftReminder).where(ShiftReminder.sent_at < now - KEEP_MARKERS)
        )
    if claimed:
        log.info("shift reminders sent", extra={"count": claimed})
    return claimed


async def _claim(session: AsyncSession, reminder: DueReminder, now: datetime) -> bool:
    values: dict[str, Any] = {
        "schedule_id": reminder.schedule.schedule_id,
        "user_id": reminder.stretch.user_id,
        "boundary_at": reminder.boundary,
        "kind": reminder.kind,
        "shadow": reminder.stretch.shadow,
        "sent_at": now,
    }
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(ShiftReminder)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["schedule_id", "user_id", "boundary_at", "kind"])
        .returning(ShiftReminder.id)
    )
    return (await session.execute(stmt)).scalar() is not None


def _local(instant: datetime, user: User) -> str:
    return instant.astimezone(ZoneInfo(user.time_zone)).strftime("%a %d %b %H:%M")


async def _tell(session: AsyncSession, reminder: DueReminder, users: dict[int, User]) -> None:
    user = users[reminder.stretch.user_id]
    name = reminder.schedule.name
    role = "shadow shift" if reminder.stretch.shadow else "on-call shift"
    if reminder.kind is ReminderKind.START:
        subject = f"On call soon: {name}"
        when = _local(reminder.stretch.start, user)
        text = f"Your {role} for {name} starts {when} ({user.time_zone})."
    else:
        subject = f"Shift over: {name}"
        following = await _names(session, _responders_at(reminder.schedule, reminder.stretch.end))
        handed = f" {', '.join(following)} took over." if following else ""
        when = _local(reminder.stretch.end, user)
        text = f"Your {role} for {name} ended {when} ({user.time_zone}).{handed}"
    await messaging.tell(
        session,
        user.id,
        subject=subject,
        text=text,
        kind="reminder",
        context={
            "schedule_id": reminder.schedule.schedule_id,
            "reminder": reminder.kind.value,
            "boundary_at": reminder.boundary.isoformat(),
            "shadow": reminder.stretch.shadow,
        },
    )


def _responders_at(schedule: LoadedSchedule, at: datetime) -> Sequence[int]:
    return [a.user_id for a in on_call_at(schedule.compiled, at).responders]


async def _names(session: AsyncSession, user_ids: Sequence[int]) -> list[str]:
    found = await people(session, user_ids)
    return [found[u].name for u in user_ids if u in found]
