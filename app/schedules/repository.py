"""Loading schedules from the database into the calculator, and the compiled-schedule cache.

Paging asks "who is on call" for every alert, so compiled schedules are kept in process memory,
keyed by (schedule id, revision). The revision lives in the database and every change bumps it,
so a replica that did not make a change still notices it with one small query and recompiles.
The cache is per engine: two databases in one process (tests, embedders) never share entries.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import NamedTuple

from sqlalchemy import Engine, event, false, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from app.people.models import User
from app.schedules.models import LayerVersion, Schedule, ScheduleLayer, ScheduleOverride
from app.schedules.oncall import (
    CompiledSchedule,
    Layer,
    Override,
    Restriction,
    ScheduleSpec,
    compile_schedule,
)

CACHE_SIZE = 2048


@dataclass(frozen=True)
class LoadedSchedule:
    """A compiled schedule with the revision it was built from and its layers' names."""

    schedule_id: int
    revision: int
    name: str
    team_id: int
    time_zone: str
    compiled: CompiledSchedule
    layer_names: dict[int, str]


class _CompiledCache:
    """A small LRU of compiled schedules for one database engine."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[int, LoadedSchedule] = OrderedDict()

    def get(self, schedule_id: int, revision: int) -> LoadedSchedule | None:
        entry = self._entries.get(schedule_id)
        if entry is None or entry.revision != revision:
            return None
        self._entries.move_to_end(schedule_id)
        return entry

    def latest(self, schedule_id: int) -> LoadedSchedule | None:
        return self._entries.get(schedule_id)

    def put(self, entry: LoadedSchedule) -> None:
        current = self._entries.get(entry.schedule_id)
        # Two requests may race to compile; keep whichever saw the newer revision.
        if current is not None and current.revision > entry.revision:
            return
        self._entries[entry.schedule_id] = entry
        self._entries.move_to_end(entry.schedule_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


_caches: weakref.WeakKeyDictionary[Engine, _CompiledCache] = weakref.WeakKeyDictionary()


def _cache_for(session: AsyncSession) -> _CompiledCache:
    engine = session.bind.sync_engine if hasattr(session.bind, "sync_engine") else session.bind
    assert isinstance(engine, Engine)
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = _CompiledCache()
    return cache


def clear_cache(session: AsyncSession) -> None:
    _cache_for(session).clear()


_CHANGED_KEY = "schedules_changed"


def bump_revision(session: AsyncSession, schedule: Schedule) -> None:
    """Record that an answer of ``schedule`` may change; call once per changing operation.

    Callers hold the schedule row locked (``lock_schedule``), so the increment cannot be lost.
    The schedule is also remembered as changed in this session: until the transaction commits,
    its compiled form must not enter the shared cache (a rollback would leave a cached entry
    under a revision number that the next real change reuses with different data).
    """
    changed: set[int] = session.info.setdefault(_CHANGED_KEY, set())
    if schedule.id not in changed:
        schedule.revision += 1
        changed.add(schedule.id)


def _changed_here(session: AsyncSession) -> set[int]:
    return session.info.get(_CHANGED_KEY, set())


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(_CHANGED_KEY, None)


# ------------------------------------------------------------------------------ converting rows


def restriction_from_json(data: dict[str, object]) -> Restriction:
    weekdays = data["weekdays"]
    assert isinstance(weekdays, list)
    return Restriction(
        frozenset(int(day) for day in weekdays),
        time.fromisoformat(str(data["start"])),
        time.fromisoformat(str(data["end"])),
    )


def restriction_to_json(rule: Restriction) -> dict[str, object]:
    return {
        "weekdays": sorted(rule.weekdays),
        "start": rule.start.strftime("%H:%M"),
        "end": rule.end.strftime("%H:%M"),
    }


def _later(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return max(first, second)


def _earlier(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None or second is None:
        return first or second
    return min(first, second)


def layer_from_version(version: LayerVersion) -> Layer | None:
    """The calculator's view of one version; None when the version is never in force."""
    active_from = _later(version.valid_from, version.starts_at)
    active_until = _earlier(version.valid_until, version.ends_at)
    if active_from is not None and active_until is not None and active_until <= active_from:
        return None
    return Layer(
        layer_id=version.layer_id,
        priority=version.priority,
        participants=tuple(version.participant_ids),
        shadows=tuple(version.shadow_ids),
        shift_length=version.shift_length,
        shift_unit=version.shift_unit,
        anchor=version.anchor,
        restrictions=tuple(restriction_from_json(r) for r in version.restrictions or ()),
        active_from=active_from,
        active_until=active_until,
        handoff_rule=version.handoff_rule,
        time_zone=version.time_zone,
    )


def override_from_row(row: ScheduleOverride) -> Override:
    return Override(row.id, row.starts_at, row.ends_at, row.user_id, row.replaces_user_id)


# ----------------------------------------------------------------------------------- loading


async def load_versions(session: AsyncSession, schedule_id: int) -> Sequence[LayerVersion]:
    stmt = (
        select(LayerVersion)
        .join(ScheduleLayer, ScheduleLayer.id == LayerVersion.layer_id)
        .where(ScheduleLayer.schedule_id == schedule_id)
        .options(selectinload(LayerVersion.members))
        .order_by(LayerVersion.id)
    )
    return (await session.scalars(stmt)).all()


async def load_override_rows(session: AsyncSession, schedule_id: int) -> Sequence[ScheduleOverride]:
    stmt = select(ScheduleOverride).where(ScheduleOverride.schedule_id == schedule_id)
    return (await session.scalars(stmt.order_by(ScheduleOverride.id))).all()


async def build_spec(
    session: AsyncSession, schedule: Schedule
) -> tuple[ScheduleSpec, dict[int, str]]:
    versions = await load_versions(session, schedule.id)
    layers = [layer for v in versions if (layer := layer_from_version(v)) is not None]
    overrides = [override_from_row(o) for o in await load_override_rows(session, schedule.id)]
    names = dict(
        (
            await session.execute(
                select(ScheduleLayer.id, ScheduleLayer.name).where(
                    ScheduleLayer.schedule_id == schedule.id
                )
            )
        ).all()
    )
    return ScheduleSpec(schedule.time_zone, tuple(layers), tuple(overrides)), names


async def _compile(session: AsyncSession, schedule_id: int) -> LoadedSchedule | None:
    # Read the row (and its revision) before the layers: the cached entry can then only be as
    # new as or newer than its key, never older, under concurrent edits.
    schedule = await session.get(Schedule, schedule_id, populate_existing=True)
    if schedule is None:
        return None
    spec, names = await build_spec(session, schedule)
    return LoadedSchedule(
        schedule_id=schedule.id,
        revision=schedule.revision,
        name=schedule.name,
        team_id=schedule.team_id,
        time_zone=schedule.time_zone,
        compiled=compile_schedule(spec),
        layer_names=names,
    )


async def loaded_schedules(
    session: AsyncSession, schedule_ids: Iterable[int]
) -> dict[int, LoadedSchedule]:
    """Compiled schedules by id (unknown ids are left out): one query when all are cached."""
    wanted = list(dict.fromkeys(schedule_ids))
    if not wanted:
        return {}
    rows = (
        await session.execute(select(Schedule.id, Schedule.revision).where(Schedule.id.in_(wanted)))
    ).all()
    cache = _cache_for(session)
    uncommitted = _changed_here(session)
    result: dict[int, LoadedSchedule] = {}
    for schedule_id, revision in rows:
        shared = schedule_id not in uncommitted
        entry = cache.get(schedule_id, revision) if shared else None
        if entry is None:
            entry = await _compile(session, schedule_id)
            if entry is None:
                continue
            if shared:
                cache.put(entry)
        result[schedule_id] = entry
    return result


def peek(session: AsyncSession, schedule_id: int) -> LoadedSchedule | None:
    """The cached compiled schedule, unchecked: the caller must confirm its revision."""
    if schedule_id in _changed_here(session):
        return None
    return _cache_for(session).latest(schedule_id)


class PersonRef(NamedTuple):
    id: int
    name: str
    email: str


async def revision_and_people(
    session: AsyncSession, schedule_id: int, user_ids: Iterable[int]
) -> tuple[int | None, dict[int, PersonRef]]:
    """The schedule's revision and the named people, in one round trip (None: no schedule).

    The "who is on call" page computes its answer from the cached schedule first, then checks
    in this one query that the cache was current while fetching the names it needs.
    """
    ids = set(user_ids)
    joined = User.id.in_(ids) if ids else false()
    rows = (
        await session.execute(
            select(Schedule.revision, User.id, User.name, User.email)
            .select_from(Schedule)
            .outerjoin(User, joined)
            .where(Schedule.id == schedule_id)
        )
    ).all()
    if not rows:
        return None, {}
    people = {row[1]: PersonRef(row[1], row[2], row[3]) for row in rows if row[1] is not None}
    return rows[0][0], people


async def loaded_schedule(session: AsyncSession, schedule_id: int) -> LoadedSchedule | None:
    return (await loaded_schedules(session, [schedule_id])).get(schedule_id)


async def all_schedule_ids(session: AsyncSession) -> list[int]:
    return list((await session.scalars(select(Schedule.id).order_by(Schedule.id))).all())
