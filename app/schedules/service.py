"""Schedules and layers with their history, and the on-call questions other domains ask.

Every operation runs inside the caller's transaction and never commits. Changes lock the
schedule row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one writer), which
serialises concurrent edits of one schedule and makes the override conflict check race-free,
then bump ``Schedule.revision`` so every replica's compiled-schedule cache notices.

Other domains call: ``oncall_at``, ``oncall_for_schedules``, ``get_schedule``,
``get_schedule_by_name``. Overrides are in ``overrides.py``, the answers people ask for (with
names) in ``oncall_queries.py``, cover requests in ``cover.py``, feeds in ``feeds.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.pagination import PageParams, paginate
from app.core.textsearch import contains_text
from app.people.models import User
from app.people.service import get_team
from app.schedules import repository, schemas
from app.schedules.models import (
    LayerMember,
    LayerVersion,
    Schedule,
    ScheduleLayer,
)
from app.schedules.oncall import (
    OnCall,
    default_handoff_rule,
    on_call_at,
    rebase_anchor,
)
from app.schedules.repository import bump_revision
from app.schedules.rotation import (
    Rotation,
    handoff_time_of,
    local_instant,
    place_rotation,
    restrictions_key,
    rotation_of,
    zone_of,
)

# ------------------------------------------------------------------- the on-call engine's API


async def oncall_at(session: AsyncSession, schedule_id: int, at: datetime) -> OnCall:
    """Who is on call for one schedule at ``at`` (raises NotFound for an unknown schedule)."""
    loaded = await repository.loaded_schedule(session, schedule_id)
    if loaded is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return on_call_at(loaded.compiled, at)


async def oncall_for_schedules(
    session: AsyncSession, schedule_ids: Iterable[int], at: datetime
) -> dict[int, OnCall]:
    """Who is on call for each schedule at ``at``; unknown ids are left out of the answer."""
    loaded = await repository.loaded_schedules(session, schedule_ids)
    return {schedule_id: on_call_at(entry.compiled, at) for schedule_id, entry in loaded.items()}


async def get_schedule(session: AsyncSession, schedule_id: int) -> Schedule:
    schedule = await session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return schedule


async def get_schedule_by_name(session: AsyncSession, name: str) -> Schedule | None:
    return await session.scalar(
        select(Schedule).where(func.lower(Schedule.name) == name.strip().lower())
    )


# ----------------------------------------------------------------------------------- helpers


def _now(session: AsyncSession) -> datetime:
    return session_clock(session).now()


async def lock_schedule(session: AsyncSession, schedule_id: int) -> Schedule:
    """The schedule row, locked for the rest of the transaction, with a fresh revision."""
    schedule = await session.scalar(
        select(Schedule)
        .where(Schedule.id == schedule_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if schedule is None:
        raise NotFound(f"schedule {schedule_id} not found")
    return schedule


async def writable_schedule(
    session: AsyncSession, principal: Principal, schedule_id: int
) -> Schedule:
    schedule = await lock_schedule(session, schedule_id)
    principal.require_team_write(schedule.team_id, "this schedule")
    return schedule


async def require_users(session: AsyncSession, user_ids: Iterable[int], field: str) -> None:
    """InvalidInput naming the first position of the list ``field`` whose user does not exist."""
    ids = list(user_ids)
    if not ids:
        return
    known = set(await session.scalars(select(User.id).where(User.id.in_(set(ids)))))
    for index, user_id in enumerate(ids):
        if user_id not in known:
            raise InvalidInput(
                f"user {user_id} does not exist", field=f"{field}.{index}", user_id=user_id
            )


async def require_user(session: AsyncSession, user_id: int, field: str) -> None:
    if await session.get(User, user_id) is None:
        raise InvalidInput(f"user {user_id} does not exist", field=field, user_id=user_id)


async def people(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, User]:
    ids = set(user_ids)
    if not ids:
        return {}
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(ids)))}


def _effective_from(version: LayerVersion) -> datetime:
    return max(version.starts_at, version.valid_from or version.starts_at)


async def _current_version(session: AsyncSession, layer_id: int) -> LayerVersion:
    version = await session.scalar(
        select(LayerVersion)
        .where(LayerVersion.layer_id == layer_id, LayerVersion.valid_until.is_(None))
        .options(selectinload(LayerVersion.members))
        .order_by(LayerVersion.id.desc())
        .limit(1)
    )
    if version is None:
        raise NotFound(f"layer {layer_id} has no current version")
    return version


def _new_version(
    layer_id: int, rotation: Rotation, valid_from: datetime | None, now: datetime, by: int | None
) -> LayerVersion:
    version = LayerVersion(
        layer_id=layer_id,
        valid_from=valid_from,
        valid_until=None,
        priority=rotation.priority,
        shift_length=rotation.shift_length,
        shift_unit=rotation.shift_unit,
        handoff_rule=rotation.handoff_rule,
        time_zone=rotation.time_zone,
        anchor=rotation.anchor,
        starts_at=rotation.starts_at,
        ends_at=rotation.ends_at,
        restrictions=rotation.restriction_json(),
        created_at=now,
        created_by_id=by,
    )
    version.members = [
        LayerMember(user_id=user_id, position=index, shadow=False)
        for index, user_id in enumerate(rotation.participants)
    ] + [
        LayerMember(user_id=user_id, position=index, shadow=True)
        for index, user_id in enumerate(rotation.shadows)
    ]
    return version


async def revise_rotation(
    session: AsyncSession,
    schedule: Schedule,
    layer: ScheduleLayer,
    current: LayerVersion,
    rotation: Rotation,
    *,
    by: int | None,
) -> LayerVersion:
    """Make ``rotation`` the layer's rotation from now on, keeping every past answer.

    A version that has been in force is closed at now and a new one opens at now. A version
    that has not been in force yet (the layer starts later, or it was opened this instant) has
    no history to keep and is replaced.
    """
    if rotation == rotation_of(current):
        return current
    if rotation.ends_at is not None and rotation.ends_at <= rotation.starts_at:
        raise InvalidInput("end must be after the layer's start", field="body.end")
    rotation.calculator_layer(layer.id)
    now = _now(session)
    if _effective_from(current) >= now:
        valid_from = current.valid_from
        await session.delete(current)
        await session.flush()
    else:
        current.valid_until = now
        valid_from = now
    version = _new_version(layer.id, rotation, valid_from, now, by)
    session.add(version)
    await session.flush()
    bump_revision(session, schedule)
    return version


# --------------------------------------------------------------------------------- schedules


async def list_schedules(
    session: AsyncSession,
    page: PageParams,
    *,
    q: str | None = None,
    team_id: int | None = None,
) -> tuple[Sequence[Schedule], str | None]:
    stmt = select(Schedule)
    if q:
        stmt = stmt.where(contains_text(Schedule.name, q))
    if team_id is not None:
        stmt = stmt.where(Schedule.team_id == team_id)
    return await paginate(session, stmt, Schedule.id, page)


async def _ensure_name_free(session: AsyncSession, name: str, except_id: int | None) -> None:
    existing = await get_schedule_by_name(session, name)
    if existing is not None and existing.id != except_id:
        raise Conflict(f"a schedule named {name!r} already exists", field="name")


async def _require_team(session: AsyncSession, team_id: int) -> None:
    try:
        await get_team(session, team_id)
    except NotFound:
        raise InvalidInput(f"team {team_id} does not exist", field="body.team_id") from None


async def create_schedule(
    session: AsyncSession, principal: Principal, data: schemas.ScheduleCreate
) -> Schedule:
    principal.require_team_write(data.team_id, "schedules of this team")
    await _require_team(session, data.team_id)
    await _ensure_name_free(session, data.name, None)
    schedule = Schedule(
        name=data.name, team_id=data.team_id, time_zone=data.time_zone, description=data.description
    )
    session.add(schedule)
    await session.flush()
    for index, layer in enumerate(data.layers):
        await _add_layer(
            session, schedule, layer, by=principal.user_id, field=f"body.layers.{index}"
        )
    return schedule


async def update_schedule(
    session: AsyncSession, principal: Principal, schedule_id: int, data: schemas.ScheduleUpdate
) -> Schedule:
    schedule = await writable_schedule(session, principal, schedule_id)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        await _ensure_name_free(session, changes["name"], schedule.id)
    if "team_id" in changes and changes["team_id"] != schedule.team_id:
        principal.require_team_write(changes["team_id"], "schedules of the new team")
        await _require_team(session, changes["team_id"])
    if "time_zone" in changes and changes["time_zone"] != schedule.time_zone:
        await refuse_if_history(session, schedule)
    changed = [k for k, v in changes.items() if getattr(schedule, k) != v]
    for key in changed:
        setattr(schedule, key, changes[key])
    if changed:
        bump_revision(session, schedule)
    await session.flush()
    return schedule


async def refuse_if_history(session: AsyncSession, schedule: Schedule) -> None:
    """A new time zone would move past hand-offs and windows: refuse once anything happened."""
    now = _now(session)
    versions = await repository.load_versions(session, schedule.id)
    overrides = await repository.load_override_rows(session, schedule.id)
    if any(_effective_from(v) < now for v in versions) or any(o.starts_at < now for o in overrides):
        raise Conflict(
            "this schedule already has shifts in the past, and a new time zone would move "
            "them; create a new schedule in the new time zone instead",
            field="time_zone",
        )


async def delete_schedule(session: AsyncSession, principal: Principal, schedule_id: int) -> None:
    schedule = await writable_schedule(session, principal, schedule_id)
    await session.delete(schedule)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(
            "the schedule is still in use (an escalation policy targets it); "
            "remove it from there first"
        ) from None


# ------------------------------------------------------------------------------------ layers


@dataclass(frozen=True)
class LayerView:
    layer: ScheduleLayer
    version: LayerVersion
    time_zone: str  # the schedule's

    @property
    def local_zone(self) -> str:
        """The zone the layer's hand-offs and windows are read in: its own, or the schedule's."""
        return self.version.time_zone or self.time_zone


async def current_layers(session: AsyncSession, schedule: Schedule) -> list[LayerView]:
    """The schedule's live layers with the versions in force now (or from their start)."""
    rows = (
        await session.execute(
            select(ScheduleLayer, LayerVersion)
            .join(LayerVersion, LayerVersion.layer_id == ScheduleLayer.id)
            .where(
                ScheduleLayer.schedule_id == schedule.id,
                ScheduleLayer.deleted_at.is_(None),
                LayerVersion.valid_until.is_(None),
            )
            .options(selectinload(LayerVersion.members))
            .order_by(LayerVersion.priority.desc(), ScheduleLayer.id)
        )
    ).all()
    return [LayerView(layer, version, schedule.time_zone) for layer, version in rows]


async def get_layer(session: AsyncSession, schedule_id: int, layer_id: int) -> LayerView:
    schedule = await get_schedule(session, schedule_id)
    layer = await session.get(ScheduleLayer, layer_id)
    if layer is None or layer.schedule_id != schedule_id or layer.deleted_at is not None:
        raise NotFound(f"layer {layer_id} not found in schedule {schedule_id}")
    return LayerView(layer, await _current_version(session, layer_id), schedule.time_zone)


async def layer_history(
    session: AsyncSession, schedule_id: int, layer_id: int
) -> Sequence[LayerVersion]:
    await get_schedule(session, schedule_id)
    layer = await session.get(ScheduleLayer, layer_id)
    if layer is None or layer.schedule_id != schedule_id:
        raise NotFound(f"layer {layer_id} not found in schedule {schedule_id}")
    stmt = (
        select(LayerVersion)
        .where(LayerVersion.layer_id == layer_id)
        .options(selectinload(LayerVersion.members))
        .order_by(LayerVersion.id)
    )
    return (await session.scalars(stmt)).all()


async def _next_priority(session: AsyncSession, schedule_id: int) -> int:
    highest = await session.scalar(
        select(func.max(LayerVersion.priority))
        .join(ScheduleLayer, ScheduleLayer.id == LayerVersion.layer_id)
        .where(ScheduleLayer.schedule_id == schedule_id, ScheduleLayer.deleted_at.is_(None))
    )
    return (highest or 0) + 1


async def _add_layer(
    session: AsyncSession,
    schedule: Schedule,
    data: schemas.LayerCreate,
    *,
    by: int | None,
    field: str = "body",
) -> LayerView:
    await require_users(session, data.participants, f"{field}.participants")
    await require_users(session, data.shadows, f"{field}.shadows")
    now = _now(session)
    zone = zone_of(data.time_zone or schedule.time_zone)
    starts_at, anchor = place_rotation(data.start, data.handoff_time, zone, now)
    length, unit = schemas.normalize_shift(data.shift_length, data.shift_unit)
    rotation = Rotation(
        priority=data.priority
        if data.priority is not None
        else await _next_priority(session, schedule.id),
        participants=tuple(data.participants),
        shadows=tuple(dict.fromkeys(data.shadows)),
        shift_length=length,
        shift_unit=unit,
        anchor=anchor,
        starts_at=starts_at,
        ends_at=data.end.astimezone(UTC) if data.end else None,
        restrictions=restrictions_key(data.restrictions),
        handoff_rule=data.handoff_rule or default_handoff_rule(length, unit),
        time_zone=data.time_zone,
    )
    if rotation.ends_at is not None and rotation.ends_at <= rotation.starts_at:
        raise InvalidInput("end must be after the layer's start", field=f"{field}.end")
    return await add_layer_rotation(session, schedule, data.name, rotation, by=by)


async def add_layer_rotation(
    session: AsyncSession,
    schedule: Schedule,
    name: str,
    rotation: Rotation,
    *,
    by: int | None,
    config_managed: bool = False,
) -> LayerView:
    """A new layer with its first version; the schedule must be locked by the caller."""
    rotation.calculator_layer(0)
    layer = ScheduleLayer(schedule_id=schedule.id, name=name, config_managed=config_managed)
    session.add(layer)
    await session.flush()
    version = _new_version(layer.id, rotation, None, _now(session), by)
    session.add(version)
    await session.flush()
    bump_revision(session, schedule)
    return LayerView(layer, version, schedule.time_zone)


async def create_layer(
    session: AsyncSession, principal: Principal, schedule_id: int, data: schemas.LayerCreate
) -> LayerView:
    schedule = await writable_schedule(session, principal, schedule_id)
    return await _add_layer(session, schedule, data, by=principal.user_id)


async def _writable_layer(
    session: AsyncSession, principal: Principal, schedule_id: int, layer_id: int
) -> tuple[Schedule, LayerView]:
    schedule = await writable_schedule(session, principal, schedule_id)
    return schedule, await get_layer(session, schedule_id, layer_id)


def _reshape(
    view: LayerView, data: schemas.LayerUpdate, rotation: Rotation, now: datetime
) -> Rotation:
    """Apply start / hand-off / shift / rule / zone changes: the rotation keeps counting from
    its anchor. A new zone keeps the hand-off's local time and the anchor's local date."""
    fields = data.model_fields_set
    old_zone_name = rotation.zone_name(view.time_zone)
    old_zone = zone_of(old_zone_name)
    if {"shift_length", "shift_unit"} & fields:
        if data.shift_unit is not None and data.shift_length is None:
            # "weeks" alone is ambiguous once stored as days: 7 days would become 7 weeks.
            raise InvalidInput("give shift_length with shift_unit", field="body.shift_length")
        length = data.shift_length or rotation.shift_length
        unit = data.shift_unit or rotation.shift_unit.value
        try:
            schemas.check_shift(length, unit)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="body.shift_length") from None
        length, shift_unit = schemas.normalize_shift(length, unit)
        rotation = replace(rotation, shift_length=length, shift_unit=shift_unit)
    if data.handoff_rule is not None:
        rotation = replace(rotation, handoff_rule=data.handoff_rule)
    if "time_zone" in fields:
        rotation = replace(rotation, time_zone=data.time_zone)
    zone = zone_of(rotation.zone_name(view.time_zone))
    handoff = data.handoff_time or handoff_time_of(rotation.anchor, old_zone)
    if "start" in fields and data.start is not None:
        starts_at, anchor = place_rotation(data.start, data.handoff_time, zone, now)
        rotation = replace(rotation, starts_at=starts_at, anchor=anchor)
    elif data.handoff_time is not None or rotation.zone_name(view.time_zone) != old_zone_name:
        day = rotation.anchor.astimezone(old_zone).date()
        rotation = replace(rotation, anchor=local_instant(day, handoff, zone))
    if "end" in fields:
        rotation = replace(rotation, ends_at=data.end.astimezone(UTC) if data.end else None)
    return rotation


def _with_participants(
    view: LayerView,
    rotation: Rotation,
    participants: Sequence[int],
    *,
    keep_current: bool,
    now: datetime,
) -> Rotation:
    """New participants; with ``keep_current`` whoever is on call now finishes their shift."""
    new = tuple(participants)
    if new == rotation.participants:
        return rotation
    anchor = rotation.anchor
    if keep_current:
        current = rotation.calculator_layer(view.layer.id)
        anchor = rebase_anchor(current, new, now, view.time_zone)
    return replace(rotation, participants=new, anchor=anchor)


async def update_layer(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    data: schemas.LayerUpdate,
) -> LayerView:
    schedule, view = await _writable_layer(session, principal, schedule_id, layer_id)
    if data.participants is not None:
        await require_users(session, data.participants, "body.participants")
    if data.shadows is not None:
        await require_users(session, data.shadows, "body.shadows")
    now = _now(session)
    old = rotation_of(view.version)
    rotation = _reshape(view, data, old, now)
    if data.priority is not None:
        rotation = replace(rotation, priority=data.priority)
    if data.shadows is not None:
        rotation = replace(rotation, shadows=tuple(dict.fromkeys(data.shadows)))
    if data.restrictions is not None:
        rotation = replace(rotation, restrictions=restrictions_key(data.restrictions))
    if data.participants is not None:
        shape = ("anchor", "shift_length", "shift_unit", "handoff_rule", "time_zone")
        reshaped = any(getattr(rotation, name) != getattr(old, name) for name in shape)
        rotation = _with_participants(
            view,
            rotation,
            data.participants,
            keep_current=data.keep_current and not reshaped,
            now=now,
        )
    if data.name is not None and data.name != view.layer.name:
        view.layer.name = data.name
        bump_revision(session, schedule)
    version = await revise_rotation(
        session, schedule, view.layer, view.version, rotation, by=principal.user_id
    )
    return LayerView(view.layer, version, schedule.time_zone)


async def delete_layer(
    session: AsyncSession, principal: Principal, schedule_id: int, layer_id: int
) -> None:
    """Stop the layer now; the shifts it already gave people stay in the history."""
    schedule, view = await _writable_layer(session, principal, schedule_id, layer_id)
    await retire_layer(session, schedule, view)


async def retire_layer(session: AsyncSession, schedule: Schedule, view: LayerView) -> None:
    """End a layer at now, keeping its history; one that never was in force just goes."""
    now = _now(session)
    never_in_force = _effective_from(view.version) >= now
    if never_in_force and len(await layer_history(session, schedule.id, view.layer.id)) == 1:
        await session.delete(view.layer)
    else:
        if never_in_force:
            await session.delete(view.version)
        else:
            view.version.valid_until = now
        view.layer.deleted_at = now
    await session.flush()
    bump_revision(session, schedule)


async def _edit_rotation(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    change: Any,
) -> LayerView:
    """Load, apply ``change(view, rotation, now) -> Rotation``, and save from now on."""
    schedule, view = await _writable_layer(session, principal, schedule_id, layer_id)
    now = _now(session)
    rotation = change(view, rotation_of(view.version), now)
    version = await revise_rotation(
        session, schedule, view.layer, view.version, rotation, by=principal.user_id
    )
    return LayerView(view.layer, version, schedule.time_zone)


async def set_participants(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    participants: Sequence[int],
    *,
    keep_current: bool = True,
) -> LayerView:
    await require_users(session, participants, "body.participants")
    return await _edit_rotation(
        session,
        principal,
        schedule_id,
        layer_id,
        lambda view, rotation, now: _with_participants(
            view, rotation, participants, keep_current=keep_current, now=now
        ),
    )


async def add_participant(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    data: schemas.ParticipantAdd,
) -> LayerView:
    await require_user(session, data.user_id, "body.user_id")

    def change(view: LayerView, rotation: Rotation, now: datetime) -> Rotation:
        participants = list(rotation.participants)
        position = len(participants) if data.position is None else data.position
        participants.insert(min(position, len(participants)), data.user_id)
        return _with_participants(view, rotation, participants, keep_current=True, now=now)

    return await _edit_rotation(session, principal, schedule_id, layer_id, change)


async def remove_participant(
    session: AsyncSession, principal: Principal, schedule_id: int, layer_id: int, user_id: int
) -> LayerView:
    def change(view: LayerView, rotation: Rotation, now: datetime) -> Rotation:
        if user_id not in rotation.participants:
            raise NotFound(f"user {user_id} is not a participant of layer {layer_id}")
        remaining = [u for u in rotation.participants if u != user_id]
        if not remaining:
            raise InvalidInput(
                "a rotation needs at least one participant; delete the layer instead",
                field="path.user_id",
            )
        return _with_participants(view, rotation, remaining, keep_current=True, now=now)

    return await _edit_rotation(session, principal, schedule_id, layer_id, change)


async def set_shadows(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    shadows: Sequence[int],
) -> LayerView:
    await require_users(session, shadows, "body.shadows")
    return await _edit_rotation(
        session,
        principal,
        schedule_id,
        layer_id,
        lambda _view, rotation, _now: replace(rotation, shadows=tuple(dict.fromkeys(shadows))),
    )


async def add_shadow(
    session: AsyncSession, principal: Principal, schedule_id: int, layer_id: int, user_id: int
) -> LayerView:
    await require_user(session, user_id, "body.user_id")

    def change(_view: LayerView, rotation: Rotation, _now: datetime) -> Rotation:
        if user_id in rotation.shadows:
            raise Conflict(f"user {user_id} already shadows layer {layer_id}")
        return replace(rotation, shadows=(*rotation.shadows, user_id))

    return await _edit_rotation(session, principal, schedule_id, layer_id, change)


async def remove_shadow(
    session: AsyncSession, principal: Principal, schedule_id: int, layer_id: int, user_id: int
) -> LayerView:
    def change(_view: LayerView, rotation: Rotation, _now: datetime) -> Rotation:
        if user_id not in rotation.shadows:
            raise NotFound(f"user {user_id} does not shadow layer {layer_id}")
        return replace(rotation, shadows=tuple(u for u in rotation.shadows if u != user_id))

    return await _edit_rotation(session, principal, schedule_id, layer_id, change)


async def set_restrictions(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    restrictions: Sequence[schemas.RestrictionIn],
) -> LayerView:
    key = restrictions_key(restrictions)
    return await _edit_rotation(
        session,
        principal,
        schedule_id,
        layer_id,
        lambda _view, rotation, _now: replace(rotation, restrictions=key),
    )


async def add_restriction(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    layer_id: int,
    restriction: schemas.RestrictionIn,
) -> LayerView:
    (key,) = restrictions_key([restriction])
    return await _edit_rotation(
        session,
        principal,
        schedule_id,
        layer_id,
        lambda _view, rotation, _now: replace(rotation, restrictions=(*rotation.restrictions, key)),
    )


async def remove_restriction(
    session: AsyncSession, principal: Principal, schedule_id: int, layer_id: int, index: int
) -> LayerView:
    def change(_view: LayerView, rotation: Rotation, _now: datetime) -> Rotation:
        if not 0 <= index < len(rotation.restrictions):
            raise NotFound(f"layer {layer_id} has no restriction {index}")
        kept = rotation.restrictions[:index] + rotation.restrictions[index + 1 :]
        return replace(rotation, restrictions=kept)

    return await _edit_rotation(session, principal, schedule_id, layer_id, change)
