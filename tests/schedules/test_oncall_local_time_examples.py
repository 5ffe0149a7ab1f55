"""Table-driven examples for local time in the calculator: hand-off rules, per-layer time zones
and restriction windows at DST changes, with literal instants.

DST dates used below (2026): New York springs forward on 8 March (02:00 EST -> 03:00 EDT, 07:00
UTC) and falls back on 1 November (02:00 EDT -> 01:00 EST, 06:00 UTC); Berlin on 29 March (02:00
CET -> 03:00 CEST, 01:00 UTC) and 25 October (03:00 CEST -> 02:00 CET, 01:00 UTC); Sydney ends DST
on 5 April (03:00 AEDT -> 02:00 AEST, 16:00 UTC the day before) and starts it on 4 October (02:00
AEST -> 03:00 AEDT, 16:00 UTC the day before).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.schedules.oncall import (
    HandoffRule,
    Layer,
    Restriction,
    ScheduleSpec,
    ShiftUnit,
    default_handoff_rule,
    final_schedule,
    gaps,
    on_call_at,
    rebase_anchor,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
EVERY_DAY = frozenset(range(1, 8))
SUNDAY = frozenset({7})
DAYS, HOURS = ShiftUnit.DAYS, ShiftUnit.HOURS
WALL_CLOCK, ELAPSED = HandoffRule.WALL_CLOCK, HandoffRule.ELAPSED


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=zone)  # type: ignore[misc]


def rotation(
    participants: tuple[int, ...],
    anchor: datetime,
    length: int,
    unit: ShiftUnit,
    rule: HandoffRule | None = None,
    *,
    layer_id: int = 1,
    priority: int = 1,
    zone: str | None = None,
    restrictions: tuple[Restriction, ...] = (),
) -> Layer:
    return Layer(
        layer_id,
        priority,
        participants,
        (),
        length,
        unit,
        anchor,
        restrictions,
        handoff_rule=rule,
        time_zone=zone,
    )


def responder_shifts(
    spec: ScheduleSpec, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, int]]:
    return [(s.start, s.end, s.user_id) for s in final_schedule(spec, start, end) if not s.shadow]


# ---------------------------------------------------------------------------------------------
# Hand-off rules: a day/night rotation keeps 08:00 and 20:00 on the wall clock
# ---------------------------------------------------------------------------------------------

DAY_NIGHT_CASES = [
    pytest.param(
        "Europe/Berlin",
        local(BERLIN, 2026, 1, 5, 8),
        (utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)),
        [
            (utc(2026, 3, 28, 12), utc(2026, 3, 28, 19), 1),
            (utc(2026, 3, 28, 19), utc(2026, 3, 29, 6), 2),  # 20:00 CET -> 08:00 CEST: 11 h
            (utc(2026, 3, 29, 6), utc(2026, 3, 29, 12), 1),
        ],
        id="berlin-spring-forward",
    ),
    pytest.param(
        "Europe/Berlin",
        local(BERLIN, 2026, 1, 5, 8),
        (utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)),
        [
            (utc(2026, 10, 24, 12), utc(2026, 10, 24, 18), 1),
            (utc(2026, 10, 24, 18), utc(2026, 10, 25, 7), 2),  # 20:00 CEST -> 08:00 CET: 13 h
            (utc(2026, 10, 25, 7), utc(2026, 10, 25, 12), 1),
        ],
        id="berlin-fall-back",
    ),
    pytest.param(
        "America/New_York",
        local(NY, 2026, 1, 5, 8),
        (utc(2026, 3, 7, 20), utc(2026, 3, 8, 20)),
        [
            (utc(2026, 3, 7, 20), utc(2026, 3, 8, 1), 1),
            (utc(2026, 3, 8, 1), utc(2026, 3, 8, 12), 2),  # 20:00 EST -> 08:00 EDT: 11 h
            (utc(2026, 3, 8, 12), utc(2026, 3, 8, 20), 1),
        ],
        id="new-york-spring-forward",
    ),
    pytest.param(
        "America/New_York",
        local(NY, 2026, 1, 5, 8),
        (utc(2026, 10, 31, 20), utc(2026, 11, 1, 20)),
        [
            (utc(2026, 10, 31, 20), utc(2026, 11, 1), 1),
            (utc(2026, 11, 1), utc(2026, 11, 1, 13), 2),  # 20:00 EDT -> 08:00 EST: 13 h
            (utc(2026, 11, 1, 13), utc(2026, 11, 1, 20), 1),
        ],
        id="new-york-fall-back",
    ),
    pytest.param(
        "Australia/Sydney",
        local(SYDNEY, 2026, 1, 5, 8),
        (utc(2026, 4, 4, 3), utc(2026, 4, 5, 3)),
        [
            (utc(2026, 4, 4, 3), utc(2026, 4, 4, 9), 1),
            (utc(2026, 4, 4, 9), utc(2026, 4, 4, 22), 2),  # 20:00 AEDT -> 08:00 AEST: 13 h
            (utc(2026, 4, 4, 22), utc(2026, 4, 5, 3), 1),
        ],
        id="sydney-dst-ends",
    ),
    pytest.param(
        "Australia/Sydney",
        local(SYDNEY, 2026, 1, 5, 8),
        (utc(2026, 10, 3, 3), utc(2026, 10, 4, 3)),
        [
            (utc(2026, 10, 3, 3), utc(2026, 10, 3, 10), 1),
            (utc(2026, 10, 3, 10), utc(2026, 10, 3, 21), 2),  # 20:00 AEST -> 08:00 AEDT: 11 h
            (utc(2026, 10, 3, 21), utc(2026, 10, 4, 3), 1),
        ],
        id="sydney-dst-starts",
    ),
]


@pytest.mark.parametrize(("zone_name", "anchor", "window", "expected"), DAY_NIGHT_CASES)
def test_wall_clock_twelve_hour_shifts_keep_their_local_hand_off_times(
    zone_name: str,
    anchor: datetime,
    window: tuple[datetime, datetime],
    expected: list[tuple[datetime, datetime, int]],
) -> None:
    spec = ScheduleSpec(zone_name, (rotation((1, 2), anchor, 12, HOURS, WALL_CLOCK),), ())
    assert responder_shifts(spec, *window) == expected
    zone = ZoneInfo(zone_name)
    for start, _, _ in expected[1:]:
        assert start.astimezone(zone).time() in (time(8), time(20))
    night_start, night_end, _ = expected[1]
    answer = on_call_at(spec, night_start + timedelta(hours=5))
    assert (answer.shift_start, answer.shift_end) == (night_start, night_end)


def test_elapsed_twelve_hour_shifts_drift_on_the_wall_clock() -> None:
    spec = ScheduleSpec(
        "Europe/Berlin", (rotation((1, 2), local(BERLIN, 2026, 1, 5, 8), 12, HOURS, ELAPSED),), ()
    )
    assert responder_shifts(spec, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        (utc(2026, 3, 28, 12), utc(2026, 3, 28, 19), 1),
        (utc(2026, 3, 28, 19), utc(2026, 3, 29, 7), 2),  # 12 h: hands off at 09:00 CEST
        (utc(2026, 3, 29, 7), utc(2026, 3, 29, 12), 1),
    ]


def test_hour_layers_without_a_rule_count_elapsed_time_as_before() -> None:
    anchor = local(NY, 2026, 1, 5, 8)
    legacy = ScheduleSpec("America/New_York", (rotation((1, 2), anchor, 12, HOURS),), ())
    elapsed = ScheduleSpec("America/New_York", (rotation((1, 2), anchor, 12, HOURS, ELAPSED),), ())
    window = (utc(2026, 3, 1), utc(2026, 3, 15))
    assert final_schedule(legacy, *window) == final_schedule(elapsed, *window)
    assert legacy.layers[0].handoff_rule is ELAPSED


def test_hourly_wall_clock_shifts_at_the_new_york_changes() -> None:
    spec = ScheduleSpec(
        "America/New_York",
        (rotation((1, 2, 3), local(NY, 2026, 3, 7, 0), 1, HOURS, WALL_CLOCK),),
        (),
    )
    # 00:00, 01:00 EST; 02:00 does not exist and moves to 03:00 EDT, where the 03:00 shift
    # starts too: that shift (user 3) has no time at all, and the shifts go on at 03:00 EDT.
    assert responder_shifts(spec, utc(2026, 3, 8, 5), utc(2026, 3, 8, 9)) == [
        (utc(2026, 3, 8, 5), utc(2026, 3, 8, 6), 1),
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), 2),
        (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8), 1),  # 03:00 EDT: user 3 was skipped
        (utc(2026, 3, 8, 8), utc(2026, 3, 8, 9), 2),
    ]
    # In autumn the 01:00 shift runs from 01:00 EDT to 02:00 EST: two hours.
    shifts = responder_shifts(spec, utc(2026, 11, 1, 4), utc(2026, 11, 1, 8))
    assert (utc(2026, 11, 1, 5), utc(2026, 11, 1, 7)) in [(start, end) for start, end, _ in shifts]


@pytest.mark.parametrize(
    ("zone_name", "zone"),
    [("America/New_York", NY), ("Europe/Berlin", BERLIN), ("Australia/Sydney", SYDNEY)],
)
def test_whole_day_wall_clock_hours_hand_off_like_day_shifts(
    zone_name: str, zone: ZoneInfo
) -> None:
    anchor = local(zone, 2026, 1, 5, 2, 30)  # 02:30 falls in every spring-forward gap here
    for hours, days in ((24, 1), (48, 2), (168, 7)):
        by_hours = rotation((1, 2, 3), anchor, hours, HOURS, WALL_CLOCK)
        by_days = rotation((1, 2, 3), anchor, days, DAYS)
        for start in (utc(2026, 3, 1), utc(2026, 9, 20), utc(2026, 10, 20)):
            window = (start, start + timedelta(days=30))
            assert final_schedule(ScheduleSpec(zone_name, (by_hours,), ()), *window) == (
                final_schedule(ScheduleSpec(zone_name, (by_days,), ()), *window)
            ), (hours, start)


def test_six_hour_wall_clock_shifts_in_sydney() -> None:
    spec = ScheduleSpec(
        "Australia/Sydney",
        (rotation((1, 2, 3, 4), local(SYDNEY, 2026, 4, 1, 0), 6, HOURS, WALL_CLOCK),),
        (),
    )
    # 00:00 AEDT (13:00 UTC), 06:00 AEST (20:00 UTC): the night of the change lasts 7 hours.
    assert responder_shifts(spec, utc(2026, 4, 4, 13), utc(2026, 4, 5, 2)) == [
        (utc(2026, 4, 4, 13), utc(2026, 4, 4, 20), 1),
        (utc(2026, 4, 4, 20), utc(2026, 4, 5, 2), 2),
    ]


def test_elapsed_day_shifts_count_24_hours() -> None:
    spec = ScheduleSpec(
        "Europe/Berlin", (rotation((1, 2), local(BERLIN, 2026, 3, 27, 9), 1, DAYS, ELAPSED),), ()
    )
    starts = [start for start, _, _ in responder_shifts(spec, utc(2026, 3, 27), utc(2026, 3, 31))]
    # 09:00 CET is 08:00 UTC; after the change 08:00 UTC is 10:00 CEST.
    assert starts == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 8),
        utc(2026, 3, 30, 8),
    ]


@pytest.mark.parametrize(
    ("length", "unit", "expected"),
    [
        (12, HOURS, WALL_CLOCK),
        (8, HOURS, WALL_CLOCK),
        (1, HOURS, WALL_CLOCK),
        (24, HOURS, WALL_CLOCK),
        (48, HOURS, WALL_CLOCK),
        (168, HOURS, WALL_CLOCK),
        (5, HOURS, ELAPSED),
        (10, HOURS, ELAPSED),
        (36, HOURS, ELAPSED),
        (1, DAYS, WALL_CLOCK),
        (7, DAYS, WALL_CLOCK),
        (5, DAYS, WALL_CLOCK),
    ],
)
def test_default_handoff_rule(length: int, unit: ShiftUnit, expected: HandoffRule) -> None:
    assert default_handoff_rule(length, unit) is expected


# ---------------------------------------------------------------------------------------------
# Per-layer time zones: follow the sun with regional business hours in a UTC schedule
# ---------------------------------------------------------------------------------------------


def regional(layer_id: int, zone: str, priority: int) -> Layer:
    return rotation(
        (layer_id,),
        utc(2026, 1, 1),
        1,
        DAYS,
        layer_id=layer_id,
        priority=priority,
        zone=zone,
        restrictions=(Restriction(EVERY_DAY, time(9), time(17)),),
    )


FOLLOW_THE_SUN = ScheduleSpec(
    "UTC",
    (
        regional(1, "Australia/Sydney", 3),
        regional(2, "Europe/Berlin", 2),
        regional(3, "America/New_York", 1),
    ),
    (),
)


@pytest.mark.parametrize(
    ("day", "holes"),
    [
        # Sydney 22-06 UTC (AEDT), Berlin 08-16 (CET), New York 14-22 (EST).
        pytest.param(date(2026, 1, 14), [((6, 0), (8, 0))], id="january"),
        # New York is on EDT (13-21) three weeks before Berlin changes.
        pytest.param(date(2026, 3, 18), [((6, 0), (8, 0)), ((21, 0), (22, 0))], id="march"),
        # Sydney on AEST (23-07), Berlin on CEST (07-15), New York on EDT.
        pytest.param(date(2026, 4, 15), [((21, 0), (23, 0))], id="april"),
        pytest.param(date(2026, 7, 15), [((21, 0), (23, 0))], id="july"),
        # Sydney back on AEDT (22-06) while Berlin and New York are still on summer time.
        pytest.param(date(2026, 10, 14), [((6, 0), (7, 0)), ((21, 0), (22, 0))], id="october"),
        pytest.param(date(2026, 11, 11), [((6, 0), (8, 0))], id="november"),
    ],
)
def test_regional_business_hours_leave_the_real_holes(
    day: date, holes: list[tuple[tuple[int, int], tuple[int, int]]]
) -> None:
    midnight = datetime.combine(day, time(0), UTC)
    expected = [
        (midnight.replace(hour=a, minute=b), midnight.replace(hour=c, minute=d))
        for (a, b), (c, d) in holes
    ]
    assert gaps(FOLLOW_THE_SUN, midnight, midnight + timedelta(days=1)) == expected


def test_each_region_works_09_to_17_on_its_own_clock() -> None:
    for zone_name, user in (("Australia/Sydney", 1), ("Europe/Berlin", 2), ("America/New_York", 3)):
        zone = ZoneInfo(zone_name)
        for day in (date(2026, 1, 14), date(2026, 4, 15), date(2026, 7, 15), date(2026, 10, 14)):
            opens = datetime.combine(day, time(9), zone)
            answer = on_call_at(FOLLOW_THE_SUN, opens + timedelta(hours=4))
            if user == 3:  # New York's mornings are Berlin's afternoons: Berlin wins until 17:00
                continue
            assert [a.user_id for a in answer.responders] == [user], (zone_name, day)
            assert answer.shift_start is not None
            assert answer.shift_start.astimezone(zone).time() == time(9), (zone_name, day)


def test_a_layer_hands_off_on_its_own_clock() -> None:
    berlin_daily = rotation((1, 2), local(BERLIN, 2026, 3, 27, 9), 1, DAYS, zone="Europe/Berlin")
    sydney_nights = rotation(
        (3, 4),
        local(SYDNEY, 2026, 4, 3, 20),
        12,
        HOURS,
        WALL_CLOCK,
        layer_id=2,
        priority=0,
        zone="Australia/Sydney",
    )
    spec = ScheduleSpec("America/New_York", (berlin_daily, sydney_nights), ())
    starts = [s.start for s in final_schedule(spec, utc(2026, 3, 27), utc(2026, 3, 31))]
    berlin_starts = [s for s in starts if s.astimezone(BERLIN).time() == time(9)]
    assert berlin_starts == [
        utc(2026, 3, 27, 8),
        utc(2026, 3, 28, 8),
        utc(2026, 3, 29, 7),
        utc(2026, 3, 30, 7),
    ]
    # Sydney's 20:00/08:00 hand-offs around the end of its DST, in a New York schedule.
    lower = ScheduleSpec("America/New_York", (sydney_nights,), ())
    assert responder_shifts(lower, utc(2026, 4, 4, 9), utc(2026, 4, 5, 10)) == [
        (utc(2026, 4, 4, 9), utc(2026, 4, 4, 22), 3),  # 20:00 AEDT -> 08:00 AEST: 13 h
        (utc(2026, 4, 4, 22), utc(2026, 4, 5, 10), 4),
    ]


def test_a_layer_in_the_schedule_zone_named_explicitly_answers_the_same() -> None:
    anchor = local(NY, 2026, 1, 5, 8)
    implicit = rotation((1, 2), anchor, 12, HOURS, WALL_CLOCK)
    explicit = rotation((1, 2), anchor, 12, HOURS, WALL_CLOCK, zone="America/New_York")
    window = (utc(2026, 3, 1), utc(2026, 3, 15))
    assert final_schedule(ScheduleSpec("America/New_York", (implicit,), ()), *window) == (
        final_schedule(ScheduleSpec("UTC", (explicit,), ()), *window)
    )


# ---------------------------------------------------------------------------------------------
# Restriction windows at DST changes: an edge inside a gap is the first instant after the gap;
# an ambiguous edge is its first occurrence.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "day", "opens", "closes", "expected"),
    [
        # Spring-forward Sundays: 02:30 does not exist.
        pytest.param(
            "America/New_York",
            date(2026, 3, 8),
            time(2, 30),
            time(4),
            [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))],  # 03:00-04:00 EDT
            id="new-york-starts-in-the-gap",
        ),
        pytest.param(
            "America/New_York",
            date(2026, 3, 8),
            time(0),
            time(2, 30),
            [(utc(2026, 3, 8, 5), utc(2026, 3, 8, 7))],  # until the clock jumps to 03:00
            id="new-york-ends-in-the-gap",
        ),
        pytest.param(
            "America/New_York",
            date(2026, 3, 8),
            time(2, 10),
            time(2, 50),
            [],
            id="new-york-inside-the-gap",
        ),
        pytest.param(
            "Europe/Berlin",
            date(2026, 3, 29),
            time(2, 30),
            time(4),
            [(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))],  # 03:00-04:00 CEST
            id="berlin-starts-in-the-gap",
        ),
        pytest.param(
            "Europe/Berlin",
            date(2026, 3, 29),
            time(1, 30),
            time(2, 30),
            [(utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1))],  # 01:30 CET-03:00 CEST
            id="berlin-ends-in-the-gap",
        ),
        pytest.param(
            "Australia/Sydney",
            date(2026, 10, 4),
            time(2, 30),
            time(4),
            [(utc(2026, 10, 3, 16), utc(2026, 10, 3, 17))],  # 03:00-04:00 AEDT
            id="sydney-starts-in-the-gap",
        ),
        pytest.param(
            "Australia/Sydney",
            date(2026, 10, 4),
            time(0),
            time(2, 30),
            [(utc(2026, 10, 3, 14), utc(2026, 10, 3, 16))],
            id="sydney-ends-in-the-gap",
        ),
        # Fall-back Sundays: the edge is the first occurrence of the repeated time.
        pytest.param(
            "America/New_York",
            date(2026, 11, 1),
            time(1, 30),
            time(3),
            [(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8))],  # 01:30 EDT-03:00 EST
            id="new-york-starts-in-the-repeated-hour",
        ),
        pytest.param(
            "Europe/Berlin",
            date(2026, 10, 25),
            time(2, 30),
            time(4),
            [(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 3))],  # 02:30 CEST-04:00 CET
            id="berlin-starts-in-the-repeated-hour",
        ),
        pytest.param(
            "Europe/Berlin",
            date(2026, 10, 25),
            time(0),
            time(2, 30),
            [(utc(2026, 10, 24, 22), utc(2026, 10, 25, 0, 30))],  # until the first 02:30
            id="berlin-ends-in-the-repeated-hour",
        ),
        pytest.param(
            "Australia/Sydney",
            date(2026, 4, 5),
            time(2, 30),
            time(4),
            [(utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 18))],  # 02:30 AEDT-04:00 AEST
            id="sydney-starts-in-the-repeated-hour",
        ),
    ],
)
def test_sunday_windows_on_dst_days(
    zone_name: str, day: date, opens: time, closes: time, expected: list[tuple[datetime, datetime]]
) -> None:
    window = Restriction(SUNDAY, opens, closes)
    spec = ScheduleSpec(
        zone_name, (rotation((1,), utc(2026, 1, 1), 1, DAYS, restrictions=(window,)),), ()
    )
    midnight = datetime.combine(day, time(0), ZoneInfo(zone_name))
    found = [(s.start, s.end) for s in final_schedule(spec, midnight, midnight + timedelta(days=1))]
    assert found == expected
    # The same window in a layer with its own zone, in a schedule elsewhere.
    regional_spec = ScheduleSpec(
        "Asia/Tokyo",
        (rotation((1,), utc(2026, 1, 1), 1, DAYS, zone=zone_name, restrictions=(window,)),),
        (),
    )
    assert [
        (s.start, s.end)
        for s in final_schedule(regional_spec, midnight, midnight + timedelta(days=1))
    ] == expected


def test_windows_meeting_inside_a_gap_still_meet() -> None:
    # 17:00-02:30 and 02:30-17:00 tile the day; on the spring-forward day both edges are 03:00.
    spec = ScheduleSpec(
        "America/New_York",
        (
            rotation(
                (1,),
                utc(2026, 1, 1),
                1,
                DAYS,
                restrictions=(
                    Restriction(EVERY_DAY, time(17), time(2, 30)),
                    Restriction(EVERY_DAY, time(2, 30), time(17)),
                ),
            ),
        ),
        (),
    )
    assert gaps(spec, utc(2026, 3, 7), utc(2026, 3, 10)) == []


# ---------------------------------------------------------------------------------------------
# Editing: a reorder keeps the wall-clock boundaries
# ---------------------------------------------------------------------------------------------


def test_rebase_anchor_keeps_wall_clock_hour_boundaries() -> None:
    layer = rotation((1, 2, 3), local(BERLIN, 2026, 1, 5, 8), 12, HOURS, WALL_CLOCK)
    at = utc(2026, 4, 1, 10)  # 12:00 CEST, the day shift of 1 April
    before = on_call_at(ScheduleSpec("Europe/Berlin", (layer,), ()), at)
    current = before.responders[0].user_id
    new_order = (current, 7)
    anchor = rebase_anchor(layer, new_order, at, "Europe/Berlin")
    moved = rotation(new_order, anchor, 12, HOURS, WALL_CLOCK)
    after = ScheduleSpec("Europe/Berlin", (moved,), ())
    assert [a.user_id for a in on_call_at(after, at).responders] == [current]
    starts = [s for s, _, _ in responder_shifts(after, at, at + timedelta(days=220))]
    assert {s.astimezone(BERLIN).time() for s in starts[1:]} == {time(8), time(20)}


def test_rebase_anchor_steps_over_a_hand_off_the_gap_moved() -> None:
    # 02:30/14:30 in New York: Sunday 8 March's 02:30 hand-off happened at 03:30 EDT.
    layer = rotation((1, 2, 3), local(NY, 2026, 3, 7, 14, 30), 12, HOURS, WALL_CLOCK)
    at = utc(2026, 3, 8, 19)  # Sunday 15:00 EDT: shift 2 (user 3), from 14:30
    anchor = rebase_anchor(layer, (2, 3), at, "America/New_York")
    assert anchor == utc(2026, 3, 7, 7, 30)  # Saturday 02:30 EST, not Sunday 03:30 EDT
    moved = ScheduleSpec("America/New_York", (rotation((2, 3), anchor, 12, HOURS, WALL_CLOCK),), ())
    assert [a.user_id for a in on_call_at(moved, at).responders] == [3]
    assert on_call_at(moved, at).shift_end == utc(2026, 3, 9, 6, 30)  # Monday 02:30 EDT


def test_rebase_anchor_counts_in_the_layer_zone() -> None:
    layer = rotation(
        (1, 2), local(SYDNEY, 2026, 1, 5, 8), 12, HOURS, WALL_CLOCK, zone="Australia/Sydney"
    )
    at = utc(2026, 4, 10, 3)  # 13:00 AEST
    anchor = rebase_anchor(layer, (2, 1), at, "UTC")
    assert anchor.astimezone(SYDNEY).time() in (time(8), time(20))


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"handoff_rule": "sometimes"}, "hand-off rule must be"),
    ],
)
def test_invalid_local_time_settings(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "layer_id": 4,
        "priority": 1,
        "participants": (1,),
        "shadows": (),
        "shift_length": 12,
        "shift_unit": HOURS,
        "anchor": utc(2026, 1, 1),
        **changes,
    }
    with pytest.raises(ValueError, match=f"layer 4: {message}"):
        Layer(**fields)  # type: ignore[arg-type]
