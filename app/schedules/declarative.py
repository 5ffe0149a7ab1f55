"""``baton apply`` for schedules: layers with participants by e-mail, shadows, overrides.

The file is the truth for what it lists. Applying it twice changes nothing. A layer whose
rotation differs from the file gets a new version from now (the past is never rewritten), with
the rotation counted from the start written in the file. Layers, overrides and schedules that
an earlier apply created and the file no longer has are reported as stale, and removed only
with ``prune`` (a layer or an override that already began keeps its past).

Times without a UTC offset (``start: 2026-01-05T09:00``) are wall-clock times in the
schedule's time zone (a layer's own times in the layer's zone, when it names one); a plain date
starts the rotation at its hand-off time on that date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_clock
from app.core.declarative import (
    Action,
    ApplyReport,
    ConfigFileError,
    UnknownReference,
    assign,
)
from app.core.errors import BatonError
from app.core.schemas import EmailAddress, Name, TimeZoneName
from app.people.models import User
from app.people.schemas import TeamName
from app.people.service import get_team_by_name
from app.schedules import overrides, schemas, service
from app.schedules.models import Schedule, ScheduleOverride
from app.schedules.oncall import HandoffRule, default_handoff_rule
from app.schedules.rotation import (
    DEFAULT_HANDOFF,
    Rotation,
    local_instant,
    place_rotation,
    restrictions_key,
    rotation_of,
    zone_of,
)
from app.schedules.service import LayerView


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


Moment = date | datetime


class LayerSpec(_Strict):
    name: Name
    priority: int | None = Field(
        default=None, ge=0, le=1000, description="Higher wins; default: later layers win."
    )
    participants: list[EmailAddress] = Field(min_length=1, max_length=schemas.MAX_PARTICIPANTS)
    shadows: list[EmailAddress] = Field(default_factory=list)
    shift_unit: schemas.ShiftUnitName = "weeks"
    shift_length: schemas.ShiftLength = 1
    handoff_time: schemas.WallTime | None = None
    start: Moment
    end: Moment | None = None
    restrictions: list[schemas.RestrictionIn] = Field(default_factory=list)
    handoff_rule: HandoffRule | None = Field(default=None, description=schemas.HANDOFF_RULE)
    time_zone: TimeZoneName | None = Field(default=None, description=schemas.LAYER_ZONE)

    _shift_limit = field_validator("shift_length")(schemas._shift_within_a_year)


class OverrideSpec(_Strict):
    start: Moment
    end: Moment
    user: EmailAddress
    replaces: EmailAddress | None = None
    reason: str = Field(default="", max_length=500)


class ScheduleSpec(_Strict):
    name: Name
    team: TeamName
    time_zone: TimeZoneName = "UTC"
    description: str = Field(default="", max_length=2000)
    layers: list[LayerSpec] = Field(default_factory=list, max_length=schemas.MAX_LAYERS)
    overrides: list[OverrideSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_layers(self) -> Self:
        names = [layer.name.lower() for layer in self.layers]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"layers listed twice: {', '.join(duplicates)}")
        return self


class SchedulesSection(_Strict):
    schedules: list[ScheduleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_schedules(self) -> Self:
        names = [s.name.lower() for s in self.schedules]
        if duplicates := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"schedules listed twice: {', '.join(duplicates)}")
        return self


# ---------------------------------------------------------------------------------- apply


async def apply_schedules(
    session: AsyncSession, section: SchedulesSection, report: ApplyReport, *, prune: bool
) -> None:
    emails = _Emails(session)
    for spec in section.schedules:
        try:
            await _apply_schedule(session, spec, emails, report, prune=prune)
        except BatonError as exc:
            raise ConfigFileError(f"schedule {spec.name}: {exc.detail}") from None
    await _stale_schedules(session, {s.name.lower() for s in section.schedules}, report, prune)


class _Emails:
    """E-mail to user id, looked up once per address."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._ids: dict[str, int] = {}
        self._names: dict[int, str] = {}

    async def id(self, email: str, where: str) -> int:
        if email not in self._ids:
            user_id = await self._session.scalar(select(User.id).where(User.email == email))
            if user_id is None:
                raise UnknownReference(f"{where}: {email} is not a user")
            self._ids[email] = user_id
            self._names[user_id] = email
        return self._ids[email]

    def email(self, user_id: int | None) -> str:
        return self._names.get(user_id, str(user_id)) if user_id is not None else "everyone"


async def _apply_schedule(
    session: AsyncSession,
    spec: ScheduleSpec,
    emails: _Emails,
    report: ApplyReport,
    *,
    prune: bool,
) -> None:
    team = await get_team_by_name(session, spec.team)
    if team is None:
        raise UnknownReference(f"schedule {spec.name}: team {spec.team} does not exist")
    existing = await service.get_schedule_by_name(session, spec.name)
    values = {
        "name": spec.name,
        "team_id": team.id,
        "time_zone": spec.time_zone,
        "description": spec.description,
        "config_managed": True,
    }
    if existing is None:
        schedule = Schedule(**values)
        session.add(schedule)
        await session.flush()
        report.add(Action.CREATE, "schedule", spec.name)
    else:
        schedule = await service.lock_schedule(session, existing.id)
        if spec.time_zone != schedule.time_zone:
            await service.refuse_if_history(session, schedule)
        changed = assign(schedule, values)
        if changed:
            service.bump_revision(session, schedule)
        report.add(Action.UPDATE if changed else Action.UNCHANGED, "schedule", spec.name, changed)
    await _apply_layers(session, schedule, spec, emails, report, prune=prune)
    await _apply_overrides(session, schedule, spec, emails, report, prune=prune)


def _instant(value: Moment, zone_name: str, wall: time = time(0)) -> datetime:
    """An instant from a file value: aware as is, naive in the schedule's zone, a date at
    ``wall`` on that date."""
    zone = zone_of(zone_name)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return local_instant(value.date(), value.time(), zone)
        return value.astimezone(UTC)
    return local_instant(value, wall, zone)


async def _rotation(
    spec: LayerSpec, index: int, schedule: Schedule, emails: _Emails, where: str, now: datetime
) -> Rotation:
    zone_name = spec.time_zone or schedule.time_zone
    zone = zone_of(zone_name)
    if isinstance(spec.start, datetime):
        starts_at, anchor = place_rotation(
            _instant(spec.start, zone_name), spec.handoff_time, zone, now
        )
    else:
        starts_at, anchor = place_rotation(
            spec.start, spec.handoff_time or DEFAULT_HANDOFF, zone, now
        )
    length, unit = schemas.normalize_shift(spec.shift_length, spec.shift_unit)
    return Rotation(
        priority=spec.priority if spec.priority is not None else index + 1,
        participants=tuple(
            [await emails.id(e, f"{where} participants") for e in spec.participants]
        ),
        shadows=tuple([await emails.id(e, f"{where} shadows") for e in spec.shadows]),
        shift_length=length,
        shift_unit=unit,
        anchor=anchor,
        starts_at=starts_at,
        ends_at=_instant(spec.end, zone_name) if spec.end is not None else None,
        restrictions=restrictions_key(spec.restrictions),
        handoff_rule=spec.handoff_rule or default_handoff_rule(length, unit),
        time_zone=spec.time_zone,
    )


def _differences(old: Rotation, new: Rotation) -> tuple[str, ...]:
    names = [
        name for name in Rotation.__dataclass_fields__ if getattr(old, name) != getattr(new, name)
    ]
    return tuple(names)


async def _apply_layers(
    session: AsyncSession,
    schedule: Schedule,
    spec: ScheduleSpec,
    emails: _Emails,
    report: ApplyReport,
    *,
    prune: bool,
) -> None:
    now = session_clock(session).now()
    views = await service.current_layers(session, schedule)
    live = {view.layer.name.lower(): view for view in views}
    for index, layer_spec in enumerate(spec.layers):
        key = f"{spec.name} / {layer_spec.name}"
        where = f"schedule {spec.name} layer {layer_spec.name}"
        rotation = await _rotation(layer_spec, index, schedule, emails, where, now)
        if rotation.ends_at is not None and rotation.ends_at <= rotation.starts_at:
            raise UnknownReference(f"{key}: end must be after start")
        view = live.pop(layer_spec.name.lower(), None)
        if view is None:
            await service.add_layer_rotation(
                session, schedule, layer_spec.name, rotation, by=None, config_managed=True
            )
            report.add(Action.CREATE, "layer", key)
            continue
        changed = _differences(rotation_of(view.version), rotation)
        changed += assign(view.layer, {"name": layer_spec.name, "config_managed": True})
        await service.revise_rotation(
            session, schedule, view.layer, view.version, rotation, by=None
        )
        if changed:
            service.bump_revision(session, schedule)
        report.add(Action.UPDATE if changed else Action.UNCHANGED, "layer", key, changed)
    for view in live.values():
        if view.layer.config_managed:
            await _stale_layer(session, schedule, view, report, prune=prune)


async def _stale_layer(
    session: AsyncSession, schedule: Schedule, view: LayerView, report: ApplyReport, *, prune: bool
) -> None:
    key = f"{schedule.name} / {view.layer.name}"
    if prune:
        await service.retire_layer(session, schedule, view)
        report.add(Action.DELETE, "layer", key)
    else:
        report.add(Action.STALE, "layer", key)


async def _apply_overrides(
    session: AsyncSession,
    schedule: Schedule,
    spec: ScheduleSpec,
    emails: _Emails,
    report: ApplyReport,
    *,
    prune: bool,
) -> None:
    now = session_clock(session).now()
    rows = (
        await session.scalars(
            select(ScheduleOverride).where(
                ScheduleOverride.schedule_id == schedule.id,
                ScheduleOverride.config_managed.is_(True),
            )
        )
    ).all()
    unmatched = list(rows)
    for item in spec.overrides:
        where = f"schedule {spec.name} override"
        start = _instant(item.start, schedule.time_zone)
        end = _instant(item.end, schedule.time_zone)
        user_id = await emails.id(item.user, f"{where}.user")
        replaces = await emails.id(item.replaces, f"{where}.replaces") if item.replaces else None
        key = f"{spec.name} {item.user} for {emails.email(replaces)} {start:%Y-%m-%d %H:%M}Z"
        match = _matching(unmatched, start, end, user_id, replaces)
        if match is not None:
            unmatched.remove(match)
            changed = assign(match, {"reason": item.reason})
            report.add(Action.UPDATE if changed else Action.UNCHANGED, "override", key, changed)
        elif end <= now:
            # Over before it was applied: the past is not rewritten, so there is nothing to do.
            report.add(Action.UNCHANGED, "override", f"{key} (in the past)")
        else:
            await overrides.add_override(
                session,
                schedule,
                start=start,
                end=end,
                user_id=user_id,
                replaces_user_id=replaces,
                reason=item.reason,
                created_by_id=None,
                config_managed=True,
            )
            report.add(Action.CREATE, "override", key)
    for row in unmatched:
        if row.ends_at > now:
            await _stale_override(session, schedule, row, emails, report, prune=prune)


def _matching(
    rows: list[ScheduleOverride], start: datetime, end: datetime, user_id: int, replaces: int | None
) -> ScheduleOverride | None:
    """The stored override for a file entry; its start may be later (applied mid-way)."""
    for row in rows:
        if (row.user_id, row.replaces_user_id, row.ends_at) == (user_id, replaces, end) and (
            row.starts_at >= start
        ):
            return row
    return None


async def _stale_override(
    session: AsyncSession,
    schedule: Schedule,
    row: ScheduleOverride,
    emails: _Emails,
    report: ApplyReport,
    *,
    prune: bool,
) -> None:
    key = f"{schedule.name} override {row.id} ({row.starts_at:%Y-%m-%d %H:%M}Z)"
    if prune:
        await overrides.end_override(session, schedule, row)
        report.add(Action.DELETE, "override", key)
    else:
        report.add(Action.STALE, "override", key)


async def _stale_schedules(
    session: AsyncSession, names: set[str], report: ApplyReport, prune: bool
) -> None:
    managed = await session.scalars(select(Schedule).where(Schedule.config_managed.is_(True)))
    for schedule in managed.all():
        if schedule.name.lower() in names:
            continue
        if not prune:
            report.add(Action.STALE, "schedule", schedule.name)
            continue
        try:
            async with session.begin_nested():
                await session.delete(schedule)
        except IntegrityError:
            raise ConfigFileError(
                f"schedule {schedule.name}: still used (an escalation policy targets it); "
                "remove it there first"
            ) from None
        report.add(Action.DELETE, "schedule", schedule.name)
