"""The pure on-call calculator: who is on call for a schedule at an instant, and over a window.

No database, HTTP, settings or clock: every answer is a function of the schedule (layers and
overrides) and the instant or window asked for. Instants come in as aware datetimes in any zone
and go out as aware UTC datetimes.

Model
-----
* A layer is a rotation: shift ``k`` belongs to ``participants[k % len(participants)]`` and shift
  0 starts at the anchor. ``DAYS`` shifts start at the anchor's local wall-clock time,
  ``k * shift_length`` local calendar days after the anchor's local date (a 09:00 hand-off stays
  09:00 local across DST). ``HOURS`` shifts start every ``shift_length`` hours of absolute time.
* Restrictions are weekly windows of local wall-clock time; outside them the layer puts nobody on
  call, while its rotation keeps counting in the background.
* Where layers overlap, the highest priority with someone on call wins. Layers of equal priority
  that are on call at the same time are co-responders: all of them are paged.
* An override without ``replaces_user_id`` makes its user the sole responder over its range (it
  fills gaps too); one with ``replaces_user_id`` swaps that person out wherever the layers made
  them a responder. Between overlapping overrides of the same kind the highest ``override_id``
  (the most recently created) wins; replacements are not chained.
* Shadows of a layer accompany it whenever it supplies the responder (also when an override
  replaced that responder), except during a whole-schedule override; a user who is a responder at
  that instant is never listed as a shadow as well.

DST rule
--------
A local wall-clock time is turned into an instant with ``fold=0``, which is what ``zoneinfo`` does:

* a nonexistent time (spring-forward gap) moves forward by the length of the gap: 02:30 on a New
  York spring-forward day is 03:30 EDT;
* an ambiguous time (fall-back) is its first, earlier occurrence: 01:30 on a New York fall-back
  day is 01:30 EDT.

Hand-offs of ``DAYS`` layers, restriction window edges and local-midnight boundaries all follow
this rule; a restriction window ending at the same wall time as it starts lasts until that wall
time on the next local day (23 or 25 hours on DST days).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from itertools import chain, pairwise
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "MAX_SHIFT_DAYS",
    "MAX_SHIFT_HOURS",
    "MAX_WINDOW",
    "Assignment",
    "CompiledSchedule",
    "Layer",
    "OnCall",
    "Override",
    "Restriction",
    "ScheduleSpec",
    "Shift",
    "ShiftUnit",
    "SourceKind",
    "compile_schedule",
    "conflicting_overrides",
    "final_schedule",
    "gaps",
    "next_shift_for_user",
    "on_call_at",
    "rebase_anchor",
    "validate_layer",
]

MAX_SHIFT_HOURS = 8784
MAX_SHIFT_DAYS = 366
MAX_WINDOW = timedelta(days=366)

SourceKind = Literal["layer", "override"]

_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)  # datetimes resolve microseconds: the instant just before
_BEGINNING = datetime.min.replace(tzinfo=UTC)  # sentinels: never converted to local time
_FOREVER = datetime.max.replace(tzinfo=UTC)
_MIDNIGHT = time(0)
_NOON = time(12)
_WEEK_MICROSECONDS = 7 * 24 * 3600 * 1_000_000
_DAY_MICROSECONDS = 24 * 3600 * 1_000_000
# Safety net for the walk to the end of the current shift. The walk always terminates well before
# (every relevant layer changes its assignment within one rotation cycle or one week), so hitting
# this means a bug, and a finite answer is better than a hung request.
_MAX_WALK_STEPS = 100_000
# How far next_shift_for_user looks around its window to find the true bounds of a shift.
_MAX_SHIFT_EXTENSION = MAX_WINDOW


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


class ShiftUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"


@dataclass(frozen=True, slots=True)
class Restriction:
    """A weekly window of local wall-clock time, starting on each of ``weekdays`` (ISO 1..7).

    ``end <= start`` crosses midnight into the next day; ``end == start`` lasts until the same
    wall time on the next day.
    """

    weekdays: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays", frozenset(self.weekdays))
        if not self.weekdays:
            raise ValueError("a restriction needs at least one weekday")
        if not all(isinstance(day, int) and 1 <= day <= 7 for day in self.weekdays):
            raise ValueError("restriction weekdays are ISO weekdays 1 (Monday) to 7 (Sunday)")
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise ValueError(f"restriction {name} must be a time of day")
            if value.tzinfo is not None:
                raise ValueError(f"restriction {name} is a local wall-clock time without tzinfo")
            # The DST rule resolves every wall time with fold=0; a stray fold=1 must not leak in.
            object.__setattr__(self, name, value.replace(fold=0))

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True, slots=True)
class Layer:
    layer_id: int
    priority: int
    participants: tuple[int, ...]
    shadows: tuple[int, ...]
    shift_length: int
    shift_unit: ShiftUnit
    anchor: datetime
    restrictions: tuple[Restriction, ...] = ()
    active_from: datetime | None = None
    active_until: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "participants", tuple(self.participants))
        object.__setattr__(self, "shadows", tuple(self.shadows))
        object.__setattr__(self, "restrictions", tuple(self.restrictions))
        try:
            object.__setattr__(self, "shift_unit", ShiftUnit(self.shift_unit))
        except ValueError:
            raise ValueError(
                f"layer {self.layer_id}: shift unit must be 'hours' or 'days', "
                f"not {self.shift_unit!r}"
            ) from None
        validate_layer(self)


@dataclass(frozen=True, slots=True)
class Override:
    """``user_id`` covers ``[start, end)``: the whole schedule, or only ``replaces_user_id``."""

    override_id: int
    start: datetime
    end: datetime
    user_id: int
    replaces_user_id: int | None = None

    def __post_init__(self) -> None:
        _require_aware(self.start, f"override {self.override_id} start")
        _require_aware(self.end, f"override {self.override_id} end")
        if _instant_order(self.end) <= _instant_order(self.start):
            raise ValueError(f"override {self.override_id}: end must be after start")
        if self.replaces_user_id == self.user_id:
            raise ValueError(f"override {self.override_id}: a user cannot replace themselves")

    @property
    def replaces_everyone(self) -> bool:
        return self.replaces_user_id is None


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    time_zone: str
    layers: tuple[Layer, ...]
    overrides: tuple[Override, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        _zone(self.time_zone)


def validate_layer(layer: Layer) -> None:
    """Raise ``ValueError`` if the layer cannot be computed (the dataclass calls this itself)."""
    label = f"layer {layer.layer_id}"
    limit = MAX_SHIFT_HOURS if layer.shift_unit is ShiftUnit.HOURS else MAX_SHIFT_DAYS
    if not isinstance(layer.shift_length, int) or isinstance(layer.shift_length, bool):
        raise ValueError(f"{label}: shift length must be a whole number")
    if layer.shift_length <= 0:
        raise ValueError(f"{label}: shift length must be positive")
    if layer.shift_length > limit:
        raise ValueError(f"{label}: shift length must be at most {limit} {layer.shift_unit}")
    if not layer.participants:
        raise ValueError(f"{label}: a rotation needs at least one participant")
    _require_aware(layer.anchor, f"{label} anchor")
    if layer.active_from is not None:
        _require_aware(layer.active_from, f"{label} active_from")
    if layer.active_until is not None:
        _require_aware(layer.active_until, f"{label} active_until")
    if (
        layer.active_from is not None
        and layer.active_until is not None
        and _instant_order(layer.active_until) < _instant_order(layer.active_from)
    ):
        raise ValueError(f"{label}: active_until must not be before active_from")
    if not all(isinstance(rule, Restriction) for rule in layer.restrictions):
        raise ValueError(f"{label}: restrictions must be Restriction objects")


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assignment:
    user_id: int
    shadow: bool
    source_kind: SourceKind
    source_id: int


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call at ``at``; the shift bounds are those of the responders' answer.

    ``shift_start``/``shift_end`` bound the interval around ``at`` during which the responders do
    not change (None when nobody is on call; ``shift_end`` is None when they never change).
    """

    at: datetime
    responders: tuple[Assignment, ...]
    shadows: tuple[Assignment, ...]
    shift_start: datetime | None
    shift_end: datetime | None


@dataclass(frozen=True, slots=True)
class Shift:
    start: datetime
    end: datetime
    user_id: int
    shadow: bool
    source_kind: SourceKind
    source_id: int


# (user_id, shadow, source_kind, source_id): the fields of Assignment and of Shift after the
# bounds. Plain tuples keep the window sweep fast; they become dataclasses at the edge.
_Key = tuple[int, bool, str, int]


# ---------------------------------------------------------------------------------------------
# Small time helpers
# ---------------------------------------------------------------------------------------------


def _require_aware(value: datetime, what: str) -> None:
    if not isinstance(value, datetime):
        raise ValueError(f"{what} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")


def _instant_order(value: datetime) -> datetime:
    """A value to compare instants by.

    Python compares two datetimes sharing a tzinfo by their wall-clock fields, which misorders
    the repeated hour of a fall-back; in UTC the order is the order of instants.
    """
    return value.astimezone(UTC)


def _as_utc(value: datetime, what: str) -> datetime:
    _require_aware(value, what)
    return value.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}") from None


@lru_cache(maxsize=16_384)
def _local_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant of a local wall-clock time under the DST rule (``wall`` has fold=0).

    Memoised: a query converts the same hand-off and window edges several times while it walks
    to the end of a shift, and schedules sharing a zone share their edges. The cache is bounded
    (a few MB) and only remembers a pure function.
    """
    return datetime.combine(day, wall, zone).astimezone(UTC)


class _ZoneTime:
    """Local wall-clock times of one zone, to and from instants."""

    __slots__ = ("zone",)

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone

    def instant(self, day: date, wall: time) -> datetime:
        return _local_to_utc(day, wall, self.zone)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(self.zone).date()


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _as_utc(start, "window start"), _as_utc(end, "window end")
    if end <= start:
        raise ValueError("window end must be after its start")
    if end - start > MAX_WINDOW:
        raise ValueError(f"window must be at most {MAX_WINDOW.days} days long")
    return start, end


def _merge_intervals(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Sorted union; touching intervals join, so adjacent windows do not cut a shift."""
    intervals.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


# ---------------------------------------------------------------------------------------------
# Rotation arithmetic
# ---------------------------------------------------------------------------------------------


class _Rotation:
    """Shift bounds of a rotation, by index, computed arithmetically from the anchor."""

    __slots__ = ("_anchor_date", "_length_days", "_local", "_step", "_wall", "anchor")

    def __init__(self, anchor: datetime, unit: ShiftUnit, length: int, local: _ZoneTime) -> None:
        self.anchor = anchor
        self._local = local
        self._step: timedelta | None = timedelta(hours=length) if unit is ShiftUnit.HOURS else None
        self._length_days = length
        local_anchor = anchor.astimezone(local.zone)
        self._anchor_date = local_anchor.date()
        self._wall = local_anchor.time().replace(fold=0)

    @property
    def hand_off_wall_time(self) -> time:
        return self._wall

    def hand_off_day(self, index: int) -> date:
        """The local date on which shift ``index`` of a ``DAYS`` rotation is meant to start."""
        return self._anchor_date + timedelta(days=index * self._length_days)

    def start_of(self, index: int) -> datetime:
        # Shift 0 is the anchor itself, even if the anchor is the second occurrence of an
        # ambiguous wall time that the DST rule would resolve an hour earlier.
        if index == 0:
            return self.anchor
        if self._step is not None:
            return self.anchor + index * self._step
        return _local_to_utc(self.hand_off_day(index), self._wall, self._local.zone)

    def shift_at(self, instant: datetime) -> tuple[int, datetime, datetime]:
        """(index, start, end) of the shift containing ``instant``; the index may be negative."""
        if self._step is not None:
            index = (instant - self.anchor) // self._step
            return index, self.start_of(index), self.start_of(index + 1)
        local_day = self._local.local_date(instant)
        index = (local_day - self._anchor_date).days // self._length_days
        # The calendar guess is off by one near a hand-off whose wall time DST moved, or when a
        # fall-back at midnight makes the local date step backwards.
        start = self.start_of(index)
        while instant < start:
            index -= 1
            start = self.start_of(index)
        end = self.start_of(index + 1)
        while instant >= end:
            index, start, end = index + 1, end, self.start_of(index + 2)
        return index, start, end


# ---------------------------------------------------------------------------------------------
# Restriction windows
# ---------------------------------------------------------------------------------------------


_ExactRuns = tuple[list[tuple[datetime, datetime]], datetime, datetime]


class _Windows:
    """The union of a layer's restriction windows, as UTC intervals."""

    __slots__ = ("_near_day", "_rules", "local")
    # One query looks at the same local day several times while it walks to the end of a
    # shift; remembering a few days makes those lookups free without growing with history.
    _NEAR_DAY_LIMIT = 64

    def __init__(self, restrictions: Sequence[Restriction], local: _ZoneTime) -> None:
        self.local = local
        self._rules = tuple(
            (rule.weekdays, rule.start, rule.end, _ONE_DAY if rule.crosses_midnight else None)
            for rule in restrictions
        )
        self._near_day: dict[date, _ExactRuns] = {}

    def on_dates(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """Merged windows that start on local dates ``first`` to ``last`` inclusive."""
        zone = self.local.zone
        windows: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            weekday = day.isoweekday()
            for weekdays, start, end, crossing in self._rules:
                if weekday in weekdays:
                    end_day = day + crossing if crossing is not None else day
                    windows.append(
                        (_local_to_utc(day, start, zone), _local_to_utc(end_day, end, zone))
                    )
            day += _ONE_DAY
        return _merge_intervals(windows)

    def piece_at(self, instant: datetime) -> tuple[bool, datetime, datetime]:
        """Whether ``instant`` is inside a window, and bounds within which that stays true."""
        runs, exact_from, exact_until = self._runs_near(self.local.local_date(instant))
        previous_end = exact_from
        for start, end in runs:
            if instant < start:
                return False, max(previous_end, exact_from), min(start, exact_until)
            if instant < end:
                return True, max(start, exact_from), min(end, exact_until)
            previous_end = end
        return False, max(previous_end, exact_from), exact_until

    def _runs_near(self, day: date) -> _ExactRuns:
        """Windows around a local day, and the span over which they are the exact union."""
        found = self._near_day.get(day)
        if found is None:
            if len(self._near_day) >= self._NEAR_DAY_LIMIT:
                self._near_day.clear()
            runs = self.on_dates(day - 2 * _ONE_DAY, day + _ONE_DAY)
            # A window lasts at most a day plus an hour or two of DST, so windows of dates
            # before day-2 end before noon of day-1, and windows of dates after day+1 start
            # after day+2 00:00: between those two instants the union above is exact.
            exact_from = self.local.instant(day - _ONE_DAY, _NOON)
            exact_until = self.local.instant(day + 2 * _ONE_DAY, _MIDNIGHT)
            found = self._near_day[day] = (runs, exact_from, exact_until)
        return found


def _covers_whole_week(restrictions: Sequence[Restriction]) -> bool:
    """True when the windows leave no hole, so the layer is effectively unrestricted.

    Windows are compared on the wall clock: two windows meeting at the same wall time meet at the
    same instant under the DST rule, so a wall-clock tiling is a tiling of time.
    """
    spans: list[tuple[int, int]] = []
    for rule in restrictions:
        start = _micro_of_day(rule.start)
        length = (_micro_of_day(rule.end) - start) % _DAY_MICROSECONDS or _DAY_MICROSECONDS
        for weekday in rule.weekdays:
            begin = (weekday - 1) * _DAY_MICROSECONDS + start
            spans.append((begin, begin + length))
            if begin + length > _WEEK_MICROSECONDS:  # Sunday night spills into Monday
                spans.append((0, begin + length - _WEEK_MICROSECONDS))
    covered_until = 0
    for begin, end in sorted(spans):
        if begin > covered_until:
            return False
        covered_until = max(covered_until, end)
    return covered_until >= _WEEK_MICROSECONDS


def _micro_of_day(wall: time) -> int:
    return ((wall.hour * 60 + wall.minute) * 60 + wall.second) * 1_000_000 + wall.microsecond


# ---------------------------------------------------------------------------------------------
# One layer over time
# ---------------------------------------------------------------------------------------------

_LayerState = tuple[int | None, datetime, datetime]  # (user or None, stays so from, until)
_Piece = tuple[datetime, datetime, int]  # (start, end, user)


class _LayerTimeline:
    """A layer compiled for queries: who it puts on call, when, and for how long."""

    __slots__ = (
        "_constant_user",
        "_rotation",
        "_windows",
        "layer",
        "layer_id",
        "participants",
        "priority",
        "shadows",
        "valid_from",
        "valid_until",
    )

    def __init__(self, layer: Layer, local: _ZoneTime) -> None:
        anchor = layer.anchor.astimezone(UTC)
        self.layer = layer
        self.layer_id = layer.layer_id
        self.priority = layer.priority
        self.participants = layer.participants
        self.shadows = tuple(dict.fromkeys(layer.shadows))
        active_from = _BEGINNING if layer.active_from is None else layer.active_from
        self.valid_from = max(anchor, active_from.astimezone(UTC))
        self.valid_until = (
            _FOREVER if layer.active_until is None else layer.active_until.astimezone(UTC)
        )
        distinct = set(layer.participants)
        self._constant_user = next(iter(distinct)) if len(distinct) == 1 else None
        self._rotation = _Rotation(anchor, layer.shift_unit, layer.shift_length, local)
        restrictions = layer.restrictions
        needs_windows = bool(restrictions) and not _covers_whole_week(restrictions)
        self._windows = _Windows(restrictions, local) if needs_windows else None

    def state_at(self, instant: datetime) -> _LayerState:
        """Who this layer puts on call at ``instant``, with bounds within which that holds.

        The bounds are not necessarily maximal (a later call may find the same answer); they are
        only guaranteed to contain ``instant`` and to have one answer throughout.
        """
        if self.valid_from >= self.valid_until:
            return None, _BEGINNING, _FOREVER
        if instant < self.valid_from:
            return None, _BEGINNING, self.valid_from
        if instant >= self.valid_until:
            return None, self.valid_until, _FOREVER
        user, low, high = self._rotation_state(instant)
        if self._windows is not None:
            inside, window_low, window_high = self._windows.piece_at(instant)
            if inside:
                low, high = max(low, window_low), min(high, window_high)
            else:
                user, low, high = None, window_low, window_high
        return user, max(low, self.valid_from), min(high, self.valid_until)

    def _rotation_state(self, instant: datetime) -> _LayerState:
        if self._constant_user is not None:
            return self._constant_user, self.valid_from, self.valid_until
        index, start, end = self._rotation.shift_at(instant)
        return self.participants[index % len(self.participants)], start, end

    def pieces(self, start: datetime, end: datetime) -> list[_Piece]:
        """Sorted, disjoint on-call pieces within ``[start, end)``, cut at every shift edge."""
        low, high = max(start, self.valid_from), min(end, self.valid_until)
        if low >= high:
            return []
        shifts = self._rotation_pieces(low, high)
        if self._windows is None:
            return shifts
        local = self._windows.local
        windows = self._windows.on_dates(
            local.local_date(low) - 2 * _ONE_DAY, local.local_date(high) + _ONE_DAY
        )
        return _intersect(shifts, windows)

    def _rotation_pieces(self, low: datetime, high: datetime) -> list[_Piece]:
        if self._constant_user is not None:
            return [(low, high, self._constant_user)]
        participants, count = self.participants, len(self.participants)
        index, start, end = self._rotation.shift_at(low)
        pieces: list[_Piece] = []
        while start < high:
            pieces.append((max(start, low), min(end, high), participants[index % count]))
            index += 1
            start, end = end, self._rotation.start_of(index + 1)
        return pieces


def _intersect(pieces: list[_Piece], windows: list[tuple[datetime, datetime]]) -> list[_Piece]:
    result: list[_Piece] = []
    i = j = 0
    while i < len(pieces) and j < len(windows):
        piece_start, piece_end, user = pieces[i]
        window_start, window_end = windows[j]
        start, end = max(piece_start, window_start), min(piece_end, window_end)
        if start < end:
            result.append((start, end, user))
        if piece_end <= window_end:
            i += 1
        else:
            j += 1
    return result


# ---------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _OverrideCover:
    """The overrides in force over one stretch between consecutive override edges."""

    whole: Override | None
    replacements: dict[int, Override] = field(hash=False)


class _OverrideIndex:
    """Overrides cut at every start and end, so a lookup is one bisect."""

    __slots__ = ("_bounds", "_covers")

    def __init__(self, overrides: Iterable[Override]) -> None:
        timed = sorted(
            ((o.start.astimezone(UTC), o.end.astimezone(UTC), o) for o in overrides),
            key=lambda item: item[0],
        )
        self._bounds = sorted({start for start, _, _ in timed} | {end for _, end, _ in timed})
        self._covers = self._sweep(timed)

    def _sweep(
        self, timed: list[tuple[datetime, datetime, Override]]
    ) -> list[_OverrideCover | None]:
        covers: list[_OverrideCover | None] = []
        active: list[tuple[datetime, datetime, Override]] = []
        next_override = 0
        for low in self._bounds[:-1]:
            active = [item for item in active if item[1] > low]
            while next_override < len(timed) and timed[next_override][0] <= low:
                active.append(timed[next_override])
                next_override += 1
            covers.append(_cover_of([item[2] for item in active]))
        return covers

    def cover_at(self, instant: datetime) -> tuple[_OverrideCover | None, datetime, datetime]:
        bounds = self._bounds
        if not bounds:
            return None, _BEGINNING, _FOREVER
        index = bisect.bisect_right(bounds, instant) - 1
        if index < 0:
            return None, _BEGINNING, bounds[0]
        if index >= len(bounds) - 1:
            return None, bounds[-1], _FOREVER
        return self._covers[index], bounds[index], bounds[index + 1]

    def stretches(
        self, start: datetime, end: datetime
    ) -> list[tuple[datetime, datetime, _OverrideCover | None]]:
        """Consecutive stretches tiling ``[start, end)``, each with the cover in force."""
        stretches = []
        cursor = start
        while cursor < end:
            cover, _, high = self.cover_at(cursor)
            high = min(high, end)
            stretches.append((cursor, high, cover))
            cursor = high
        return stretches


def _cover_of(active: list[Override]) -> _OverrideCover | None:
    """The winners among the overrides in force: the newest wins within each kind."""
    if not active:
        return None
    whole: Override | None = None
    replacements: dict[int, Override] = {}
    for candidate in active:
        replaced = candidate.replaces_user_id
        if replaced is None:
            if whole is None or _is_newer(candidate, whole):
                whole = candidate
        elif replaced not in replacements or _is_newer(candidate, replacements[replaced]):
            replacements[replaced] = candidate
    return _OverrideCover(whole, replacements)


def _is_newer(candidate: Override, current: Override) -> bool:
    return (candidate.override_id, candidate.start) > (current.override_id, current.start)


# ---------------------------------------------------------------------------------------------
# Compiled schedule and the combination rule
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledSchedule:
    """A schedule prepared for many queries: compile once, ask often."""

    spec: ScheduleSpec
    zone: ZoneInfo
    layers: tuple[_LayerTimeline, ...]  # highest priority first
    overrides: _OverrideIndex


def compile_schedule(spec: ScheduleSpec) -> CompiledSchedule:
    zone = _zone(spec.time_zone)
    local = _ZoneTime(zone)
    ordered = sorted(spec.layers, key=lambda layer: (-layer.priority, layer.layer_id))
    return CompiledSchedule(
        spec=spec,
        zone=zone,
        layers=tuple(_LayerTimeline(layer, local) for layer in ordered),
        overrides=_OverrideIndex(spec.overrides),
    )


def _compiled(schedule: ScheduleSpec | CompiledSchedule) -> CompiledSchedule:
    if isinstance(schedule, CompiledSchedule):
        return schedule
    return compile_schedule(schedule)


_Winners = Sequence[tuple[_LayerTimeline, int]]


def _combine(
    winners: _Winners, cover: _OverrideCover | None
) -> tuple[tuple[_Key, ...], tuple[_Key, ...]]:
    """Responders and shadows from the winning layers' users and the overrides in force."""
    if cover is not None and cover.whole is not None:
        return ((cover.whole.user_id, False, "override", cover.whole.override_id),), ()
    replacements = cover.replacements if cover is not None else {}
    responders: set[_Key] = set()
    for timeline, user in winners:
        replacement = replacements.get(user)
        if replacement is None:
            responders.add((user, False, "layer", timeline.layer_id))
        else:
            responders.add((replacement.user_id, False, "override", replacement.override_id))
    responder_users = {key[0] for key in responders}
    shadows = {
        (shadow, True, "layer", timeline.layer_id)
        for timeline, _ in winners
        for shadow in timeline.shadows
        if shadow not in responder_users
    }
    return tuple(sorted(responders)), tuple(sorted(shadows))


class _Snapshot(NamedTuple):
    responders: tuple[_Key, ...]
    shadows: tuple[_Key, ...]
    low: datetime  # the answer is the same over [low, high)
    high: datetime


def _snapshot(schedule: CompiledSchedule, instant: datetime) -> _Snapshot:
    cover, low, high = schedule.overrides.cover_at(instant)
    if cover is not None and cover.whole is not None:
        return _Snapshot(*_combine((), cover), low, high)
    winners: list[tuple[_LayerTimeline, int]] = []
    top_priority: int | None = None
    for timeline in schedule.layers:
        # While the winners stay on call, a lower layer cannot change the answer: skipping it
        # keeps its hand-offs from cutting the bounds.
        if top_priority is not None and timeline.priority < top_priority:
            break
        user, layer_low, layer_high = timeline.state_at(instant)
        low, high = max(low, layer_low), min(high, layer_high)
        if user is not None:
            top_priority = timeline.priority
            winners.append((timeline, user))
    return _Snapshot(*_combine(winners, cover), low, high)


_Stretch = tuple[datetime, datetime, tuple[_Key, ...], tuple[_Key, ...]]


def _timeline(schedule: CompiledSchedule, start: datetime, end: datetime) -> list[_Stretch]:
    """The answer over ``[start, end)`` as consecutive stretches with one answer each."""
    layers = schedule.layers
    pieces = [timeline.pieces(start, end) for timeline in layers]
    covers = schedule.overrides.stretches(start, end)
    cuts = {start, end}
    for low, high, _ in chain(covers, *pieces):
        cuts.add(low)
        cuts.add(high)
    points = sorted(cuts)
    cursors = [0] * len(layers)
    cover_index = 0
    memo: dict[tuple[object, ...], tuple[tuple[_Key, ...], tuple[_Key, ...]]] = {}
    stretches: list[_Stretch] = []
    for low, high in pairwise(points):
        while covers[cover_index][1] <= low:
            cover_index += 1
        cover = covers[cover_index][2]
        winners = _winners_at(low, layers, pieces, cursors)
        memo_key = (id(cover), *((id(timeline), user) for timeline, user in winners))
        answer = memo.get(memo_key)
        if answer is None:
            answer = memo[memo_key] = _combine(winners, cover)
        stretches.append((low, high, *answer))
    return stretches


def _winners_at(
    instant: datetime,
    layers: Sequence[_LayerTimeline],
    pieces: Sequence[list[_Piece]],
    cursors: list[int],
) -> list[tuple[_LayerTimeline, int]]:
    """The layers on call at ``instant`` with the top priority; cursors only move forward."""
    winners: list[tuple[_LayerTimeline, int]] = []
    top_priority: int | None = None
    for index, timeline in enumerate(layers):
        if top_priority is not None and timeline.priority < top_priority:
            break
        layer_pieces, cursor = pieces[index], cursors[index]
        while cursor < len(layer_pieces) and layer_pieces[cursor][1] <= instant:
            cursor += 1
        cursors[index] = cursor
        if cursor < len(layer_pieces) and layer_pieces[cursor][0] <= instant:
            top_priority = timeline.priority
            winners.append((timeline, layer_pieces[cursor][2]))
    return winners


# ---------------------------------------------------------------------------------------------
# Public queries
# ---------------------------------------------------------------------------------------------


def on_call_at(schedule: ScheduleSpec | CompiledSchedule, at: datetime) -> OnCall:
    compiled = _compiled(schedule)
    instant = _as_utc(at, "at")
    snapshot = _snapshot(compiled, instant)
    if not snapshot.responders:
        return OnCall(instant, (), (), None, None)
    return OnCall(
        at=instant,
        responders=tuple(Assignment(*key) for key in snapshot.responders),
        shadows=tuple(Assignment(*key) for key in snapshot.shadows),
        shift_start=_answer_start(compiled, snapshot),
        shift_end=_answer_end(compiled, snapshot),
    )


def _answer_end(compiled: CompiledSchedule, snapshot: _Snapshot) -> datetime | None:
    high = snapshot.high
    for _ in range(_MAX_WALK_STEPS):
        if high == _FOREVER:
            return None
        following = _snapshot(compiled, high)
        if following.responders != snapshot.responders:
            return high
        high = following.high
    return high


def _answer_start(compiled: CompiledSchedule, snapshot: _Snapshot) -> datetime | None:
    low = snapshot.low
    for _ in range(_MAX_WALK_STEPS):
        if low == _BEGINNING:  # unreachable with responders: every source has a start
            return None
        preceding = _snapshot(compiled, low - _TICK)
        if preceding.responders != snapshot.responders:
            return low
        low = preceding.low
    return low


def final_schedule(
    schedule: ScheduleSpec | CompiledSchedule, start: datetime, end: datetime
) -> list[Shift]:
    """Responder and shadow shifts within ``[start, end)``, clipped to it.

    Sorted by (start, shadow, user_id); adjacent pieces of the same user, shadow flag and source
    are merged, so a shift ends where that person stops (a hand-off, a window edge, an override).
    """
    compiled = _compiled(schedule)
    start, end = _window(start, end)
    return _merge_runs(_timeline(compiled, start, end))


def _merge_runs(stretches: list[_Stretch]) -> list[Shift]:
    open_runs: dict[_Key, list[datetime]] = {}
    closed: list[tuple[datetime, datetime, _Key]] = []
    for low, high, responders, shadows in stretches:
        for key in chain(responders, shadows):
            run = open_runs.get(key)
            if run is not None and run[1] == low:
                run[1] = high
                continue
            if run is not None:
                closed.append((run[0], run[1], key))
            open_runs[key] = [low, high]
    closed.extend((run[0], run[1], key) for key, run in open_runs.items())
    closed.sort(key=lambda item: (item[0], item[2][1], item[2][0], item[2][2:], item[1]))
    return [Shift(start, end, *key) for start, end, key in closed]


def gaps(
    schedule: ScheduleSpec | CompiledSchedule, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Maximal intervals within ``[start, end)`` where nobody is the responder."""
    compiled = _compiled(schedule)
    start, end = _window(start, end)
    holes: list[tuple[datetime, datetime]] = []
    for low, high, responders, _ in _timeline(compiled, start, end):
        if responders:
            continue
        if holes and holes[-1][1] == low:
            holes[-1] = (holes[-1][0], high)
        else:
            holes.append((low, high))
    return holes


def next_shift_for_user(
    schedule: ScheduleSpec | CompiledSchedule,
    user_id: int,
    after: datetime,
    horizon: timedelta | datetime,
) -> Shift | None:
    """The user's first responder shift that ends after ``after`` and starts within the horizon.

    ``horizon`` is a duration after ``after`` or an absolute instant (at most 366 days away).
    The shift containing ``after`` counts. The returned bounds are the true bounds of the shift,
    looking up to 366 days beyond the search window on either side.
    """
    compiled = _compiled(schedule)
    until = after + horizon if isinstance(horizon, timedelta) else horizon
    start, end = _window(after, until)
    found = next(
        (
            shift
            for shift in _merge_runs(_timeline(compiled, start, end))
            if shift.user_id == user_id and not shift.shadow
        ),
        None,
    )
    if found is None:
        return None
    key: _Key = (found.user_id, False, found.source_kind, found.source_id)
    shift_start = _extend_back(compiled, key, found.start) if found.start == start else found.start
    shift_end = _extend_forward(compiled, key, found.end) if found.end == end else found.end
    return Shift(shift_start, shift_end, *key)


def _extend_back(compiled: CompiledSchedule, key: _Key, start: datetime) -> datetime:
    limit = start - _MAX_SHIFT_EXTENSION
    while start > limit:
        preceding = _snapshot(compiled, start - _TICK)
        if key not in preceding.responders:
            return start
        start = max(preceding.low, limit)
    return start


def _extend_forward(compiled: CompiledSchedule, key: _Key, end: datetime) -> datetime:
    limit = end + _MAX_SHIFT_EXTENSION
    while end < limit:
        following = _snapshot(compiled, end)
        if key not in following.responders:
            return end
        end = min(following.high, limit)
    return end


# ---------------------------------------------------------------------------------------------
# Editing helpers
# ---------------------------------------------------------------------------------------------


def conflicting_overrides(existing: Iterable[Override], candidate: Override) -> list[Override]:
    """Existing overrides that overlap ``candidate`` in time and clash with it.

    Two overlapping overrides clash unless both replace named people and those people differ.
    An existing override with the candidate's own id is its previous version and is ignored.
    """
    clashes = [
        other
        for other in existing
        if other.override_id != candidate.override_id
        and _overlap(other, candidate)
        and not _replace_different_people(other, candidate)
    ]
    return sorted(clashes, key=lambda item: (item.start.astimezone(UTC), item.override_id))


def _overlap(first: Override, second: Override) -> bool:
    first_start, first_end = _instant_order(first.start), _instant_order(first.end)
    second_start, second_end = _instant_order(second.start), _instant_order(second.end)
    return first_start < second_end and second_start < first_end


def _replace_different_people(first: Override, second: Override) -> bool:
    return (
        first.replaces_user_id is not None
        and second.replaces_user_id is not None
        and first.replaces_user_id != second.replaces_user_id
    )


def rebase_anchor(
    layer: Layer, new_participants: Sequence[int], at: datetime, time_zone: str
) -> datetime:
    """A new anchor for ``new_participants`` that keeps the current responder and the boundaries.

    Whoever this layer's rotation has on at ``at`` (restrictions and validity ignored) keeps the
    rest of their shift and the new order continues after them (their first position in the new
    list). If they are not in the new list, ``new_participants[0]`` takes over the current shift
    now. Before the anchor nothing has started and the anchor is returned unchanged.
    """
    participants = tuple(new_participants)
    if not participants:
        raise ValueError("a rotation needs at least one participant")
    zone = _zone(time_zone)
    instant = _as_utc(at, "at")
    anchor = layer.anchor.astimezone(UTC)
    if instant < anchor:
        return anchor
    rotation = _Rotation(anchor, layer.shift_unit, layer.shift_length, _ZoneTime(zone))
    index, _, _ = rotation.shift_at(instant)
    current = layer.participants[index % len(layer.participants)]
    position = participants.index(current) if current in participants else 0
    if layer.shift_unit is ShiftUnit.HOURS:
        return rotation.start_of(index - position)
    return _boundary_keeping_wall_time(rotation, index - position, len(participants), zone)


def _boundary_keeping_wall_time(
    rotation: _Rotation, index: int, cycle: int, zone: ZoneInfo
) -> datetime:
    """The start of shift ``index``, or of the same slot a whole cycle earlier if needed.

    A new anchor fixes the hand-off wall time of the new rotation. A boundary moved by a DST gap
    (02:30 became 03:30) would move every later hand-off, so step back whole cycles of the new
    order (which keeps who is on when) to a boundary at the real hand-off wall time.
    """
    for attempt in range(64):
        candidate_index = index - attempt * cycle
        candidate = rotation.start_of(candidate_index)
        local = candidate.astimezone(zone)
        wanted = (rotation.hand_off_day(candidate_index), rotation.hand_off_wall_time)
        if candidate_index == 0 or (local.date(), local.time()) == wanted:
            return candidate
    return rotation.start_of(index)
