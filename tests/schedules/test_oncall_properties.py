"""Property-based tests of the on-call calculator.

Instants are drawn as local wall-clock times in the schedule's zone, biased towards the days on
which that zone changes its UTC offset, so DST edges come up often.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.schedules.oncall import (
    Layer,
    Override,
    Restriction,
    ScheduleSpec,
    Shift,
    ShiftUnit,
    compile_schedule,
    final_schedule,
    on_call_at,
    rebase_anchor,
)

ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "UTC",
    "Asia/Kolkata",
    "America/St_Johns",
    "Pacific/Chatham",
    "Europe/London",
)
FIRST_YEAR, LAST_YEAR = 2015, 2030
TICK = timedelta(microseconds=1)
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------


@cache
def offset_change_days(zone_name: str) -> tuple[date, ...]:
    """Local dates on which the zone's UTC offset changes, between 2015 and 2031."""
    zone = ZoneInfo(zone_name)
    days = []
    day = date(FIRST_YEAR, 1, 1)
    while day.year <= LAST_YEAR + 1:
        morning = datetime.combine(day, time(0), zone).utcoffset()
        evening = datetime.combine(day, time(23, 59), zone).utcoffset()
        if morning != evening:
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


# Wall-clock times that land in or next to a DST gap or fold in one of the zones above.
EDGE_TIMES = [time(0), time(1, 30), time(2), time(2, 30), time(2, 45), time(3), time(3, 15)]
COMMON_TIMES = [time(9), time(17), time(22), time(12, 30)]


def wall_times() -> st.SearchStrategy[time]:
    any_time = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
    return st.one_of(st.sampled_from(EDGE_TIMES), st.sampled_from(COMMON_TIMES), any_time)


@st.composite
def local_days(draw: st.DrawFn, zone_name: str) -> date:
    """A local date, two times out of three next to a day on which the UTC offset changes."""
    change_days = offset_change_days(zone_name)
    if change_days and draw(st.integers(0, 2)) < 2:
        return draw(st.sampled_from(change_days)) + timedelta(days=draw(st.integers(-1, 1)))
    return draw(st.dates(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)))


@st.composite
def local_instants(draw: st.DrawFn, zone_name: str) -> datetime:
    """An aware UTC instant, drawn as a wall-clock time in the zone (either fold)."""
    moment = datetime.combine(
        draw(local_days(zone_name)), draw(wall_times()), ZoneInfo(zone_name)
    ).replace(fold=draw(st.integers(0, 1)))
    return moment.astimezone(UTC) + timedelta(seconds=draw(st.sampled_from([0, 0, 0, 7, 1800])))


@st.composite
def restrictions(draw: st.DrawFn) -> Restriction:
    weekdays = draw(st.frozensets(st.integers(1, 7), min_size=1, max_size=7))
    start = draw(wall_times())
    end = draw(st.one_of(st.just(start), wall_times()))
    return Restriction(weekdays, start, end)


@st.composite
def layers(
    draw: st.DrawFn,
    zone_name: str,
    focus: datetime,
    layer_id: int,
    priority: int,
    *,
    restricted: bool | None = None,
    unit: ShiftUnit | None = None,
    distinct: bool = False,
    recent: bool = False,
) -> Layer:
    """A layer whose anchor is usually before ``focus`` (years before unless ``recent``)."""
    people = st.integers(1, 6)
    if distinct:
        participants = draw(st.lists(people, min_size=2, max_size=5, unique=True))
    else:
        participants = draw(st.lists(people, min_size=1, max_size=5))
    unit = unit or draw(st.sampled_from(ShiftUnit))
    if unit is ShiftUnit.DAYS:
        length = draw(st.sampled_from([1, 1, 2, 3, 7, 14]))
    else:
        length = draw(st.sampled_from([1, 3, 8, 12, 24, 36, 168]))
    zone = ZoneInfo(zone_name)
    long_ago = st.integers(-3, 60) if recent else st.integers(0, 365 * 12)
    days_back = draw(st.one_of(st.integers(-3, 30), long_ago))
    anchor_day = focus.astimezone(zone).date() - timedelta(days=days_back)
    anchor = datetime.combine(
        max(anchor_day, date(FIRST_YEAR, 1, 1)), draw(wall_times()), zone
    ).replace(fold=draw(st.integers(0, 1)))
    if restricted is None:
        restricted = draw(st.booleans())
    rules = tuple(draw(st.lists(restrictions(), min_size=1, max_size=2))) if restricted else ()
    active_from = draw(st.none() | st.builds(lambda h: focus + timedelta(hours=h), hours()))
    active_until = draw(st.none() | st.builds(lambda h: focus + timedelta(hours=h), hours()))
    if active_from and active_until and active_until < active_from:
        active_from, active_until = active_until, active_from
    return Layer(
        layer_id=layer_id,
        priority=priority,
        participants=tuple(participants),
        shadows=tuple(draw(st.lists(st.integers(5, 9), max_size=2))),
        shift_length=length,
        shift_unit=unit,
        anchor=anchor,
        restrictions=rules,
        active_from=active_from,
        active_until=active_until,
    )


def hours() -> st.SearchStrategy[float]:
    return st.integers(-24 * 20, 24 * 20).map(float)


@st.composite
def overrides(
    draw: st.DrawFn, focus: datetime, first_id: int, *, whole_only: bool = False
) -> tuple[Override, ...]:
    count = draw(st.integers(0, 4))
    items = []
    for offset in range(count):
        start = focus + timedelta(minutes=draw(st.integers(-60 * 24 * 10, 60 * 24 * 10)))
        length = timedelta(minutes=draw(st.integers(1, 60 * 72)))
        replaces = None if whole_only else draw(st.none() | st.integers(1, 6))
        items.append(
            Override(first_id + offset, start, start + length, draw(st.integers(20, 23)), replaces)
        )
    return tuple(items)


@st.composite
def schedules(
    draw: st.DrawFn,
    *,
    single_responder: bool = False,
    with_overrides: bool = True,
    recent: bool = False,
) -> tuple[ScheduleSpec, datetime]:
    """A schedule of one to three layers, and an instant around which to ask about it."""
    zone_name = draw(st.sampled_from(ZONES))
    focus = draw(local_instants(zone_name))
    count = draw(st.integers(1, 3))
    if single_responder:
        priorities = draw(st.permutations(range(count)))
    else:
        priorities = draw(st.lists(st.integers(0, 2), min_size=count, max_size=count))
    layer_list = tuple(
        draw(layers(zone_name, focus, index + 1, priorities[index], recent=recent))
        for index in range(count)
    )
    extra = draw(overrides(focus, 100)) if with_overrides else ()
    return ScheduleSpec(zone_name, layer_list, extra), focus


@st.composite
def windows(draw: st.DrawFn, focus: datetime) -> tuple[datetime, datetime]:
    """A window of up to a few weeks that contains ``focus`` (often a DST change day)."""
    before = timedelta(hours=draw(st.integers(0, 72)), minutes=draw(st.sampled_from([0, 30])))
    after = timedelta(hours=draw(st.integers(0, 24 * 14)), minutes=draw(st.sampled_from([1, 45])))
    return focus - before, focus + after


def instants_in(
    draw: st.DrawFn, start: datetime, end: datetime, shifts: Iterable[Shift]
) -> list[datetime]:
    """Random instants in ``[start, end)`` plus the edges of the shifts found there."""
    span = int((end - start) / TICK)
    points = [start + TICK * draw(st.integers(0, span - 1)) for _ in range(4)]
    for shift in shifts:
        points += [shift.start, shift.end - TICK]
        if shift.end < end:
            points.append(shift.end)
    return points


# ---------------------------------------------------------------------------------------------
# Oracles written straight from the documented rules
# ---------------------------------------------------------------------------------------------


def in_restriction_window(layer: Layer, instant: datetime, zone: ZoneInfo) -> bool:
    """Whether ``instant`` lies in one of the layer's windows, under the DST rule (fold=0)."""
    local_day = instant.astimezone(zone).date()
    for days_back in range(3):
        day = local_day - timedelta(days=days_back)
        for rule in layer.restrictions:
            if day.isoweekday() not in rule.weekdays:
                continue
            end_day = day + timedelta(days=1) if rule.end <= rule.start else day
            opens = datetime.combine(day, rule.start, zone)
            closes = datetime.combine(end_day, rule.end, zone)
            if opens <= instant < closes:
                return True
    return False


def layer_is_valid(layer: Layer, instant: datetime) -> bool:
    # In UTC: Python compares datetimes sharing a tzinfo by wall clock, not as instants.
    instant = instant.astimezone(UTC)
    if instant < layer.anchor.astimezone(UTC):
        return False
    if layer.active_from is not None and instant < layer.active_from.astimezone(UTC):
        return False
    return layer.active_until is None or instant < layer.active_until.astimezone(UTC)


def exists(day: date, wall: time, zone: ZoneInfo) -> bool:
    moment = datetime.combine(day, wall, zone)
    return moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == moment.replace(
        tzinfo=None
    )


def rotation_user(layer: Layer, instant: datetime, zone: ZoneInfo) -> int | None:
    """Who the layer has on at ``instant``, walking hand-off by hand-off from the anchor."""
    if not layer_is_valid(layer, instant):
        return None
    if layer.restrictions and not in_restriction_window(layer, instant, zone):
        return None
    anchor = layer.anchor.astimezone(UTC)
    local_anchor = anchor.astimezone(zone)
    index = 0
    while True:
        if layer.shift_unit is ShiftUnit.HOURS:
            next_hand_off = anchor + timedelta(hours=layer.shift_length * (index + 1))
        else:
            day = local_anchor.date() + timedelta(days=layer.shift_length * (index + 1))
            wall = local_anchor.time().replace(fold=0)
            next_hand_off = datetime.combine(day, wall, zone).astimezone(UTC)
        if next_hand_off > instant:
            return layer.participants[index % len(layer.participants)]
        index += 1


def newest(candidates: Iterable[Override]) -> Override | None:
    return max(candidates, key=lambda item: item.override_id, default=None)


def expected_answer(
    spec: ScheduleSpec, instant: datetime
) -> tuple[set[tuple[int, str, int]], set[tuple[int, str, int]]]:
    """(responders, shadows) as (user, source kind, source id), read straight off the rules."""
    zone = ZoneInfo(spec.time_zone)
    in_force = [item for item in spec.overrides if item.start <= instant < item.end]
    whole = newest(item for item in in_force if item.replaces_user_id is None)
    if whole is not None:
        return {(whole.user_id, "override", whole.override_id)}, set()
    on_call = [(layer, rotation_user(layer, instant, zone)) for layer in spec.layers]
    on_call = [(layer, user) for layer, user in on_call if user is not None]
    top = max((layer.priority for layer, _ in on_call), default=None)
    winners = [(layer, user) for layer, user in on_call if layer.priority == top]
    responders = set()
    for layer, user in winners:
        cover = newest(item for item in in_force if item.replaces_user_id == user)
        if cover is None:
            responders.add((user, "layer", layer.layer_id))
        else:
            responders.add((cover.user_id, "override", cover.override_id))
    responding = {user for user, _, _ in responders}
    shadows = {
        (shadow, "layer", layer.layer_id)
        for layer, _ in winners
        for shadow in layer.shadows
        if shadow not in responding
    }
    return responders, shadows


def keyed(shift: Shift) -> tuple[int, bool, str, int]:
    return (shift.user_id, shift.shadow, shift.source_kind, shift.source_id)


def join_at(first: list[Shift], second: list[Shift], cut: datetime) -> list[Shift]:
    """Concatenate two consecutive windows, joining shifts that continue across ``cut``."""
    continuing = {keyed(shift): shift for shift in second if shift.start == cut}
    joined = []
    for shift in first:
        following = continuing.pop(keyed(shift), None) if shift.end == cut else None
        if following is not None:
            joined.append(Shift(shift.start, following.end, *keyed(shift)))
            second = [item for item in second if item is not following]
        else:
            joined.append(shift)
    joined += second
    return sorted(joined, key=lambda s: (s.start, s.shadow, s.user_id, s.source_id, s.end))


def clip(shifts: list[Shift], start: datetime, end: datetime) -> list[Shift]:
    clipped = [
        Shift(max(s.start, start), min(s.end, end), *keyed(s))
        for s in shifts
        if s.start < end and s.end > start
    ]
    return sorted(clipped, key=lambda s: (s.start, s.shadow, s.user_id, s.source_id, s.end))


def canonical(shifts: list[Shift]) -> list[Shift]:
    return sorted(shifts, key=lambda s: (s.start, s.shadow, s.user_id, s.source_id, s.end))


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=schedules(single_responder=True))
def test_single_responder_schedule_has_no_overlapping_responder_shifts(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    start, end = data.draw(windows(focus))
    responder_shifts = [s for s in final_schedule(spec, start, end) if not s.shadow]
    for earlier, later in pairwise(responder_shifts):
        assert earlier.end <= later.start
    for shift in responder_shifts:
        assert start <= shift.start < shift.end <= end


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=schedules())
def test_on_call_at_agrees_with_the_final_schedule(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    compiled = compile_schedule(spec)
    start, end = data.draw(windows(focus))
    shifts = final_schedule(compiled, start, end)
    single = len({layer.priority for layer in spec.layers}) == len(spec.layers)
    for instant in instants_in(data.draw, start, end, shifts):
        answer = on_call_at(compiled, instant)
        covering = [s for s in shifts if s.start <= instant < s.end]
        expected = sorted(keyed(s) for s in covering if not s.shadow)
        assert sorted(keyed_assignment(a) for a in answer.responders) == expected
        assert sorted(keyed_assignment(a) for a in answer.shadows) == sorted(
            keyed(s) for s in covering if s.shadow
        )
        if not answer.responders:
            assert answer.shift_start is None and answer.shift_end is None
            continue
        assert answer.shift_start is not None and answer.shift_start <= instant
        assert answer.shift_end is None or instant < answer.shift_end
        answer_start = max(answer.shift_start, start)
        answer_end = end if answer.shift_end is None else min(answer.shift_end, end)
        for shift in covering:
            if not shift.shadow:
                assert shift.start <= answer_start and answer_end <= shift.end
        if single:
            (shift,) = (s for s in covering if not s.shadow)
            assert (shift.start, shift.end) == (answer_start, answer_end)


def keyed_assignment(assignment: object) -> tuple[int, bool, str, int]:
    return (
        assignment.user_id,  # type: ignore[attr-defined]
        assignment.shadow,  # type: ignore[attr-defined]
        assignment.source_kind,  # type: ignore[attr-defined]
        assignment.source_id,  # type: ignore[attr-defined]
    )


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=schedules(with_overrides=False))
def test_whole_schedule_overrides_win_exactly_within_their_range(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    plain, focus = scenario
    extra = data.draw(overrides(focus, 500, whole_only=True))
    overridden = ScheduleSpec(plain.time_zone, plain.layers, extra)
    start, end = data.draw(windows(focus))
    edges = [edge for item in extra for edge in (item.start, item.end)]
    points = instants_in(data.draw, start, end, [])
    points += [edge + delta for edge in edges for delta in (-TICK, timedelta(0))]
    for instant in points:
        covering = [item for item in extra if item.start <= instant < item.end]
        answer = on_call_at(overridden, instant)
        if covering:
            winner = max(covering, key=lambda item: item.override_id)
            assert [keyed_assignment(a) for a in answer.responders] == [
                (winner.user_id, False, "override", winner.override_id)
            ]
            assert answer.shadows == ()
        else:
            assert answer.responders == on_call_at(plain, instant).responders
    for shift in final_schedule(overridden, start, end):
        if shift.source_kind == "override":
            source = next(item for item in extra if item.override_id == shift.source_id)
            assert source.start <= shift.start and shift.end <= source.end


@st.composite
def restricted_schedules(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime]:
    zone_name = draw(st.sampled_from(ZONES))
    focus = draw(local_instants(zone_name))
    layer = draw(layers(zone_name, focus, layer_id=1, priority=0, restricted=True))
    return ScheduleSpec(zone_name, (layer,), ()), focus


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=restricted_schedules())
def test_restricted_layers_only_put_people_on_call_inside_their_windows(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    (layer,) = spec.layers
    zone = ZoneInfo(spec.time_zone)
    start, end = data.draw(windows(focus))
    shifts = final_schedule(spec, start, end)
    for shift in shifts:
        length = int((shift.end - shift.start) / TICK)
        fractions = [0, length - 1, length // 2, data.draw(st.integers(0, length - 1))]
        for fraction in fractions:
            assert in_restriction_window(layer, shift.start + TICK * fraction, zone)
    # ...and they do put someone on call everywhere inside them.
    for instant in instants_in(data.draw, start, end, shifts):
        expected = layer_is_valid(layer, instant) and in_restriction_window(layer, instant, zone)
        assert bool(on_call_at(spec, instant).responders) == expected


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=schedules())
def test_results_do_not_depend_on_the_window_asked_for(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    compiled = compile_schedule(spec)
    start, end = data.draw(windows(focus))
    whole = final_schedule(compiled, start, end)
    span = int((end - start) / TICK)
    cut = start + TICK * data.draw(st.integers(1, span)) if span > 1 else end
    if cut < end:
        parts = join_at(
            final_schedule(compiled, start, cut), final_schedule(compiled, cut, end), cut
        )
        assert parts == canonical(whole)
    wider_start = start - timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 30)))
    wider_end = end + timedelta(minutes=data.draw(st.integers(0, 60 * 24 * 30)))
    wider = final_schedule(compiled, wider_start, wider_end)
    assert clip(wider, start, end) == canonical(whole)


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=schedules(recent=True))
def test_on_call_at_agrees_with_a_literal_reading_of_the_rules(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    compiled = compile_schedule(spec)
    start, end = data.draw(windows(focus))
    points = instants_in(data.draw, start, end, [])
    points += [edge for item in spec.overrides for edge in (item.start, item.end - TICK)]
    anchors = [layer.anchor.astimezone(UTC) for layer in spec.layers]
    points += [edge for anchor in anchors for edge in (anchor, anchor - TICK)]
    for instant in points:
        answer = on_call_at(compiled, instant)
        responders, shadows = expected_answer(spec, instant)
        assert {(a.user_id, a.source_kind, a.source_id) for a in answer.responders} == responders
        assert {(a.user_id, a.source_kind, a.source_id) for a in answer.shadows} == shadows


@st.composite
def daily_rotations(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime]:
    zone_name = draw(st.sampled_from(ZONES))
    focus = draw(local_instants(zone_name))
    layer = draw(
        layers(
            zone_name,
            focus,
            layer_id=1,
            priority=0,
            restricted=False,
            unit=ShiftUnit.DAYS,
            distinct=True,
        )
    )
    return ScheduleSpec(zone_name, (layer,), ()), focus


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=daily_rotations())
def test_day_rotations_hand_off_at_the_anchor_wall_time(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    (layer,) = spec.layers
    zone = ZoneInfo(spec.time_zone)
    # Through UTC: astimezone() to the anchor's own tzinfo would keep a nonexistent wall time.
    local_anchor = layer.anchor.astimezone(UTC).astimezone(zone)
    wall, anchor_day = local_anchor.time().replace(fold=0), local_anchor.date()
    start, end = data.draw(windows(focus))
    for shift in final_schedule(spec, start, end):
        if shift.start in (start, layer.anchor.astimezone(UTC), layer.active_from):
            continue  # the window edge, the anchor or the version start: not a hand-off
        hand_off = shift.start.astimezone(zone)
        if hand_off.time() == wall:
            assert (hand_off.date() - anchor_day).days % layer.shift_length == 0
            continue
        # Only where the wall time does not exist that day: it moved forward by the gap.
        intended = hand_off.date() if hand_off.time() > wall else hand_off.date() - timedelta(1)
        assert not exists(intended, wall, zone)
        assert (intended - anchor_day).days % layer.shift_length == 0
        assert shift.start == datetime.combine(intended, wall, zone).astimezone(UTC)


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=schedules(with_overrides=False))
def test_rebase_anchor_keeps_the_current_person_and_the_boundaries(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    layer = spec.layers[0]
    bare = Layer(1, 0, layer.participants, (), layer.shift_length, layer.shift_unit, layer.anchor)
    new_order = tuple(data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=5)))
    at = max(focus, layer.anchor.astimezone(UTC))
    anchor = rebase_anchor(bare, new_order, at, spec.time_zone)
    moved = Layer(1, 0, new_order, (), layer.shift_length, layer.shift_unit, anchor)
    before = on_call_at(ScheduleSpec(spec.time_zone, (bare,), ()), at)
    after = on_call_at(ScheduleSpec(spec.time_zone, (moved,), ()), at)
    current = before.responders[0].user_id
    expected_now = current if current in new_order else new_order[0]
    assert [a.user_id for a in after.responders] == [expected_now]
    unit = timedelta(hours=1) if layer.shift_unit is ShiftUnit.HOURS else timedelta(days=1)
    horizon = (at, at + min(3 * layer.shift_length * unit + timedelta(days=1), timedelta(366)))
    old_bounds = boundaries(ScheduleSpec(spec.time_zone, (with_distinct(bare),), ()), *horizon)
    new_bounds = boundaries(ScheduleSpec(spec.time_zone, (with_distinct(moved),), ()), *horizon)
    assert old_bounds == new_bounds


def with_distinct(layer: Layer) -> Layer:
    """The same rotation with two people taking turns, so every shift boundary is a hand-off."""
    return Layer(1, 0, (1000, 1001), (), layer.shift_length, layer.shift_unit, layer.anchor)


def boundaries(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    return [s.start for s in final_schedule(spec, start, end) if s.start > start]
