"""Pager load per person: how many responder hours, and at which hours of that person's day.

Pure: the input is a final schedule (``oncall.final_schedule``) and the people's time zones and
team kinds. Every hour is put in one category, on the person's own wall clock:

* ``business`` Monday to Friday 09:00-17:00;
* ``evening`` Monday to Friday 17:00-22:00;
* ``night`` Monday to Friday 22:00-24:00 and 00:00-09:00 (Friday 22:00 to Saturday 00:00 and
  Monday 00:00-09:00 included);
* ``weekend`` Saturday 00:00 to Monday 00:00.

Category edges are local wall-clock times resolved with the calculator's DST rule (a nonexistent
time moves forward by the gap, an ambiguous one is its first occurrence), so the categories tile
time exactly and a DST night is one hour shorter or longer.

Overlapping responder shifts of the same person (co-responder layers) count once. Shadow hours
are reported separately and never count as load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.schedules.oncall import Shift

__all__ = ["KINDS", "LoadCategory", "LoadReport", "PersonLoad", "load_by_person"]

KINDS = ("dev", "ops", "mixed")

_ONE_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_ZERO = timedelta(0)


class LoadCategory(StrEnum):
    BUSINESS = "business"
    EVENING = "evening"
    NIGHT = "night"
    WEEKEND = "weekend"


# Where each category starts on a weekday; the day runs on to the next local midnight.
_WEEKDAY_EDGES = (
    (time(0), LoadCategory.NIGHT),
    (time(9), LoadCategory.BUSINESS),
    (time(17), LoadCategory.EVENING),
    (time(22), LoadCategory.NIGHT),
)


@dataclass(frozen=True, slots=True)
class PersonLoad:
    user_id: int
    business_hours: float
    evening_hours: float
    night_hours: float
    weekend_hours: float
    total_hours: float  # responder hours: the sum of the four categories
    shadow_hours: float


@dataclass(frozen=True, slots=True)
class LoadReport:
    people: tuple[PersonLoad, ...]  # sorted by user_id
    total_hours: float  # responder hours of everyone
    dev_share: float  # share of the responder hours held by people of each kind (0.0 if none)
    ops_share: float
    mixed_share: float

    def person(self, user_id: int) -> PersonLoad | None:
        return next((item for item in self.people if item.user_id == user_id), None)


def load_by_person(
    shifts: Iterable[Shift],
    user_time_zones: Mapping[int, str],
    user_kinds: Mapping[int, str],
) -> LoadReport:
    """Responder hours per person split by category, shadow hours, and the dev/ops share.

    Every responder needs a time zone and a kind (``dev``, ``ops`` or ``mixed``) in the
    mappings; a missing or unknown one is a ``ValueError``, since guessing would misreport load.
    """
    responder_time: dict[int, list[tuple[datetime, datetime]]] = {}
    shadow_time: dict[int, list[tuple[datetime, datetime]]] = {}
    for shift in shifts:
        if shift.start.tzinfo is None or shift.end.tzinfo is None:
            raise ValueError(f"shift of user {shift.user_id} has naive bounds")
        bucket = shadow_time if shift.shadow else responder_time
        bucket.setdefault(shift.user_id, []).append(
            (shift.start.astimezone(UTC), shift.end.astimezone(UTC))
        )
    people = []
    by_kind = dict.fromkeys(KINDS, _ZERO)
    for user_id in sorted(responder_time.keys() | shadow_time.keys()):
        responding = _union(responder_time.get(user_id, []))
        categories = dict.fromkeys(LoadCategory, _ZERO)
        if responding:
            zone = _zone_of(user_id, user_time_zones)
            for start, end in responding:
                _add_categories(categories, start, end, zone)
            by_kind[_kind_of(user_id, user_kinds)] += sum(categories.values(), _ZERO)
        people.append(_person(user_id, categories, _length(_union(shadow_time.get(user_id, [])))))
    return _report(tuple(people), by_kind)


def _person(
    user_id: int, categories: Mapping[LoadCategory, timedelta], shadow: timedelta
) -> PersonLoad:
    return PersonLoad(
        user_id=user_id,
        business_hours=categories[LoadCategory.BUSINESS] / _HOUR,
        evening_hours=categories[LoadCategory.EVENING] / _HOUR,
        night_hours=categories[LoadCategory.NIGHT] / _HOUR,
        weekend_hours=categories[LoadCategory.WEEKEND] / _HOUR,
        total_hours=sum(categories.values(), _ZERO) / _HOUR,
        shadow_hours=shadow / _HOUR,
    )


def _report(people: tuple[PersonLoad, ...], by_kind: Mapping[str, timedelta]) -> LoadReport:
    total = sum(by_kind.values(), _ZERO)

    def share(kind: str) -> float:
        return by_kind[kind] / total if total else 0.0

    return LoadReport(
        people=people,
        total_hours=total / _HOUR,
        dev_share=share("dev"),
        ops_share=share("ops"),
        mixed_share=share("mixed"),
    )


def _zone_of(user_id: int, user_time_zones: Mapping[int, str]) -> ZoneInfo:
    name = user_time_zones.get(user_id)
    if name is None:
        raise ValueError(f"no time zone given for user {user_id}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r} for user {user_id}") from None


def _kind_of(user_id: int, user_kinds: Mapping[int, str]) -> str:
    kind = user_kinds.get(user_id)
    if kind not in KINDS:
        raise ValueError(f"user {user_id} needs a kind among {', '.join(KINDS)}, not {kind!r}")
    return kind


def _union(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: list[tuple[datetime, datetime]]) -> timedelta:
    return sum((end - start for start, end in intervals), _ZERO)


def _add_categories(
    totals: dict[LoadCategory, timedelta], start: datetime, end: datetime, zone: ZoneInfo
) -> None:
    # Start a day early: around a DST change at midnight, an instant's local date can be one
    # day ahead of the day whose segments hold it.
    day = start.astimezone(zone).date() - _ONE_DAY
    last_day = end.astimezone(zone).date()
    while day <= last_day:
        for low, high, category in _day_segments(day, zone):
            overlap = min(high, end) - max(low, start)
            if overlap > _ZERO:
                totals[category] += overlap
        day += _ONE_DAY


def _day_segments(day: date, zone: ZoneInfo) -> list[tuple[datetime, datetime, LoadCategory]]:
    """The categories of one local day as UTC intervals, from its midnight to the next."""
    next_midnight = _instant(day + _ONE_DAY, time(0), zone)
    if day.isoweekday() >= 6:
        return [(_instant(day, time(0), zone), next_midnight, LoadCategory.WEEKEND)]
    starts = [_instant(day, wall, zone) for wall, _ in _WEEKDAY_EDGES]
    ends = [*starts[1:], next_midnight]
    return [
        (low, high, category)
        for low, high, (_, category) in zip(starts, ends, _WEEKDAY_EDGES, strict=True)
    ]


def _instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, zone).astimezone(UTC)
