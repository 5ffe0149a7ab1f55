"""The questions people ask of schedules, answered with names: who is on call (now, at T,
everywhere), the final schedule, coverage gaps, someone's next shift, and pager load.

Read-only: every answer comes from the compiled schedules (``repository``) and the calculator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput, NotFound
from app.people.models import Team, TeamKind, TeamMembership, User
from app.schedules import repository, schemas
from app.schedules.load import load_by_person
from app.schedules.models import Schedule
from app.schedules.oncall import (
    MAX_WINDOW,
    Assignment,
    CoveredSource,
    Layer,
    OnCall,
    ScheduleSpec,
    Shift,
    final_schedule,
    gaps,
    next_shift_for_user,
    on_call_at,
)
from app.schedules.repository import LoadedSchedule
from app.schedules.service import get_schedule, people

DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_NEXT_SHIFT_HORIZON = timedelta(days=90)


def check_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if end <= start:
        raise InvalidInput("end must be after start", field="query.end")
    if end - start > MAX_WINDOW:
        raise InvalidInput(f"a window lasts at most {MAX_WINDOW.days} days", field="query.end")
    return start.astimezone(UTC), end.astimezone(UTC)


def _source_name(loaded: LoadedSchedule, kind: str, source_id: int) -> str:
    if kind == "layer":
        return loaded.layer_names.get(source_id, f"layer {source_id}")
    return f"override {source_id}"


class Person(Protocol):
    name: str
    email: str


def _name(users: Mapping[int, Person], user_id: int) -> str:
    return users[user_id].name if user_id in users else f"user {user_id}"


def _covering(
    loaded: LoadedSchedule, chain: Iterable[CoveredSource], users: Mapping[int, Person]
) -> list[schemas.CoveredSourceOut]:
    return [
        schemas.CoveredSourceOut(
            source_kind=step.source_kind,
            source_id=step.source_id,
            source_name=_source_name(loaded, step.source_kind, step.source_id),
            user_id=step.user_id,
            name=_name(users, step.user_id),
        )
        for step in chain
    ]


def _assignments(
    loaded: LoadedSchedule, items: Iterable[Assignment], users: Mapping[int, Person]
) -> list[schemas.AssignmentOut]:
    return [
        schemas.AssignmentOut(
            user_id=item.user_id,
            name=_name(users, item.user_id),
            email=users[item.user_id].email if item.user_id in users else "",
            source_kind=item.source_kind,
            source_id=item.source_id,
            source_name=_source_name(loaded, item.source_kind, item.source_id),
            covering=_covering(loaded, item.covering, users),
        )
        for item in items
    ]


async def _loaded(session: AsyncSession, schedule_id: int) -> LoadedSchedule:
    loaded = await repository.loaded_schedule(session, schedule_id)
    if loaded is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return loaded


async def who_is_on_call(
    session: AsyncSession, schedule_ids: Sequence[int] | None, at: datetime
) -> list[schemas.OnCallOut]:
    """The "who's on call" answer for some schedules (all when None), with names."""
    ids = schedule_ids if schedule_ids is not None else await repository.all_schedule_ids(session)
    loaded = await repository.loaded_schedules(session, ids)
    if schedule_ids is not None:
        for schedule_id in schedule_ids:
            if schedule_id not in loaded:
                raise NotFound(f"schedule {schedule_id} not found")
    answers = [(loaded[i], *_answers(loaded[i], at)) for i in ids if i in loaded]
    users = await people(session, {u for _, *pair in answers for u in _people_in(*pair)})
    return [_on_call_out(entry, current, following, users) for entry, current, following in answers]


async def schedule_on_call(
    session: AsyncSession, schedule_id: int, at: datetime
) -> schemas.OnCallOut:
    """The "who's on call" answer for one schedule: one query when the cache is current.

    The answer is computed from the cached compiled schedule, then one query both confirms the
    cached revision is still the database's and fetches the names of the people in the answer.
    """
    cached = repository.peek(session, schedule_id)
    if cached is not None:
        current, following = _answers(cached, at)
        revision, found = await repository.revision_and_people(
            session, schedule_id, _people_in(current, following)
        )
        if revision is None:
            raise NotFound(f"schedule {schedule_id} not found")
        if revision == cached.revision:
            return _on_call_out(cached, current, following, found)
    (answer,) = await who_is_on_call(session, [schedule_id], at)
    return answer


def _answers(entry: LoadedSchedule, at: datetime) -> tuple[OnCall, OnCall | None]:
    current = on_call_at(entry.compiled, at)
    following = on_call_at(entry.compiled, current.shift_end) if current.shift_end else None
    return current, following


def _people_in(*answers: OnCall | None) -> set[int]:
    """Everyone an answer names: responders, shadows and the people their overrides cover."""
    return {
        user_id
        for answer in answers
        if answer is not None
        for a in (*answer.responders, *answer.shadows)
        for user_id in (a.user_id, *(step.user_id for step in a.covering))
    }


def _people_in_shifts(shifts: Iterable[Shift]) -> set[int]:
    return {u for s in shifts for u in (s.user_id, *(step.user_id for step in s.covering))}


def _on_call_out(
    entry: LoadedSchedule, current: OnCall, following: OnCall | None, users: Mapping[int, Person]
) -> schemas.OnCallOut:
    return schemas.OnCallOut(
        schedule_id=entry.schedule_id,
        schedule_name=entry.name,
        team_id=entry.team_id,
        time_zone=entry.time_zone,
        at=current.at,
        responders=_assignments(entry, current.responders, users),
        shadows=_assignments(entry, current.shadows, users),
        since=current.shift_start,
        until=current.shift_end,
        source_since=current.source_start,
        source_until=current.source_end,
        next_responders=_assignments(entry, following.responders, users) if following else [],
    )


def _shift_out(loaded: LoadedSchedule, shift: Shift, users: dict[int, User]) -> schemas.ShiftOut:
    return schemas.ShiftOut(
        start=shift.start,
        end=shift.end,
        user_id=shift.user_id,
        name=_name(users, shift.user_id),
        shadow=shift.shadow,
        source_kind=shift.source_kind,
        source_id=shift.source_id,
        source_name=_source_name(loaded, shift.source_kind, shift.source_id),
        covering=_covering(loaded, shift.covering, users),
    )


async def final_shifts(
    session: AsyncSession, schedule_id: int, start: datetime, end: datetime
) -> schemas.FinalScheduleOut:
    start, end = check_window(start, end)
    loaded = await _loaded(session, schedule_id)
    shifts = final_schedule(loaded.compiled, start, end)
    users = await people(session, _people_in_shifts(shifts))
    return schemas.FinalScheduleOut(
        schedule_id=schedule_id,
        time_zone=loaded.time_zone,
        start=start,
        end=end,
        shifts=[_shift_out(loaded, s, users) for s in shifts],
    )


async def layer_shifts(
    session: AsyncSession, schedule_id: int, start: datetime, end: datetime
) -> list[schemas.LayerShiftsOut]:
    """What each layer would put on call over the window on its own, before priorities and
    overrides decide the final schedule (a schedule page draws one row per layer).

    Every layer with a version in force somewhere in the window is listed, highest priority
    first; a layer's versions never overlap, so each is computed as a schedule of its own.
    """
    start, end = check_window(start, end)
    loaded = await _loaded(session, schedule_id)
    spec = loaded.compiled.spec
    versions: dict[int, list[Layer]] = {}
    for layer in spec.layers:
        versions.setdefault(layer.layer_id, []).append(layer)
    found = {
        layer_id: final_schedule(ScheduleSpec(spec.time_zone, tuple(layers), ()), start, end)
        for layer_id, layers in versions.items()
    }
    users = await people(
        session, {u for shifts in found.values() for u in _people_in_shifts(shifts)}
    )
    answers = [
        schemas.LayerShiftsOut(
            layer_id=layer_id,
            name=_source_name(loaded, "layer", layer_id),
            # The latest version's priority: the one the layer has now, or had last.
            priority=versions[layer_id][-1].priority,
            shifts=[_shift_out(loaded, shift, users) for shift in shifts],
        )
        for layer_id, shifts in found.items()
        if shifts or any(_in_force(layer, start, end) for layer in versions[layer_id])
    ]
    return sorted(answers, key=lambda answer: (-answer.priority, answer.layer_id))


def _in_force(layer: Layer, start: datetime, end: datetime) -> bool:
    """Whether the layer version is active at some point of ``[start, end)``."""
    active_from = max(layer.anchor, layer.active_from or layer.anchor)
    return active_from < end and (layer.active_until is None or layer.active_until > start)


async def coverage_gaps(
    session: AsyncSession, schedule_id: int, start: datetime, end: datetime
) -> schemas.GapsOut:
    start, end = check_window(start, end)
    loaded = await _loaded(session, schedule_id)
    holes = gaps(loaded.compiled, start, end)
    items = [
        schemas.GapOut(start=low, end=high, minutes=(high - low).total_seconds() / 60)
        for low, high in holes
    ]
    return schemas.GapsOut(
        schedule_id=schedule_id,
        start=start,
        end=end,
        gaps=items,
        uncovered_minutes=sum(item.minutes for item in items),
    )


async def next_shift(
    session: AsyncSession,
    user_id: int,
    after: datetime,
    *,
    horizon: timedelta = DEFAULT_NEXT_SHIFT_HORIZON,
    schedule_id: int | None = None,
) -> schemas.NextShiftOut:
    """The user's next responder shift (or the one they are in) on one or every schedule."""
    if not timedelta(0) < horizon <= MAX_WINDOW:
        raise InvalidInput(
            f"the horizon lasts at most {MAX_WINDOW.days} days", field="query.within_days"
        )
    users = await people(session, [user_id])
    if user_id not in users:
        raise NotFound(f"user {user_id} not found")
    if schedule_id is not None:
        await get_schedule(session, schedule_id)
    ids = [schedule_id] if schedule_id is not None else await repository.all_schedule_ids(session)
    best: tuple[LoadedSchedule, Shift] | None = None
    for entry in (await repository.loaded_schedules(session, ids)).values():
        found = next_shift_for_user(entry.compiled, user_id, after, horizon)
        if found is not None and (best is None or found.start < best[1].start):
            best = (entry, found)
    if best is None:
        return schemas.NextShiftOut(user_id=user_id, shift=None)
    entry, shift = best
    users = await people(session, _people_in_shifts([shift]))
    return schemas.NextShiftOut(
        user_id=user_id,
        schedule_id=entry.schedule_id,
        schedule_name=entry.name,
        shift=_shift_out(entry, shift, users),
    )


# ------------------------------------------------------------------------------- pager load


async def person_kinds(
    session: AsyncSession, user_ids: Iterable[int], *, fallback: dict[int, str]
) -> dict[int, str]:
    """dev, ops or mixed from each person's teams; people in no team take ``fallback``'s kind.

    The fallback is the kind of the team owning the schedule they were on call for: someone on
    a payments rotation without a team is counted as payments counts.
    """
    ids = set(user_ids)
    memberships = await _membership_kinds(session, ids)
    return {user_id: _kind(memberships.get(user_id), fallback.get(user_id)) for user_id in ids}


async def _membership_kinds(session: AsyncSession, user_ids: set[int]) -> dict[int, set[str]]:
    """The kinds of the teams each person belongs to."""
    if not user_ids:
        return {}
    rows = (
        await session.execute(
            select(TeamMembership.user_id, Team.kind)
            .join(Team, Team.id == TeamMembership.team_id)
            .where(TeamMembership.user_id.in_(user_ids))
        )
    ).all()
    kinds: dict[int, set[str]] = {}
    for user_id, kind in rows:
        kinds.setdefault(user_id, set()).add(TeamKind(kind).value)
    return kinds


def _kind(team_kinds: set[str] | None, fallback: str | None) -> str:
    if not team_kinds:
        return fallback or "mixed"
    return next(iter(team_kinds)) if len(team_kinds) == 1 else "mixed"


async def pager_load(
    session: AsyncSession,
    schedule_ids: Sequence[int] | None,
    start: datetime,
    end: datetime,
    *,
    team_id: int | None = None,
) -> schemas.LoadOut:
    """Responder hours per person on the schedules (all, or a team's) over the window."""
    start, end = check_window(start, end)
    if schedule_ids is None:
        stmt = select(Schedule.id).order_by(Schedule.id)
        if team_id is not None:
            stmt = stmt.where(Schedule.team_id == team_id)
        schedule_ids = list(await session.scalars(stmt))
    loaded = await repository.loaded_schedules(session, schedule_ids)
    for schedule_id in schedule_ids:
        if schedule_id not in loaded:
            raise NotFound(f"schedule {schedule_id} not found")
    window = await _LoadWindow.read(session, loaded, start, end)
    return window.report(list(loaded))


async def pager_load_by_team(
    session: AsyncSession, start: datetime, end: datetime
) -> tuple[schemas.LoadOut, dict[int, schemas.LoadOut]]:
    """The load over every schedule, and over each team's schedules: what ``pager_load`` says
    for each, from one look at the schedules and the people (the pager-load page shows both)."""
    start, end = check_window(start, end)
    schedule_ids = list(await session.scalars(select(Schedule.id).order_by(Schedule.id)))
    loaded = await repository.loaded_schedules(session, schedule_ids)
    window = await _LoadWindow.read(session, loaded, start, end)
    by_team: dict[int, list[int]] = {}
    for schedule_id, entry in loaded.items():
        by_team.setdefault(entry.team_id, []).append(schedule_id)
    everyone = window.report(list(loaded))
    return everyone, {team_id: window.report(ids) for team_id, ids in by_team.items()}


class _LoadWindow:
    """A window's final schedules and the people on them, read once, reported for any subset
    of the schedules."""

    def __init__(
        self,
        loaded: Mapping[int, LoadedSchedule],
        shifts: dict[int, list[Shift]],
        team_kinds: dict[int, str],
        users: Mapping[int, User],
        memberships: dict[int, set[str]],
        start: datetime,
        end: datetime,
    ) -> None:
        self.loaded = loaded
        self.shifts = shifts
        self.team_kinds = team_kinds
        self.users = users
        self.memberships = memberships
        self.start = start
        self.end = end

    @classmethod
    async def read(
        cls,
        session: AsyncSession,
        loaded: Mapping[int, LoadedSchedule],
        start: datetime,
        end: datetime,
    ) -> _LoadWindow:
        shifts = {sid: final_schedule(e.compiled, start, end) for sid, e in loaded.items()}
        team_kinds = {
            team_id: TeamKind(kind).value
            for team_id, kind in (await session.execute(select(Team.id, Team.kind))).all()
        }
        users = await people(session, {s.user_id for found in shifts.values() for s in found})
        memberships = await _membership_kinds(session, set(users))
        return cls(loaded, shifts, team_kinds, users, memberships, start, end)

    def report(self, schedule_ids: Sequence[int]) -> schemas.LoadOut:
        shifts: list[Shift] = []
        owner_kind: dict[int, str] = {}
        for schedule_id in schedule_ids:
            found = self.shifts[schedule_id]
            shifts += found
            team_kind = self.team_kinds[self.loaded[schedule_id].team_id]
            for shift in found:
                owner_kind.setdefault(shift.user_id, team_kind)
        users = {s.user_id: self.users[s.user_id] for s in shifts if s.user_id in self.users}
        kinds = {
            user_id: _kind(self.memberships.get(user_id), owner_kind.get(user_id))
            for user_id in users
        }
        report = load_by_person(shifts, {u.id: u.time_zone for u in users.values()}, kinds)
        return schemas.LoadOut(
            schedule_ids=list(schedule_ids),
            start=self.start,
            end=self.end,
            total_hours=report.total_hours,
            dev_share=report.dev_share,
            ops_share=report.ops_share,
            mixed_share=report.mixed_share,
            people=[
                schemas.PersonLoadOut(
                    user_id=p.user_id,
                    name=users[p.user_id].name,
                    time_zone=users[p.user_id].time_zone,
                    kind=kinds[p.user_id],
                    business_hours=p.business_hours,
                    evening_hours=p.evening_hours,
                    night_hours=p.night_hours,
                    weekend_hours=p.weekend_hours,
                    total_hours=p.total_hours,
                    shadow_hours=p.shadow_hours,
                )
                for p in report.people
            ],
        )
