"""A layer's rotation as one value, and placing it in time: pure helpers, no database.

Everything that decides who a layer puts on call is one ``Rotation`` (one ``LayerVersion``
row); two rotations are equal exactly when they give the same answers, which is how edits and
``baton apply`` tell whether anything changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from app.core.errors import InvalidInput
from app.schedules import schemas
from app.schedules.models import LayerVersion
from app.schedules.oncall import HandoffRule, Layer, Restriction, ShiftUnit

DEFAULT_HANDOFF = time(9)


def zone_of(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A local wall time as an instant, under the calculator's DST rule (fold=0)."""
    return datetime.combine(day, wall.replace(fold=0), zone).astimezone(UTC)


@dataclass(frozen=True)
class Rotation:
    """Everything about a layer that decides who is on call; one ``LayerVersion`` row."""

    priority: int
    participants: tuple[int, ...]
    shadows: tuple[int, ...]
    shift_length: int
    shift_unit: ShiftUnit
    anchor: datetime
    starts_at: datetime
    ends_at: datetime | None
    restrictions: tuple[tuple[tuple[int, ...], str, str], ...]
    handoff_rule: HandoffRule
    time_zone: str | None  # None: the schedule's

    def zone_name(self, schedule_zone: str) -> str:
        """The zone the rotation's hand-offs and windows are read in."""
        return self.time_zone or schedule_zone

    def calculator_layer(self, layer_id: int) -> Layer:
        """The calculator's layer, without validity bounds; raises InvalidInput if unusable."""
        try:
            return Layer(
                layer_id=layer_id,
                priority=self.priority,
                participants=self.participants,
                shadows=self.shadows,
                shift_length=self.shift_length,
                shift_unit=self.shift_unit,
                anchor=self.anchor,
                restrictions=tuple(
                    Restriction(frozenset(days), time.fromisoformat(s), time.fromisoformat(e))
                    for days, s, e in self.restrictions
                ),
                handoff_rule=self.handoff_rule,
                time_zone=self.time_zone,
            )
        except ValueError as exc:
            raise InvalidInput(str(exc).removeprefix(f"layer {layer_id}: ")) from None

    def restriction_json(self) -> list[dict[str, Any]]:
        return [{"weekdays": list(d), "start": s, "end": e} for d, s, e in self.restrictions]


def restrictions_key(
    items: Iterable[schemas.RestrictionIn | dict[str, Any]],
) -> tuple[tuple[tuple[int, ...], str, str], ...]:
    key = []
    for item in items:
        if isinstance(item, schemas.RestrictionIn):
            key.append((tuple(item.weekdays), _hhmm(item.start), _hhmm(item.end)))
        else:
            key.append((tuple(sorted(item["weekdays"])), str(item["start"]), str(item["end"])))
    return tuple(key)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def rotation_of(version: LayerVersion) -> Rotation:
    return Rotation(
        priority=version.priority,
        participants=tuple(version.participant_ids),
        shadows=tuple(version.shadow_ids),
        shift_length=version.shift_length,
        shift_unit=version.shift_unit,
        anchor=version.anchor,
        starts_at=version.starts_at,
        ends_at=version.ends_at,
        restrictions=restrictions_key(version.restrictions or ()),
        handoff_rule=version.handoff_rule,
        time_zone=version.time_zone,
    )


def handoff_time_of(anchor: datetime, zone: ZoneInfo) -> time:
    return anchor.astimezone(zone).time().replace(tzinfo=None, fold=0)


def place_rotation(
    start: datetime | date | None, handoff: time | None, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """(starts_at, anchor): the anchor is the hand-off time on the start's local date.

    A date starts the rotation at its hand-off time (09:00 unless given); an instant starts it
    there, with the hand-off time defaulting to the instant's own wall time (whole minutes).
    """
    if start is None:
        start = now
    if isinstance(start, datetime):
        local = start.astimezone(zone)
        wall = handoff or local.time().replace(second=0, microsecond=0, tzinfo=None)
        return start.astimezone(UTC), local_instant(local.date(), wall, zone)
    anchor = local_instant(start, handoff or DEFAULT_HANDOFF, zone)
    return anchor, anchor
