"""The pure on-call calculator: who is on call for a schedule at an instant, and over a window.

No database, HTTP, settings or clock: every answer is a function of the schedule (layers and
overrides) and the instant or window asked for. Instants come in as aware datetimes in any zone
and go out as aware UTC datetimes.

Model
-----
* A layer is a rotation: shift ``k`` belongs to ``participants[k % len(participants)]`` and shift
  0 starts at the anchor. Its hand-off rule places shift ``k``: ``WALL_CLOCK`` at the anchor's
  local wall-clock time plus ``k`` shift lengths counted on the wall clock (a 09:00 daily or an
  08:00/20:00 twelve-hour hand-off stays there across DST, so the shift across a change is an
  hour shorter or longer); ``ELAPSED`` ``k`` shift lengths of absolute time after the anchor.
  Without a rule, ``DAYS`` layers keep the wall clock and ``HOURS`` layers count elapsed time.
* A layer's local times (hand-offs, restrictions) are in its own zone, or else the schedule's.
* Restrictions are weekly windows of local wall-clock time; outside them the layer puts nobody on
  call, while its rotation keeps counting in the background.
* Where layers overlap, the highest priority with someone on call wins. Layers of equal priority
  that are on call at the same time are co-responders: all of them are paged.
* An override without ``replaces_user_id`` makes its user the sole responder over its range (it
  fills gaps too); one with ``replaces_user_id`` swaps that person out wherever the layers made
  them a responder. Between overlapping overrides of the same kind the highest ``override_id``
  (the most recently created) wins.
* Replacements chain: if bob replaces anna and carl replaces bob at the same time, carl is on
  call for anna's shift, and the answer names the chain (carl's override covering bob's
  override covering anna's layer). A chain stops before it would come back to someone already
  in it; such cycles are refused when overrides are created (``replacement_cycle``).
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

Wall-clock hand-offs and local-midnight boundaries follow this rule (a wall-clock hand-off of
shifts shorter than the gap never moves past the next hand-off). Restriction window edges
differ inside a gap only: an edge that does not exist is the first instant after the gap (a
02:30-04:00 window on a New York spring-forward day covers 03:00-04:00 EDT), so a window covers
exactly the instants whose wall time it names; an ambiguous edge is its first occurrence, as
above. A restriction window ending at the same wall time as it starts lasts until that wall
time on the next local day (23 or 25 hours on DST days).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
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
    "CoveredSource",
    "HandoffRule",
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
    "default_handoff_rule",
    "final_schedule",
    "gaps",
    "next_shift_for_user",
    "on_call_at",
    "rebase_anchor",
    "replacement_cycle",
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
# Wall-clock hour hand-offs a DST gap can swallow: the longest gaps in the tz database are a
# skipped calendar day (Pacific/Apia, 2011), 24 hourly hand-offs.
_MAX_SHIFTS_IN_A_GAP = 48


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


class ShiftUnit(StrEnum):
    HOURS = "hours"
    DAYS = "days"


class HandoffRule(StrEnum):
    """Where hand-offs fall: at the same local times, or every shift length of absolute time."""

    WALL_CLOCK = "wall_clock"
    ELAPSED = "elapsed"


def default_handoff_rule(shift_length: int, unit: ShiftUnit | str) -> HandoffRule:
    """The rule people mean when they do not say: the wall clock for shifts that fit the day
    (day shifts, and hour shifts dividing 24 hours or a whole multiple of it), elapsed time for
    the rest (5-hour shifts wander round the clock either way)."""
    if ShiftUnit(unit) is ShiftUnit.DAYS or 24 % shift_length == 0 or shift_length % 24 == 0:
        return HandoffRule.WALL_CLOCK
    return HandoffRule.ELAPSED


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
    # None: the rule of layers made before there was a choice (DAYS wall clock, HOURS elapsed).
    handoff_rule: HandoffRule | None = None
    # The zone of the layer's hand-offs and restriction windows; None: the schedule's.
    time_zone: str | None = None

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
        rule = self.handoff_rule
        if rule is None:
            hours = self.shift_unit is ShiftUnit.HOURS
            rule = HandoffRule.ELAPSED if hours else HandoffRule.WALL_CLOCK
        try:
            object.__setattr__(self, "handoff_rule", HandoffRule(rule))
        except ValueError:
            raise ValueError(
                f"layer {self.layer_id}: hand-off rule must be 'wall_clock' or 'elapsed', "
                f"not {rule!r}"
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
    if layer.time_zone is not None:
        try:
            _zone(layer.time_zone)
        except ValueError as exc:
            raise ValueError(f"{label}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


class CoveredSource(NamedTuple):
    """One step down a replacement chain: ``source_kind``/``source_id`` put ``user_id`` there."""

    source_kind: SourceKind
    source_id: int
    user_id: int


@dataclass(frozen=True, slots=True)
class Assignment:
    """``user_id`` is on call through a source; ``covering`` is what an override stands in for.

    ``covering`` lists, nearest first, the sources the override replaced down to the layer: carl
    covering bob who covers anna is ``(override B, bob), (layer 1, anna)``; empty for a layer.
    """

    user_id: int
    shadow: bool
    source_kind: SourceKind
    source_id: int
    covering: tuple[CoveredSource, ...] = ()


@dataclass(frozen=True, slots=True)
class OnCall:
    """Who is on call at ``at``.

    ``shift_start``/``shift_end`` are the hand-offs around ``at``: the interval during which the
    same people are responders, whatever puts them there (None when nobody is on call;
    ``shift_end`` is None when they do not change within ``MAX_WINDOW``, ``shift_start`` is at
    most ``MAX_WINDOW`` back). ``source_start``/``source_end`` bound the interval during which
    the responders' assignments, sources included, stay exactly as answered.
    """

    at: datetime
    responders: tuple[Assignment, ...]
    shadows: tuple[Assignment, ...]
    shift_start: datetime | None
    shift_end: datetime | None
    source_start: datetime | None = None
    source_end: datetime | None = None


@dataclass(frozen=True, slots=True)
class Shift:
    start: datetime
    end: datetime
    user_id: int
    shadow: bool
    source_kind: SourceKind
    source_id: int
    covering: tuple[CoveredSource, ...] = ()


# (user_id, shadow, source_kind, source_id, covering): the fields of Assignment and of Shift
# after the bounds. Plain tuples keep the window sweep fast; they become dataclasses at the edge.
_Key = tuple[int, bool, str, int, tuple[CoveredSource, ...]]
_NOT_COVERING: tuple[CoveredSource, ...] = ()


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


@lru_cache(maxsize=16_384)
def _wall_hand_off(day: date, wall: time, zone: ZoneInfo) -> tuple[datetime, bool]:
    """The instant of a local wall-clock time under the DST rule, and whether it exists."""
    instant = _local_to_utc(day, wall, zone)
    return instant, _exists(instant, day, wall, zone)


@lru_cache(maxsize=16_384)
def _window_edge(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The instant of a restriction window edge: as ``_local_to_utc``, except that a wall time
    inside a DST gap is the first instant after the gap (the clock shows no time of the window
    before then)."""
    instant = _local_to_utc(day, wall, zone)
    if _exists(instant, day, wall, zone):
        return instant
    return _gap_end(day, wall, zone)


# How often _skipped_day_spans reads a zone's UTC offset. A skip shows as a larger offset than at
# the sample before; a skip and a fall-back within six hours would go unseen (the tz database
# has none).
_OFFSET_SAMPLE_STEP = timedelta(hours=6)


@lru_cache(maxsize=1024)
def _skipped_day_spans(zone: ZoneInfo, year: int) -> tuple[tuple[date, date], ...]:
    """Spans of local dates of ``year`` on which a restriction window may start and meet
    skipped wall times (a DST gap): the skipping days with a day's margin either side, and one
    more before (a night window starts the day before). Other days have every wall time once
    or twice.

    Zone data rather than a memo of answers, like zoneinfo's own transition table: sampled once
    per zone and year (about a millisecond).
    """
    margin = 3 * _ONE_DAY
    moment = datetime(year, 1, 1, tzinfo=UTC) - (margin if year > MINYEAR else timedelta(0))
    until = datetime(year, 12, 31, tzinfo=UTC) + (margin if year < MAXYEAR else -margin)
    spans: list[tuple[date, date]] = []
    previous = moment.astimezone(zone)
    while moment < until:
        moment += _OFFSET_SAMPLE_STEP
        current = moment.astimezone(zone)
        if current.utcoffset() > previous.utcoffset():  # the clock jumped forward
            spans.append((previous.date() - 2 * _ONE_DAY, current.date() + _ONE_DAY))
        previous = current
    return tuple(spans)


def _exists(instant: datetime, day: date, wall: time, zone: ZoneInfo) -> bool:
    local = instant.astimezone(zone)
    return local.date() == day and local.time() == wall


def _gap_end(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first instant after the DST gap that the nonexistent ``wall`` on ``day`` falls in.

    Read with the offset after the change (fold=1) the wall time is before the gap ends; with
    the offset before it (fold=0) it is at or after the change: the change is between the two,
    where the offset switches to the later one. Found by bisection to the microsecond (a few
    dozen conversions, once per cached edge).
    """
    local = datetime.combine(day, wall, zone)
    low = local.replace(fold=1).astimezone(UTC)  # before the change: the earlier offset
    high = local.astimezone(UTC)  # at or after the change: the later offset
    later = high.astimezone(zone).utcoffset()
    while high - low > _TICK:
        middle = low + (high - low) // 2
        if middle.astimezone(zone).utcoffset() == later:
            high = middle
        else:
            low = middle
    return high


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
    """Shift bounds of a rotation, by index, computed arithmetically from the anchor.

    Shift ``index`` starts ``index`` shift lengths after the anchor: of absolute time (elapsed,
    ``_step``), of local calendar days at the anchor's wall time (wall-clock days), or of hours
    on the local wall clock (wall-clock hours, ``_wall_step``).
    """

    __slots__ = (
        "_anchor_date",
        "_anchor_local",
        "_length_days",
        "_local",
        "_step",
        "_wall",
        "_wall_step",
        "anchor",
    )

    def __init__(
        self,
        anchor: datetime,
        unit: ShiftUnit,
        length: int,
        local: _ZoneTime,
        rule: HandoffRule | None = None,
    ) -> None:
        self.anchor = anchor
        self._local = local
        hours = unit is ShiftUnit.HOURS
        shift = timedelta(hours=length) if hours else timedelta(days=length)
        elapsed = rule is HandoffRule.ELAPSED or (rule is None and hours)
        self._step: timedelta | None = shift if elapsed else None
        self._wall_step: timedelta | None = shift if hours and not elapsed else None
        self._length_days = length
        local_anchor = anchor.astimezone(local.zone)
        self._anchor_date = local_anchor.date()
        self._wall = local_anchor.time().replace(fold=0)
        self._anchor_local = datetime.combine(self._anchor_date, self._wall)

    @property
    def elapsed(self) -> bool:
        return self._step is not None

    def intended_local(self, index: int) -> datetime:
        """The local wall-clock time (naive) at which a wall-clock shift ``index`` is meant to
        start; DST may move the real hand-off (a nonexistent time)."""
        if self._wall_step is not None:
            return self._anchor_local + index * self._wall_step
        return datetime.combine(self._hand_off_day(index), self._wall)

    def _hand_off_day(self, index: int) -> date:
        return self._anchor_date + timedelta(days=index * self._length_days)

    def start_of(self, index: int) -> datetime:
        # Shift 0 is the anchor itself, even if the anchor is the second occurrence of an
        # ambiguous wall time that the DST rule would resolve an hour earlier.
        if index == 0:
            return self.anchor
        if self._step is not None:
            return self.anchor + index * self._step
        if self._wall_step is None:
            return _local_to_utc(self._hand_off_day(index), self._wall, self._local.zone)
        return self._wall_clock_hours_start(index)

    def _wall_clock_hours_start(self, index: int) -> datetime:
        zone, step = self._local.zone, self._wall_step
        assert step is not None
        wall = self._anchor_local + index * step
        instant, exists = _wall_hand_off(wall.date(), wall.time(), zone)
        if exists:
            return instant
        # Moved forward by the gap, but never past a later hand-off: with shifts shorter than
        # the gap (hourly shifts, a two-hour gap) the move would otherwise overtake it.
        for _ in range(_MAX_SHIFTS_IN_A_GAP):
            wall += step
            following, following_exists = _wall_hand_off(wall.date(), wall.time(), zone)
            if following_exists:
                return min(instant, following)
        return instant

    def shift_at(self, instant: datetime) -> tuple[int, datetime, datetime]:
        """(index, start, end) of the shift containing ``instant``; the index may be negative."""
        if self._step is not None:
            index = (instant - self.anchor) // self._step
            return index, self.start_of(index), self.start_of(index + 1)
        if self._wall_step is not None:
            local = instant.astimezone(self._local.zone).replace(tzinfo=None)
            index = (local - self._anchor_local) // self._wall_step
        else:
            local_day = self._local.local_date(instant)
            index = (local_day - self._anchor_date).days // self._length_days
        # The wall-clock guess is off by one near a hand-off whose wall time DST moved, or when
        # a fall-back makes the local time step backwards. Shifts a gap emptied are skipped.
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

    __slots__ = ("_near_day", "_rules", "_skips", "local")
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
        self._skips: dict[int, tuple[tuple[date, date], ...]] = {}  # by year

    def on_dates(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """Merged windows that start on local dates ``first`` to ``last`` inclusive."""
        zone = self.local.zone
        # Edges on days that skip no wall time are plain conversions; the few dates around a
        # DST gap take the exact, slower rule. (Inline: this runs for every day looked at.)
        edge = _local_to_utc
        spans = self._skips.get(first.year)
        if spans is None or first.year != last.year:
            if self._may_skip(first, last):
                edge = _window_edge
        else:
            for skip_from, skip_until in spans:
                if skip_from <= last and first <= skip_until:
                    edge = _window_edge
        windows: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            weekday = day.isoweekday()
            for weekdays, start, end, crossing in self._rules:
                if weekday in weekdays:
                    end_day = day + crossing if crossing is not None else day
                    windows.append((edge(day, start, zone), edge(end_day, end, zone)))
            day += _ONE_DAY
        if edge is _window_edge:  # a window inside a DST gap has no time that day
            windows = [window for window in windows if window[0] < window[1]]
        return _merge_intervals(windows)

    def _may_skip(self, first: date, last: date) -> bool:
        """Whether windows starting on local dates first to last may meet skipped wall times."""
        if first.year != last.year:
            return True  # around New Year: take the exact rule rather than look twice
        if len(self._skips) >= self._NEAR_DAY_LIMIT:
            self._skips.clear()
        spans = self._skips[first.year] = _skipped_day_spans(self.local.zone, first.year)
        return any(start <= last and first <= end for start, end in spans)

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
        self._rotation = _Rotation(
            anchor, layer.shift_unit, layer.shift_length, local, layer.handoff_rule
        )
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
            if start < end:  # a wall-clock hour shift inside a DST gap lasts no time
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
    # A layer with its own zone reads its hand-offs and windows there; the others share one.
    local_times: dict[str | None, _ZoneTime] = {None: _ZoneTime(zone)}
    timelines = []
    for layer in sorted(spec.layers, key=lambda layer: (-layer.priority, layer.layer_id)):
        local = local_times.get(layer.time_zone)
        if local is None:
            local = local_times[layer.time_zone] = _ZoneTime(_zone(str(layer.time_zone)))
        timelines.append(_LayerTimeline(layer, local))
    return CompiledSchedule(
        spec=spec,
        zone=zone,
        layers=tuple(timelines),
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
        whole = cover.whole
        return ((whole.user_id, False, "override", whole.override_id, _NOT_COVERING),), ()
    replacements = cover.replacements if cover is not None else {}
    responders: set[_Key] = set()
    for timeline, user in winners:
        if user in replacements:
            responders.add(_follow_replacements(user, timeline.layer_id, replacements))
        else:
            responders.add((user, False, "layer", timeline.layer_id, _NOT_COVERING))
    responder_users = {key[0] for key in responders}
    shadows = {
        (shadow, True, "layer", timeline.layer_id, _NOT_COVERING)
        for timeline, _ in winners
        for shadow in timeline.shadows
        if shadow not in responder_users
    }
    return tuple(sorted(responders)), tuple(sorted(shadows))


def _follow_replacements(user: int, layer_id: int, replacements: dict[int, Override]) -> _Key:
    """The end of the chain of replacements starting at the layer's ``user``.

    The chain stops before it would come back to someone already in it: anna -> bob -> anna
    leaves bob on call (such cycles are refused when created; older data may hold them).
    """
    covering = [CoveredSource("layer", layer_id, user)]
    seen = {user}
    replacement = replacements[user]
    while True:
        user = replacement.user_id
        seen.add(user)
        following = replacements.get(user)
        if following is None or following.user_id in seen:
            break
        covering.append(CoveredSource("override", replacement.override_id, user))
        replacement = following
    covering.reverse()
    return (user, False, "override", replacement.override_id, tuple(covering))


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
    source_start, shift_start = _answer_start(compiled, snapshot, instant)
    source_end, shift_end = _answer_end(compiled, snapshot, instant)
    return OnCall(
        at=instant,
        responders=tuple(Assignment(*key) for key in snapshot.responders),
        shadows=tuple(Assignment(*key) for key in snapshot.shadows),
        shift_start=shift_start,
        shift_end=shift_end,
        source_start=source_start,
        source_end=source_end,
    )


def _moved(instant: datetime, delta: timedelta) -> datetime:
    """``instant + delta``, or the sentinel at that end of the calendar."""
    try:
        return instant + delta
    except OverflowError:
        return _FOREVER if delta > timedelta(0) else _BEGINNING


def _same_people(first: tuple[_Key, ...], second: tuple[_Key, ...]) -> bool:
    """Whether two answers page the same people (through whichever sources)."""
    if len(first) == 1 and len(second) == 1:  # the usual single responder, without sets
        return first[0][0] == second[0][0]
    return {key[0] for key in first} == {key[0] for key in second}


def _answer_end(
    compiled: CompiledSchedule, snapshot: _Snapshot, instant: datetime
) -> tuple[datetime | None, datetime | None]:
    """(source end, hand-off): where the answer first changes, and where its people do.

    Walking on after the first change only looks for a hand-off up to ``MAX_WINDOW`` after
    ``instant``: someone who moves between layers and overrides for longer than that has no
    hand-off in sight (None), and the walk stays short.
    """
    source_end: datetime | None = None
    horizon = _FOREVER
    high = snapshot.high
    for _ in range(_MAX_WALK_STEPS):
        if high == _FOREVER or high >= horizon:
            return source_end, None
        following = _snapshot(compiled, high)
        if source_end is None:
            if following.responders == snapshot.responders:
                high = following.high
                continue
            source_end = high
            # Only the walk past the first change needs the horizon (most answers stop here).
            horizon = _moved(instant, MAX_WINDOW)
        if not _same_people(following.responders, snapshot.responders):
            return source_end, high
        high = following.high
    return source_end or high, high


def _answer_start(
    compiled: CompiledSchedule, snapshot: _Snapshot, instant: datetime
) -> tuple[datetime | None, datetime | None]:
    """(source start, hand-off) before the snapshot. The hand-off is looked for at most
    ``MAX_WINDOW`` before ``instant``; past that it is given as that bound, or as the answer's
    own start when that is older still (a hand-off never comes after the start of the
    assignment it hands to)."""
    source_start: datetime | None = None
    horizon = _BEGINNING
    low = snapshot.low
    for _ in range(_MAX_WALK_STEPS):
        if low == _BEGINNING:  # unreachable with responders: every source has a start
            return source_start, source_start
        if source_start is not None and low <= horizon:
            return source_start, min(horizon, source_start)
        preceding = _snapshot(compiled, low - _TICK)
        if source_start is None:
            if preceding.responders == snapshot.responders:
                low = preceding.low
                continue
            source_start = low
            horizon = _moved(instant, -MAX_WINDOW)
        if not _same_people(preceding.responders, snapshot.responders):
            return source_start, low
        low = preceding.low
    return source_start or low, low


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
    key: _Key = (found.user_id, False, found.source_kind, found.source_id, found.covering)
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


def replacement_cycle(existing: Iterable[Override], candidate: Override) -> list[Override]:
    """Existing replacements that would close a circle of covers with ``candidate``.

    Replacements chain (carl covers bob who covers anna), so a candidate in which anna replaces
    bob while bob replaces anna would leave nobody really covering: at some instant of the
    candidate's range, following the replacements in force from the candidate's user leads back
    to the person it replaces. Returns the overrides on that circle (empty when there is none),
    sorted like ``conflicting_overrides``. An existing override with the candidate's id is its
    previous version and is ignored; a circle that does not pass through the candidate (older
    data) is not the candidate's doing and is not reported.
    """
    if candidate.replaces_user_id is None:
        return []
    others = [
        (_instant_order(other.start), _instant_order(other.end), replaced, other)
        for other in existing
        if (replaced := other.replaces_user_id) is not None
        and other.override_id != candidate.override_id
        and _overlap(other, candidate)
    ]
    start, end = _instant_order(candidate.start), _instant_order(candidate.end)
    cuts = {start} | {
        edge for low, high, *_ in others for edge in (low, high) if start < edge < end
    }
    for instant in sorted(cuts):
        # The replacements in force throughout [instant, next cut), the newest per person.
        in_force: dict[int, Override] = {}
        for low, high, replaced, other in others:
            if low <= instant < high and (
                replaced not in in_force or _is_newer(other, in_force[replaced])
            ):
                in_force[replaced] = other
        circle = _path_back_to(in_force, candidate.user_id, candidate.replaces_user_id)
        if circle:
            return sorted(circle, key=lambda item: (item.start.astimezone(UTC), item.override_id))
    return []


def _path_back_to(in_force: dict[int, Override], user: int, target: int) -> list[Override]:
    """The replacements leading from ``user`` to ``target``, or [] if the chain ends first."""
    path: list[Override] = []
    seen = {user}
    while user in in_force:
        replacement = in_force[user]
        path.append(replacement)
        user = replacement.user_id
        if user == target:
            return path
        if user in seen:
            return []
        seen.add(user)
    return []


def rebase_anchor(
    layer: Layer, new_participants: Sequence[int], at: datetime, time_zone: str
) -> datetime:
    """A new anchor for ``new_participants`` that keeps the current responder and the boundaries.

    Whoever this layer's rotation has on at ``at`` (restrictions and validity ignored) keeps the
    rest of their shift and the new order continues after them (their first position in the new
    list). If they are not in the new list, ``new_participants[0]`` takes over the current shift
    now. Before the anchor nothing has started and the anchor is returned unchanged.
    ``time_zone`` is the schedule's; a layer with its own zone counts in that one.
    """
    participants = tuple(new_participants)
    if not participants:
        raise ValueError("a rotation needs at least one participant")
    zone = _zone(layer.time_zone or time_zone)
    instant = _as_utc(at, "at")
    anchor = layer.anchor.astimezone(UTC)
    if instant < anchor:
        return anchor
    rotation = _Rotation(
        anchor, layer.shift_unit, layer.shift_length, _ZoneTime(zone), layer.handoff_rule
    )
    index, _, _ = rotation.shift_at(instant)
    current = layer.participants[index % len(layer.participants)]
    position = participants.index(current) if current in participants else 0
    if rotation.elapsed:
        return rotation.start_of(index - position)
    return _boundary_keeping_wall_time(rotation, index - position, len(participants), zone)


def _boundary_keeping_wall_time(
    rotation: _Rotation, index: int, cycle: int, zone: ZoneInfo
) -> datetime:
    """The start of shift ``index``, or of the same slot a whole cycle earlier if needed.

    A new anchor fixes the hand-off wall times of the new rotation. A boundary moved by a DST
    gap (02:30 became 03:30) would move every later hand-off, so step back whole cycles of the
    new order (which keeps who is on when) to a boundary at its intended wall time.
    """
    for attempt in range(64):
        candidate_index = index - attempt * cycle
        candidate = rotation.start_of(candidate_index)
        local = candidate.astimezone(zone).replace(tzinfo=None)
        if candidate_index == 0 or local == rotation.intended_local(candidate_index):
            return candidate
    return rotation.start_of(index)
