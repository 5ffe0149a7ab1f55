"""Property-based tests of the on-call calculator.

Instants are drawn as local wall-clock times in the schedule's zone, biased towards the days on
which that zone changes its UTC offset, so DST edges come up often.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.schedules.oncall import (
    Assignment,
    CoveredSource,
    HandoffRule,
    Layer,
    Override,
    Restriction,
    ScheduleSpec,
    Shift,
    ShiftUnit,
    compile_schedule,
    conflicting_overrides,
    final_schedule,
    gaps,
    on_call_at,
    rebase_anchor,
    replacement_cycle,
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
    rules: tuple[HandoffRule | None, ...] = (None, *HandoffRule),
    own_zone: bool = True,
) -> Layer:
    """A layer whose anchor is usually before ``focus`` (years before unless ``recent``).

    Any hand-off rule of ``rules`` (None: the unit's own); with ``own_zone`` the layer may have
    its own time zone, in which its anchor, hand-offs and windows are read.
    """
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
    rule = draw(st.sampled_from(rules))
    layer_zone = draw(st.none() | st.sampled_from(ZONES)) if own_zone else None
    zone = ZoneInfo(layer_zone or zone_name)
    long_ago = st.integers(-3, 60) if recent else st.integers(0, 365 * 12)
    days_back = draw(st.one_of(st.integers(-3, 30), long_ago))
    anchor_day = focus.astimezone(zone).date() - timedelta(days=days_back)
    anchor = datetime.combine(
        max(anchor_day, date(FIRST_YEAR, 1, 1)), draw(wall_times()), zone
    ).replace(fold=draw(st.integers(0, 1)))
    if restricted is None:
        restricted = draw(st.booleans())
    windows = tuple(draw(st.lists(restrictions(), min_size=1, max_size=2))) if restricted else ()
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
        restrictions=windows,
        active_from=active_from,
        active_until=active_until,
        handoff_rule=rule,
        time_zone=layer_zone,
    )


def hours() -> st.SearchStrategy[float]:
    return st.integers(-24 * 20, 24 * 20).map(float)


@st.composite
def overrides(
    draw: st.DrawFn,
    focus: datetime,
    first_id: int,
    *,
    whole_only: bool = False,
) -> tuple[Override, ...]:
    """Overrides around ``focus``; replacements may replace a replacer (chains), or even close
    a circle (older data may hold one)."""
    count = draw(st.integers(0, 4))
    items = []
    for offset in range(count):
        start = focus + timedelta(minutes=draw(st.integers(-60 * 24 * 10, 60 * 24 * 10)))
        length = timedelta(minutes=draw(st.integers(1, 60 * 72)))
        user = draw(st.integers(20, 23) | st.integers(1, 6))
        replaces = None if whole_only else draw(st.none() | st.integers(1, 6) | st.integers(20, 23))
        if replaces == user:
            replaces = None
        items.append(Override(first_id + offset, start, start + length, user, replaces))
    return tuple(items)


@st.composite
def chained_overrides(draw: st.DrawFn, focus: datetime, first_id: int) -> tuple[Override, ...]:
    """Replacements built on each other: each may replace the person an earlier one put on
    (starting during it), and may be taken by someone already in the chain (a circle)."""
    items: list[Override] = []
    for offset in range(draw(st.integers(1, 5))):
        if items and draw(st.integers(0, 2)) > 0:
            below = draw(st.sampled_from(items))
            replaced = below.user_id
            start = below.start + (below.end - below.start) * draw(st.floats(-0.2, 0.9))
        else:
            replaced = draw(st.integers(1, 6))
            start = focus + timedelta(minutes=draw(st.integers(-60 * 24, 60 * 24)))
        earlier = [p for item in items for p in (item.user_id, item.replaces_user_id)]
        people = st.integers(1, 6) | st.integers(20, 23)
        user = draw(st.sampled_from(earlier) | people if earlier else people)
        if user == replaced:
            user = 30 + offset
        length = timedelta(minutes=draw(st.integers(1, 60 * 72)))
        items.append(Override(first_id + offset, start, start + length, user, replaced))
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
    extra: tuple[Override, ...] = ()
    if with_overrides:
        extra = draw(overrides(focus, 100)) + draw(st.just(()) | chained_overrides(focus, 200))
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


def layer_zone(layer: Layer, schedule_zone: ZoneInfo) -> ZoneInfo:
    return ZoneInfo(layer.time_zone) if layer.time_zone else schedule_zone


def in_restriction_window(layer: Layer, instant: datetime, schedule_zone: ZoneInfo) -> bool:
    """Whether ``instant`` lies in one of the layer's windows, read in the layer's zone."""
    zone = layer_zone(layer, schedule_zone)
    local_day = instant.astimezone(zone).date()
    for days_back in range(3):
        day = local_day - timedelta(days=days_back)
        for rule in layer.restrictions:
            if day.isoweekday() not in rule.weekdays:
                continue
            end_day = day + timedelta(days=1) if rule.end <= rule.start else day
            opens = window_edge(day, rule.start, zone)
            closes = window_edge(end_day, rule.end, zone)
            if opens <= instant < closes:
                return True
    return False


def window_edge(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """A window edge: the wall time (its first occurrence if it repeats), or, if the clock skips
    it, the first instant at which the clock shows a later time."""
    if exists(day, wall, zone):
        return datetime.combine(day, wall, zone).astimezone(UTC)
    wanted = datetime.combine(day, wall)
    moment = datetime.combine(day, wall, zone).replace(fold=1).astimezone(UTC)  # before the gap
    moment = moment.replace(second=0, microsecond=0)
    while moment.astimezone(zone).replace(tzinfo=None) < wanted:
        moment += timedelta(minutes=1)  # changes happen on whole minutes in these zones
    return moment


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


def rotation_user(layer: Layer, instant: datetime, schedule_zone: ZoneInfo) -> int | None:
    """Who the layer has on at ``instant``, walking hand-off by hand-off from the anchor."""
    if not layer_is_valid(layer, instant):
        return None
    if layer.restrictions and not in_restriction_window(layer, instant, schedule_zone):
        return None
    zone = layer_zone(layer, schedule_zone)
    anchor = layer.anchor.astimezone(UTC)
    unit = timedelta(hours=1) if layer.shift_unit is ShiftUnit.HOURS else timedelta(days=1)
    step = layer.shift_length * unit
    index = 0
    while True:
        if layer.handoff_rule is HandoffRule.ELAPSED:
            next_hand_off = anchor + step * (index + 1)
        else:
            next_hand_off = wall_clock_hand_off(layer, index + 1, zone)
        if next_hand_off > instant:
            return layer.participants[index % len(layer.participants)]
        index += 1


def wall_clock_hand_off(layer: Layer, index: int, zone: ZoneInfo) -> datetime:
    """Hand-off ``index`` (> 0) of a wall-clock rotation: the anchor's wall time plus ``index``
    shift lengths on the wall clock, under the DST rule (fold=0: a skipped time moves forward by
    the gap), never after a later hand-off."""
    unit = timedelta(hours=1) if layer.shift_unit is ShiftUnit.HOURS else timedelta(days=1)
    step = layer.shift_length * unit
    first = layer.anchor.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)
    wall = first + step * index
    hand_off = datetime.combine(wall.date(), wall.time(), zone).astimezone(UTC)
    while not exists(wall.date(), wall.time(), zone):
        wall += step
        later = datetime.combine(wall.date(), wall.time(), zone).astimezone(UTC)
        hand_off = min(hand_off, later)
    return hand_off


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
        kind, source, chain = "layer", layer.layer_id, [user]
        # Follow the replacements: whoever covers the person on call, unless it comes back round.
        while (cover := newest(i for i in in_force if i.replaces_user_id == chain[-1])) is not None:
            if cover.user_id in chain:
                break
            kind, source = "override", cover.override_id
            chain.append(cover.user_id)
        responders.add((chain[-1], kind, source))
    responding = {user for user, _, _ in responders}
    shadows = {
        (shadow, "layer", layer.layer_id)
        for layer, _ in winners
        for shadow in layer.shadows
        if shadow not in responding
    }
    return responders, shadows


Keyed = tuple[int, bool, str, int, tuple[CoveredSource, ...]]


def keyed(shift: Shift) -> Keyed:
    return (shift.user_id, shift.shadow, shift.source_kind, shift.source_id, shift.covering)


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
            assert answer.source_start is None and answer.source_end is None
            continue
        # source_start/source_end: the assignments, sources included, stay exactly as answered.
        assert answer.source_start is not None and answer.source_start <= instant
        assert answer.source_end is None or instant < answer.source_end
        source_start = max(answer.source_start, start)
        source_end = end if answer.source_end is None else min(answer.source_end, end)
        for shift in covering:
            if not shift.shadow:
                assert shift.start <= source_start and source_end <= shift.end
        if single:
            (shift,) = (s for s in covering if not s.shadow)
            assert (shift.start, shift.end) == (source_start, source_end)
        # shift_start/shift_end: the hand-offs, where the set of people on call changes.
        assert answer.shift_start is not None and answer.shift_start <= answer.source_start
        assert answer.shift_end is None or answer.source_end is not None
        if answer.shift_end is not None:
            assert answer.source_end is not None and answer.source_end <= answer.shift_end
        people = people_at(shifts, instant)
        hand_off_start = max(answer.shift_start, start)
        hand_off_end = end if answer.shift_end is None else min(answer.shift_end, end)
        edges = {edge for shift in shifts for edge in (shift.start, shift.end)}
        assert all(
            people_at(shifts, edge) == people
            for edge in edges
            if hand_off_start <= edge < hand_off_end
        ), "the same people throughout"
        if answer.shift_start > start:
            assert people_at(shifts, answer.shift_start - TICK) != people
        if answer.shift_end is not None and answer.shift_end < end:
            assert people_at(shifts, answer.shift_end) != people


def people_at(shifts: list[Shift], instant: datetime) -> frozenset[int]:
    return frozenset(s.user_id for s in shifts if not s.shadow and s.start <= instant < s.end)


def keyed_assignment(assignment: Assignment) -> Keyed:
    return (
        assignment.user_id,
        assignment.shadow,
        assignment.source_kind,
        assignment.source_id,
        assignment.covering,
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
                (winner.user_id, False, "override", winner.override_id, ())
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
def accepted_covers(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime, list[Override]]:
    """A schedule whose overrides were checked one by one as the API checks them, and the
    candidates refused for closing a circle of covers."""
    plain, focus = draw(schedules(with_overrides=False))
    accepted: list[Override] = []
    refused: list[Override] = []
    for candidate in draw(chained_overrides(focus, 300)) + draw(overrides(focus, 400)):
        if conflicting_overrides(accepted, candidate):
            continue
        (refused if replacement_cycle(accepted, candidate) else accepted).append(candidate)
    return ScheduleSpec(plain.time_zone, plain.layers, tuple(accepted)), focus, refused


def replacements_in_force(items: Iterable[Override], instant: datetime) -> dict[int, Override]:
    """The newest replacement of each person at ``instant``."""
    found: dict[int, Override] = {}
    for item in sorted(items, key=lambda item: item.override_id):
        if item.replaces_user_id is not None and item.start <= instant < item.end:
            found[item.replaces_user_id] = item
    return found


def has_circle(items: Iterable[Override], instant: datetime) -> bool:
    in_force = replacements_in_force(items, instant)
    for user in in_force:
        seen = {user}
        while user in in_force:
            user = in_force[user].user_id
            if user in seen:
                return True
            seen.add(user)
    return False


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=accepted_covers())
def test_nobody_is_paged_while_an_accepted_cover_replaces_them(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime, list[Override]]
) -> None:
    spec, focus, _ = scenario
    compiled = compile_schedule(spec)
    start, end = data.draw(windows(focus))
    sources = {item.override_id: item for item in spec.overrides}
    points = instants_in(data.draw, start, end, final_schedule(compiled, start, end))
    points += [edge for item in spec.overrides for edge in (item.start, item.end - TICK)]
    for instant in points:
        covered = set(replacements_in_force(spec.overrides, instant))
        for answer in on_call_at(compiled, instant).responders:
            assert answer.user_id not in covered
            # The chain names each step: the override's user, and whom it replaced below.
            steps = [(answer.source_kind, answer.source_id, answer.user_id), *answer.covering]
            for (kind, source, user), (_, _, below) in pairwise(steps):
                override = sources[source]
                assert kind == "override" and override.user_id == user
                assert override.replaces_user_id == below
                assert override.start <= instant < override.end
            assert steps[-1][0] == "layer" or sources[steps[-1][1]].replaces_user_id is None


@PROPERTY_SETTINGS
@given(scenario=accepted_covers())
def test_circles_of_covers_are_refused_exactly(
    scenario: tuple[ScheduleSpec, datetime, list[Override]],
) -> None:
    spec, _, refused = scenario
    edges = [item.start for item in spec.overrides]
    assert not any(has_circle(spec.overrides, edge) for edge in edges)
    for candidate in refused:
        # Candidates were checked in the order of their ids, against those accepted so far.
        before = [item for item in spec.overrides if item.override_id < candidate.override_id]
        inside = [item.start for item in before if candidate.start < item.start < candidate.end]
        instants = [candidate.start, *inside]
        assert any(has_circle((*before, candidate), instant) for instant in instants)


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
            rules=(None, HandoffRule.WALL_CLOCK),
            own_zone=False,
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
    bare = replace(layer, layer_id=1, priority=0, shadows=(), restrictions=(), active_from=None)
    bare = replace(bare, active_until=None)
    new_order = tuple(data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=5)))
    at = max(focus, layer.anchor.astimezone(UTC))
    anchor = rebase_anchor(bare, new_order, at, spec.time_zone)
    moved = replace(bare, participants=new_order, anchor=anchor)
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
    return replace(layer, participants=(1000, 1001))


def boundaries(spec: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    return [s.start for s in final_schedule(spec, start, end) if s.start > start]


# Zones whose gaps are not one hour: Lord Howe moves its clocks by 30 minutes, Troll by two hours
# (longer than an hourly shift).
ODD_GAP_ZONES = ("Australia/Lord_Howe", "Antarctica/Troll")


@st.composite
def wall_clock_hour_rotations(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime]:
    """One wall-clock hour rotation, often in a zone of its own, around one of its DST days."""
    zone_name = draw(st.sampled_from(ZONES + ODD_GAP_ZONES))
    focus = draw(local_instants(zone_name))
    layer = draw(
        layers(
            zone_name,
            focus,
            layer_id=1,
            priority=0,
            restricted=False,
            unit=ShiftUnit.HOURS,
            distinct=True,
            recent=True,
            rules=(HandoffRule.WALL_CLOCK,),
            own_zone=False,
        )
    )
    schedule_zone = draw(st.sampled_from((zone_name, "UTC", "Asia/Kolkata")))
    if schedule_zone != zone_name:
        layer = replace(layer, time_zone=zone_name)
    return ScheduleSpec(schedule_zone, (layer,), ()), focus


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=wall_clock_hour_rotations())
def test_wall_clock_hour_rotations_hand_off_at_their_wall_times(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    (layer,) = spec.layers
    zone = layer_zone(layer, ZoneInfo(spec.time_zone))
    step = timedelta(hours=layer.shift_length)
    first = layer.anchor.astimezone(UTC).astimezone(zone).replace(tzinfo=None, fold=0)
    start, end = data.draw(windows(focus))
    shifts = [s for s in final_schedule(spec, start, end) if not s.shadow]
    for shift in shifts:
        if shift.start in (start, layer.anchor.astimezone(UTC), layer.active_from):
            continue  # the window edge, the anchor or the version start: not a hand-off
        wall = shift.start.astimezone(zone).replace(tzinfo=None)
        near = (wall - first) // step
        # The last hand-off placed here starts this shift (earlier ones a gap emptied).
        index = max(
            (j for j in range(near - 4, near + 3) if j > 0),
            key=lambda j: (wall_clock_hand_off(layer, j, zone) == shift.start, j),
        )
        assert wall_clock_hand_off(layer, index, zone) == shift.start
        intended = first + index * step
        if exists(intended.date(), intended.time(), zone):
            assert wall == intended, "an existing wall time is kept exactly"
        else:
            assert shift.start > datetime.combine(intended.date(), intended.time(), zone).replace(
                fold=1
            ).astimezone(UTC), "a skipped hand-off only moves forward"
    # Shifts end where the next begins: the rotation covers time without holes or overlaps.
    for earlier, later in pairwise(shifts):
        assert earlier.end == later.start


@st.composite
def regional_schedules(draw: st.DrawFn) -> tuple[ScheduleSpec, datetime]:
    """Up to three restricted layers, each in its own zone, with distinct priorities."""
    zone_names = draw(st.lists(st.sampled_from(ZONES), min_size=1, max_size=3))
    focus = draw(local_instants(draw(st.sampled_from(zone_names))))
    priorities = draw(st.permutations(range(len(zone_names))))
    regional = []
    for index, zone_name in enumerate(zone_names):
        layer = draw(
            layers(
                zone_name,
                focus,
                index + 1,
                priorities[index],
                restricted=True,
                recent=True,
                own_zone=False,
            )
        )
        regional.append(replace(layer, time_zone=zone_name))
    return ScheduleSpec(draw(st.sampled_from(("UTC", *ZONES))), tuple(regional), ()), focus


@PROPERTY_SETTINGS
@given(data=st.data(), scenario=regional_schedules())
def test_regional_layers_put_people_on_call_in_their_own_windows(
    data: st.DataObject, scenario: tuple[ScheduleSpec, datetime]
) -> None:
    spec, focus = scenario
    compiled = compile_schedule(spec)
    start, end = data.draw(windows(focus))
    shifts = final_schedule(compiled, start, end)
    responder_shifts = [s for s in shifts if not s.shadow]
    for earlier, later in pairwise(responder_shifts):
        assert earlier.end <= later.start
    for instant in instants_in(data.draw, start, end, shifts):
        responders, _ = expected_answer(spec, instant)
        answer = on_call_at(compiled, instant)
        assert {(a.user_id, a.source_kind, a.source_id) for a in answer.responders} == responders
        covering = [s for s in responder_shifts if s.start <= instant < s.end]
        assert [(s.user_id, s.source_id) for s in covering] == [
            (a.user_id, a.source_id) for a in answer.responders
        ]
    gap_list = gaps(compiled, start, end)
    for low, high in gap_list:
        assert not on_call_at(compiled, low).responders
        assert not on_call_at(compiled, high - TICK).responders


def test_a_hand_off_past_the_look_back_never_comes_after_the_shift_it_hands_to() -> None:
    """Found by the property above in CI. Person 3 has been on call without a break since
    2015-03-12 (layer 3), and through a second layer too since 2015-03-13 00:00 New York time:
    the answer's sources last changed then, more than ``MAX_WINDOW`` before 2016-03-13 05:00
    UTC. The look-back bound (``at`` - 366 days: 05:00 UTC, an hour after that local midnight in
    daylight time) was given as the hand-off, after the start of the answer itself."""

    def hourly(layer_id: int, person: int, anchor: datetime, *limits: Restriction) -> Layer:
        return Layer(
            layer_id=layer_id,
            priority=0,
            participants=(person,),
            shadows=(),
            shift_length=1,
            shift_unit=ShiftUnit.HOURS,
            anchor=anchor,
            restrictions=limits,
            handoff_rule=HandoffRule.ELAPSED,
        )

    new_york = ZoneInfo("America/New_York")
    monday_midnight = Restriction(weekdays=frozenset({1}), start=time(0), end=time(0))
    spec = ScheduleSpec(
        time_zone="America/New_York",
        layers=(
            hourly(1, 1, datetime(2016, 3, 13, tzinfo=new_york), monday_midnight),
            hourly(2, 3, datetime(2015, 3, 13, tzinfo=new_york)),
            hourly(3, 3, datetime(2015, 3, 12, tzinfo=new_york)),
        ),
        overrides=(),
    )
    answer = on_call_at(spec, datetime(2016, 3, 13, 5, 0, tzinfo=UTC))
    assert answer.source_start == datetime(2015, 3, 13, 4, 0, tzinfo=UTC)
    assert answer.shift_start is not None and answer.shift_start <= answer.source_start
