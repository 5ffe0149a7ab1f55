"""API shapes for schedules, layers, overrides, on-call answers, cover requests and feeds.

Instants in requests must carry a UTC offset (``2026-03-02T09:00:00Z``); answers are in UTC. A
layer's ``start`` may also be a plain date: the rotation then begins at its hand-off time on that
date in the schedule's time zone.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any, Self

from pydantic import (
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from app.core.schemas import (
    Day,
    Id,
    InputModel,
    Instant,
    Line,
    Name,
    OutputModel,
    PatchModel,
    Text,
    TimeZoneName,
)
from app.schedules.models import CoverRequestState, FeedKind
from app.schedules.oncall import MAX_SHIFT_DAYS, MAX_SHIFT_HOURS, HandoffRule, ShiftUnit

MAX_LAYERS = 20
MAX_PARTICIPANTS = 200
MAX_RESTRICTIONS = 28

_WEEKDAY_NAMES = {
    name: number
    for number, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tuesday"),
            ("wed", "wednesday"),
            ("thu", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        ),
        start=1,
    )
    for name in names
}


def _weekday(value: Any) -> Any:
    """ISO weekday numbers (1 = Monday) or English names such as ``mon`` or ``Friday``."""
    if isinstance(value, str) and not value.strip().isdigit():
        number = _WEEKDAY_NAMES.get(value.strip().lower())
        if number is None:
            raise ValueError(f"unknown weekday {value!r}; use 1-7 or mon..sun")
        return number
    return value


# The bounds come first so the document shows them as minimum and maximum.
Weekday = Annotated[int, Field(ge=1, le=7), BeforeValidator(_weekday)]


def _wall_time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("a local time of day such as 09:00") from None
    return value


WallTime = Annotated[time, BeforeValidator(_wall_time)]


def normalize_shift(length: int, unit: str) -> tuple[int, ShiftUnit]:
    if unit == "weeks":
        return length * 7, ShiftUnit.DAYS
    return length, ShiftUnit(unit)


def check_shift(length: int | None, unit: str | None) -> None:
    """Refuse shifts longer than a year (the zero case is refused by the field's ``ge=1``)."""
    if length is None or unit is None:
        return
    days_or_hours, stored = normalize_shift(length, unit)
    limit = MAX_SHIFT_HOURS if stored is ShiftUnit.HOURS else MAX_SHIFT_DAYS
    if days_or_hours > limit:
        raise ValueError(f"a shift lasts at most a year ({limit} {stored.value})")


def _shift_within_a_year(value: int | None, info: ValidationInfo) -> int | None:
    check_shift(value, info.data.get("shift_unit"))
    return value


class RestrictionIn(InputModel):
    weekdays: list[Weekday] = Field(
        min_length=1, max_length=7, description="Days the window starts on: 1-7 or mon..sun."
    )
    start: WallTime = Field(description="Local wall-clock time the window opens, e.g. 09:00.")
    end: WallTime = Field(
        description="Local time it closes; at or before start means the next day (nights)."
    )

    @field_validator("weekdays")
    @classmethod
    def _distinct(cls, value: list[int]) -> list[int]:
        return sorted(set(value))

    @field_validator("start", "end")
    @classmethod
    def _whole_minutes(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local wall-clock time, without a UTC offset")
        if value.second or value.microsecond:
            raise ValueError("whole minutes only (HH:MM)")
        return value


class RestrictionOut(OutputModel):
    weekdays: list[int]
    start: str
    end: str


ShiftLength = Annotated[int, Field(ge=1, le=MAX_SHIFT_HOURS, description="Shift length, > 0.")]
ShiftUnitName = Annotated[str, Field(pattern="^(hours|days|weeks)$")]
Participants = Annotated[list[Id], Field(min_length=1, max_length=MAX_PARTICIPANTS)]
Shadows = Annotated[list[Id], Field(max_length=MAX_PARTICIPANTS)]


HANDOFF_RULE = (
    "wall_clock: hand-offs stay at the same local times, so a shift across a DST change is an "
    "hour shorter or longer; elapsed: every shift lasts exactly its length. Default: wall_clock "
    "for day and week shifts and for hour shifts that divide 24 hours or are a multiple of it, "
    "elapsed for other hour shifts."
)
LAYER_ZONE = (
    "IANA time zone of the layer's hand-offs, start date and restriction windows (follow the "
    "sun: each region on its own clock); null: the schedule's."
)


class LayerCreate(InputModel):
    name: Name
    priority: int | None = Field(
        default=None, ge=0, le=1000, description="Higher wins; default: above every layer."
    )
    participants: Participants = Field(description="User ids in rotation order; may repeat.")
    shadows: Shadows = Field(default_factory=list)
    shift_unit: ShiftUnitName = Field(default="weeks", description="hours, days or weeks.")
    shift_length: ShiftLength = 1
    handoff_time: WallTime | None = Field(
        default=None, description="Local hand-off time; default: the wall time of start."
    )
    start: Instant | Day | None = Field(
        default=None, description="When the rotation begins; default: now."
    )
    end: Instant | None = None
    restrictions: list[RestrictionIn] = Field(default_factory=list, max_length=MAX_RESTRICTIONS)
    handoff_rule: HandoffRule | None = Field(default=None, description=HANDOFF_RULE)
    time_zone: TimeZoneName | None = Field(default=None, description=LAYER_ZONE)

    _shift_limit = field_validator("shift_length")(_shift_within_a_year)


class LayerUpdate(PatchModel):
    nullable = frozenset({"end", "handoff_time", "priority", "start", "time_zone"})

    name: Name | None = None
    priority: int | None = Field(default=None, ge=0, le=1000)
    participants: Participants | None = None
    shadows: Shadows | None = None
    shift_unit: ShiftUnitName | None = None
    shift_length: ShiftLength | None = None
    handoff_time: WallTime | None = None
    start: Instant | Day | None = None
    end: Instant | None = None
    restrictions: list[RestrictionIn] | None = Field(default=None, max_length=MAX_RESTRICTIONS)
    handoff_rule: HandoffRule | None = Field(default=None, description="Kept unless given.")
    time_zone: TimeZoneName | None = Field(
        default=None,
        description="A new zone keeps the hand-off's local time and date; null: the schedule's.",
    )
    keep_current: bool = Field(
        default=True,
        description="When participants change, whoever is on call now finishes their shift.",
    )

    _shift_limit = field_validator("shift_length")(_shift_within_a_year)


class ParticipantsUpdate(InputModel):
    participants: Participants
    keep_current: bool = True


class ParticipantAdd(InputModel):
    user_id: Id
    position: int | None = Field(
        default=None,
        ge=0,
        le=MAX_PARTICIPANTS,
        description="Where to insert (0 = first); default: at the end.",
    )


class ShadowsUpdate(InputModel):
    shadows: Shadows


class ShadowAdd(InputModel):
    user_id: Id


class RestrictionsUpdate(InputModel):
    restrictions: list[RestrictionIn] = Field(max_length=MAX_RESTRICTIONS)


class LayerOut(OutputModel):
    id: int
    schedule_id: int
    name: str
    priority: int
    participants: list[int]
    shadows: list[int]
    shift_length: int
    shift_unit: ShiftUnit
    handoff_time: str = Field(description="Local hand-off time in the layer's time zone.")
    handoff_rule: HandoffRule
    time_zone: str | None = Field(description="The layer's own time zone; null: the schedule's.")
    start: datetime
    end: datetime | None
    anchor: datetime = Field(description="The rotation's first hand-off.")
    restrictions: list[RestrictionOut]
    version_id: int
    version_valid_from: datetime | None
    deleted_at: datetime | None = None


class LayerVersionOut(OutputModel):
    id: int
    layer_id: int
    valid_from: datetime | None
    valid_until: datetime | None
    priority: int
    participants: list[int]
    shadows: list[int]
    shift_length: int
    shift_unit: ShiftUnit
    handoff_rule: HandoffRule
    time_zone: str | None
    anchor: datetime
    start: datetime
    end: datetime | None
    restrictions: list[RestrictionOut]
    created_at: datetime
    created_by_id: int | None


class ScheduleCreate(InputModel):
    name: Name
    team_id: Id
    time_zone: TimeZoneName = "UTC"
    description: Text = Field(default="", max_length=2000)
    layers: list[LayerCreate] = Field(default_factory=list, max_length=MAX_LAYERS)


class ScheduleUpdate(PatchModel):
    name: Name | None = None
    team_id: Id | None = None
    time_zone: TimeZoneName | None = None
    description: Text | None = Field(default=None, max_length=2000)


class ScheduleOut(OutputModel):
    id: int
    name: str
    team_id: int
    time_zone: str
    description: str
    revision: int
    created_at: datetime
    updated_at: datetime


class ScheduleDetail(ScheduleOut):
    layers: list[LayerOut]


# -------------------------------------------------------------------------------- overrides


def _after_start(value: datetime | None, info: ValidationInfo) -> datetime | None:
    start = info.data.get("start")
    if value is not None and start is not None and value <= start:
        raise ValueError("end must be after start")
    return value


class OverrideCreate(InputModel):
    start: Instant
    end: Instant
    user_id: Id = Field(description="Who covers.")
    replaces_user_id: Id | None = Field(
        default=None, description="Whom they replace; omit to take the whole schedule."
    )
    reason: Text = Field(default="", max_length=500)

    _end_after_start = field_validator("end")(_after_start)


class OverrideUpdate(PatchModel):
    nullable = frozenset({"reason", "replaces_user_id"})

    start: Instant | None = None
    end: Instant | None = None
    user_id: Id | None = None
    replaces_user_id: Id | None = None
    reason: Text | None = Field(default=None, max_length=500)

    _end_after_start = field_validator("end")(_after_start)


class OverrideOut(OutputModel):
    id: int
    schedule_id: int
    start: datetime = Field(validation_alias="starts_at")
    end: datetime = Field(validation_alias="ends_at")
    user_id: int
    replaces_user_id: int | None
    created_by_id: int | None
    reason: str
    created_at: datetime


# ------------------------------------------------------------------------------- answers


class CoveredSourceOut(OutputModel):
    """One step down a chain of covers: the source that had put ``user_id`` on call."""

    source_kind: str = Field(description="'layer' or 'override'.")
    source_id: int
    source_name: str
    user_id: int
    name: str


COVERING = (
    "What an override stands in for, nearest first, down to the layer: carl's override "
    "covering bob's override covering anna's layer. Empty for a layer."
)


class AssignmentOut(OutputModel):
    user_id: int
    name: str
    email: str
    source_kind: str = Field(description="'layer' or 'override'.")
    source_id: int
    source_name: str
    covering: list[CoveredSourceOut] = Field(default_factory=list, description=COVERING)


class OnCallOut(OutputModel):
    schedule_id: int
    schedule_name: str
    team_id: int
    time_zone: str
    at: datetime
    responders: list[AssignmentOut]
    shadows: list[AssignmentOut]
    since: datetime | None = Field(
        description="The hand-off that put these people on call (looked for up to 366 days back)."
    )
    until: datetime | None = Field(
        description="The next hand-off: when the set of responders changes; null if it does not "
        "within 366 days. The same person moving to another layer or override is no hand-off."
    )
    source_since: datetime | None = Field(
        default=None, description="Since when the responders' sources are as listed."
    )
    source_until: datetime | None = Field(
        default=None,
        description="Until when the responders' sources stay as listed (a layer shift may end "
        "before `until` when the same person carries on through an override); null if never.",
    )
    next_responders: list[AssignmentOut] = Field(description="Who is on call from `until`.")


class ShiftOut(OutputModel):
    start: datetime
    end: datetime
    user_id: int
    name: str
    shadow: bool
    source_kind: str
    source_id: int
    source_name: str
    covering: list[CoveredSourceOut] = Field(default_factory=list, description=COVERING)


class FinalScheduleOut(OutputModel):
    schedule_id: int
    time_zone: str
    start: datetime
    end: datetime
    shifts: list[ShiftOut]


class LayerShiftsOut(OutputModel):
    """One layer's own rotation over a window, as if it were alone and nothing overrode it."""

    layer_id: int
    name: str
    priority: int
    shifts: list[ShiftOut]


class GapOut(OutputModel):
    start: datetime
    end: datetime
    minutes: float


class GapsOut(OutputModel):
    schedule_id: int
    start: datetime
    end: datetime
    gaps: list[GapOut]
    uncovered_minutes: float


class NextShiftOut(OutputModel):
    user_id: int
    schedule_id: int | None = None
    schedule_name: str | None = None
    shift: ShiftOut | None = Field(description="Null when no shift starts within the horizon.")


class PersonLoadOut(OutputModel):
    user_id: int
    name: str
    time_zone: str
    kind: str = Field(description="dev, ops or mixed, from the person's team memberships.")
    business_hours: float
    evening_hours: float
    night_hours: float
    weekend_hours: float
    total_hours: float
    shadow_hours: float


class LoadOut(OutputModel):
    schedule_ids: list[int]
    start: datetime
    end: datetime
    total_hours: float
    dev_share: float
    ops_share: float
    mixed_share: float
    people: list[PersonLoadOut]


# ---------------------------------------------------------------------------- cover requests


class CoverRequestCreate(InputModel):
    start: Instant
    end: Instant
    message: Text = Field(default="", max_length=500)
    requester_id: Id | None = Field(
        default=None, description="Admins may ask on someone's behalf; default: yourself."
    )

    _end_after_start = field_validator("end")(_after_start)


class CoverRequestOut(OutputModel):
    id: int
    schedule_id: int
    requester_id: int
    start: datetime
    end: datetime
    message: str
    state: CoverRequestState
    accepted_by_id: int | None
    accepted_at: datetime | None
    cancelled_at: datetime | None
    override_id: int | None
    created_at: datetime


# -------------------------------------------------------------------------------- feeds


class FeedCreate(InputModel):
    schedule_id: Id | None = Field(default=None, description="A feed of one schedule's shifts.")
    user_id: Id | None = Field(
        default=None, description="A feed of one person's shifts on every schedule."
    )
    name: Line = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _one_subject(self) -> Self:
        if (self.schedule_id is None) == (self.user_id is None):
            raise ValueError("give exactly one of schedule_id or user_id")
        return self


class FeedOut(OutputModel):
    id: int
    kind: FeedKind
    schedule_id: int | None
    user_id: int | None
    owner_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class FeedCreated(FeedOut):
    token: str = Field(description="The secret; shown only in this answer.")
    url: str = Field(description="The calendar URL to subscribe to; keep it secret.")


# -------------------------------------------------------------------------- preferences


class PreferencesOut(OutputModel):
    user_id: int
    reminder_lead_minutes: int
    reminders_enabled: bool


class PreferencesUpdate(PatchModel):
    reminder_lead_minutes: int | None = Field(default=None, ge=0, le=1440)
    reminders_enabled: bool | None = None
