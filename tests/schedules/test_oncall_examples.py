"""Table-driven examples for the on-call calculator, with literal instants.

DST dates used below (2026): New York springs forward on 8 March (02:00 -> 03:00) and falls back
on 1 November (02:00 -> 01:00); Berlin on 29 March (02:00 -> 03:00) and 25 October
(03:00 -> 02:00); Sydney ends DST on 5 April (03:00 -> 02:00) and starts it on 4 October
(02:00 -> 03:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.schedules.oncall import (
    Assignment,
    CoveredSource,
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
    next_shift_for_user,
    on_call_at,
    rebase_anchor,
    replacement_cycle,
    validate_layer,
)

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
SYDNEY = ZoneInfo("Australia/Sydney")
WEEKDAYS = frozenset({1, 2, 3, 4, 5})
EVERY_DAY = frozenset(range(1, 8))
DAYS, HOURS = ShiftUnit.DAYS, ShiftUnit.HOURS


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def local(zone: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=zone, fold=fold)  # type: ignore[misc]


def layer(
    participants: tuple[int, ...],
    anchor: datetime,
    length: int = 1,
    unit: ShiftUnit = DAYS,
    *,
    layer_id: int = 1,
    priority: int = 1,
    shadows: tuple[int, ...] = (),
    restrictions: tuple[Restriction, ...] = (),
    active_from: datetime | None = None,
    active_until: datetime | None = None,
) -> Layer:
    return Layer(
        layer_id,
        priority,
        participants,
        shadows,
        length,
        unit,
        anchor,
        restrictions,
        active_from,
        active_until,
    )


def schedule(zone: str, *layers: Layer, overrides: tuple[Override, ...] = ()) -> ScheduleSpec:
    return ScheduleSpec(zone, layers, overrides)


def responders(spec: ScheduleSpec, instant: datetime) -> tuple[int, ...]:
    return tuple(assignment.user_id for assignment in on_call_at(spec, instant).responders)


def hand_offs(spec: ScheduleSpec, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """(start, user) of each responder shift, in UTC."""
    return [
        (shift.start, shift.user_id)
        for shift in final_schedule(spec, start, end)
        if not shift.shadow
    ]


# ---------------------------------------------------------------------------------------------
# Rotations
# ---------------------------------------------------------------------------------------------

DAILY = schedule("UTC", layer((1, 2, 3), utc(2026, 1, 5, 9)))
WEEKLY = schedule("Europe/Berlin", layer((1, 2), local(BERLIN, 2026, 1, 5, 9), 7))
HOURLY = schedule("UTC", layer((1, 2, 3, 4), utc(2026, 1, 1), 1, HOURS))
TWELVE_HOURS = schedule("UTC", layer((1, 2), utc(2026, 1, 1, 8), 12, HOURS))
THREE_DAYS = schedule("UTC", layer((1, 2, 3), utc(2026, 1, 1, 10), 3))
# Started years ago: 2019-01-07 is a Monday; 2026-06-15 is 388 weeks later (388 % 5 == 3) and
# 2026-06-18 is 2719 days later (2719 % 30 == 19).
WEEKLY_SINCE_2019 = schedule(
    "Europe/Berlin", layer((10, 11, 12, 13, 14), local(BERLIN, 2019, 1, 7, 9), 7)
)
DAILY_30_SINCE_2019 = schedule(
    "Europe/Berlin", layer(tuple(range(100, 130)), local(BERLIN, 2019, 1, 7, 9))
)


@pytest.mark.parametrize(
    ("spec", "instant", "expected"),
    [
        pytest.param(DAILY, utc(2026, 1, 5, 8, 59), (), id="daily-before-anchor"),
        pytest.param(DAILY, utc(2026, 1, 5, 9), (1,), id="daily-at-anchor"),
        pytest.param(DAILY, utc(2026, 1, 6, 8, 59), (1,), id="daily-end-of-first"),
        pytest.param(DAILY, utc(2026, 1, 6, 9), (2,), id="daily-second"),
        pytest.param(DAILY, utc(2026, 1, 8, 10), (1,), id="daily-wraps"),
        pytest.param(WEEKLY, local(BERLIN, 2026, 1, 12, 8, 59), (1,), id="weekly-before-handoff"),
        pytest.param(WEEKLY, local(BERLIN, 2026, 1, 12, 9), (2,), id="weekly-handoff"),
        pytest.param(WEEKLY, local(BERLIN, 2026, 1, 19, 9), (1,), id="weekly-wraps"),
        pytest.param(HOURLY, utc(2026, 1, 1, 5, 30), (2,), id="hourly"),
        pytest.param(HOURLY, utc(2026, 1, 2, 0, 0), (1,), id="hourly-next-day"),
        pytest.param(TWELVE_HOURS, utc(2026, 1, 1, 20), (2,), id="12h-second"),
        pytest.param(TWELVE_HOURS, utc(2026, 1, 2, 7, 59), (2,), id="12h-end-of-second"),
        pytest.param(TWELVE_HOURS, utc(2026, 1, 2, 8), (1,), id="12h-third"),
        pytest.param(THREE_DAYS, utc(2026, 1, 4, 9, 59), (1,), id="3d-end-of-first"),
        pytest.param(THREE_DAYS, utc(2026, 1, 4, 10), (2,), id="3d-second"),
        pytest.param(THREE_DAYS, utc(2026, 1, 10, 10), (1,), id="3d-wraps"),
        pytest.param(
            WEEKLY_SINCE_2019, local(BERLIN, 2026, 6, 15, 8, 59), (12,), id="2019-weekly-before"
        ),
        pytest.param(
            WEEKLY_SINCE_2019, local(BERLIN, 2026, 6, 15, 9), (13,), id="2019-weekly-handoff"
        ),
        pytest.param(
            DAILY_30_SINCE_2019, local(BERLIN, 2026, 6, 18, 8, 59), (118,), id="2019-daily-before"
        ),
        pytest.param(
            DAILY_30_SINCE_2019, local(BERLIN, 2026, 6, 18, 10), (119,), id="2019-daily-after"
        ),
    ],
)
def test_rotation_puts_the_expected_person_on_call(
    spec: ScheduleSpec, instant: datetime, expected: tuple[int, ...]
) -> None:
    assert responders(spec, instant) == expected


def test_on_call_reports_source_and_shift_bounds() -> None:
    answer = on_call_at(DAILY, utc(2026, 1, 6, 12))
    assert answer.at == utc(2026, 1, 6, 12)
    assert answer.responders == (Assignment(2, False, "layer", 1),)
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 1, 6, 9), utc(2026, 1, 7, 9))


def test_nobody_on_call_has_no_shift_bounds() -> None:
    answer = on_call_at(DAILY, utc(2026, 1, 1))
    assert answer.responders == answer.shadows == ()
    assert answer.shift_start is None and answer.shift_end is None


def test_same_person_twice_in_a_row_is_one_shift() -> None:
    spec = schedule("UTC", layer((1, 1, 2), utc(2026, 1, 5, 9)))
    answer = on_call_at(spec, utc(2026, 1, 5, 12))
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 1, 5, 9), utc(2026, 1, 7, 9))
    assert hand_offs(spec, utc(2026, 1, 5), utc(2026, 1, 9)) == [
        (utc(2026, 1, 5, 9), 1),
        (utc(2026, 1, 7, 9), 2),
        (utc(2026, 1, 8, 9), 1),
    ]


def test_single_participant_layer_never_hands_off() -> None:
    spec = schedule("UTC", layer((7,), utc(2026, 1, 5, 9)))
    answer = on_call_at(spec, utc(2030, 1, 1))
    assert answer.shift_start == utc(2026, 1, 5, 9)
    assert answer.shift_end is None


def test_input_in_another_zone_answers_in_utc() -> None:
    answer = on_call_at(DAILY, local(NY, 2026, 1, 6, 7))  # 12:00 UTC
    assert answer.at == utc(2026, 1, 6, 12)
    assert answer.at.tzinfo is UTC
    assert answer.shift_start is not None and answer.shift_start.tzinfo is UTC


def test_compiled_and_plain_spec_answer_the_same() -> None:
    compiled = compile_schedule(DAILY)
    instant = utc(2026, 2, 3, 4, 5)
    assert on_call_at(compiled, instant) == on_call_at(DAILY, instant)
    window = (utc(2026, 1, 1), utc(2026, 2, 1))
    assert final_schedule(compiled, *window) == final_schedule(DAILY, *window)


# ---------------------------------------------------------------------------------------------
# DST: a hand-off keeps its local wall time; a nonexistent one moves forward by the gap; an
# ambiguous one is the first occurrence. HOURS shifts count absolute hours.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone_name", "anchor", "window", "expected_starts"),
    [
        pytest.param(
            "America/New_York",
            local(NY, 2026, 3, 1, 9),
            (utc(2026, 3, 7), utc(2026, 3, 10)),
            [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)],
            id="new-york-spring-09:00",
        ),
        pytest.param(
            "America/New_York",
            local(NY, 2026, 10, 25, 9),
            (utc(2026, 10, 31), utc(2026, 11, 3)),
            [utc(2026, 10, 31, 13), utc(2026, 11, 1, 14), utc(2026, 11, 2, 14)],
            id="new-york-fall-09:00",
        ),
        pytest.param(
            "Europe/Berlin",
            local(BERLIN, 2026, 3, 1, 9),
            (utc(2026, 3, 28), utc(2026, 3, 31)),
            [utc(2026, 3, 28, 8), utc(2026, 3, 29, 7), utc(2026, 3, 30, 7)],
            id="berlin-spring-09:00",
        ),
        pytest.param(
            "Europe/Berlin",
            local(BERLIN, 2026, 10, 1, 9),
            (utc(2026, 10, 24), utc(2026, 10, 27)),
            [utc(2026, 10, 24, 7), utc(2026, 10, 25, 8), utc(2026, 10, 26, 8)],
            id="berlin-fall-09:00",
        ),
        pytest.param(
            "Australia/Sydney",
            local(SYDNEY, 2026, 3, 1, 9),
            (utc(2026, 4, 3, 12), utc(2026, 4, 6, 12)),
            [utc(2026, 4, 3, 22), utc(2026, 4, 4, 23), utc(2026, 4, 5, 23)],
            id="sydney-dst-ends-april-09:00",
        ),
        pytest.param(
            "Australia/Sydney",
            local(SYDNEY, 2026, 9, 1, 9),
            (utc(2026, 10, 2, 12), utc(2026, 10, 5, 12)),
            [utc(2026, 10, 2, 23), utc(2026, 10, 3, 22), utc(2026, 10, 4, 22)],
            id="sydney-dst-starts-october-09:00",
        ),
        pytest.param(
            "America/New_York",
            local(NY, 2026, 3, 1, 2, 30),
            (utc(2026, 3, 7), utc(2026, 3, 10)),
            # 02:30 on 8 March does not exist: 03:30 EDT (07:30 UTC), then 02:30 EDT again.
            [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)],
            id="new-york-02:30-in-the-gap",
        ),
        pytest.param(
            "Europe/Berlin",
            local(BERLIN, 2026, 3, 1, 2, 30),
            (utc(2026, 3, 28), utc(2026, 3, 31)),
            # 02:30 on 29 March does not exist: 03:30 CEST (01:30 UTC).
            [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)],
            id="berlin-02:30-in-the-gap",
        ),
        pytest.param(
            "Australia/Sydney",
            local(SYDNEY, 2026, 9, 1, 2, 30),
            (utc(2026, 10, 2, 12), utc(2026, 10, 5, 12)),
            # 02:30 on 4 October does not exist: 03:30 AEDT (16:30 UTC the day before).
            [utc(2026, 10, 2, 16, 30), utc(2026, 10, 3, 16, 30), utc(2026, 10, 4, 15, 30)],
            id="sydney-02:30-in-the-gap",
        ),
        pytest.param(
            "America/New_York",
            local(NY, 2026, 10, 25, 1, 30),
            (utc(2026, 10, 31), utc(2026, 11, 3)),
            # 01:30 on 1 November happens twice: the first one, EDT (05:30 UTC).
            [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
            id="new-york-01:30-ambiguous",
        ),
        pytest.param(
            "Europe/Berlin",
            local(BERLIN, 2026, 10, 1, 2, 30),
            (utc(2026, 10, 24), utc(2026, 10, 27)),
            # 02:30 on 25 October happens twice: the first one, CEST (00:30 UTC).
            [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
            id="berlin-02:30-ambiguous",
        ),
        pytest.param(
            "Australia/Sydney",
            local(SYDNEY, 2026, 3, 1, 2, 30),
            (utc(2026, 4, 3, 12), utc(2026, 4, 6, 12)),
            # 02:30 on 5 April happens twice: the first one, AEDT (15:30 UTC the day before).
            [utc(2026, 4, 3, 15, 30), utc(2026, 4, 4, 15, 30), utc(2026, 4, 5, 16, 30)],
            id="sydney-02:30-ambiguous",
        ),
    ],
)
def test_daily_hand_off_follows_the_dst_rule(
    zone_name: str,
    anchor: datetime,
    window: tuple[datetime, datetime],
    expected_starts: list[datetime],
) -> None:
    spec = schedule(zone_name, layer((1, 2), anchor))
    starts = [start for start, _ in hand_offs(spec, *window)]
    assert starts[1:] == expected_starts  # the first one is the window start


def test_anchor_at_second_occurrence_of_ambiguous_time_starts_there() -> None:
    anchor = local(NY, 2026, 11, 1, 1, 30, fold=1)  # 01:30 EST = 06:30 UTC
    spec = schedule("America/New_York", layer((1, 2), anchor))
    assert responders(spec, utc(2026, 11, 1, 6, 29)) == ()
    assert responders(spec, utc(2026, 11, 1, 6, 30)) == (1,)
    assert responders(spec, utc(2026, 11, 2, 6, 30)) == (2,)


def test_hourly_shifts_count_absolute_hours_across_spring_forward() -> None:
    spec = schedule("America/New_York", layer((1, 2), local(NY, 2026, 3, 8, 0), 1, HOURS))
    # 03:00 EDT is only two hours after midnight EST.
    assert responders(spec, local(NY, 2026, 3, 8, 3, 0)) == (1,)
    assert responders(spec, local(NY, 2026, 3, 8, 4, 0)) == (2,)


def test_twelve_hour_shifts_move_on_the_wall_clock_across_dst() -> None:
    spec = schedule("America/New_York", layer((1, 2), local(NY, 2026, 3, 7, 8), 12, HOURS))
    starts = [start for start, _ in hand_offs(spec, utc(2026, 3, 7, 12), utc(2026, 3, 9))]
    assert [start.astimezone(NY).hour for start in starts] == [8, 20, 9]


def test_hourly_shifts_across_fall_back_repeat_the_wall_hour() -> None:
    spec = schedule("America/New_York", layer((1, 2, 3), local(NY, 2026, 11, 1, 0), 1, HOURS))
    assert responders(spec, local(NY, 2026, 11, 1, 1, 30)) == (2,)
    assert responders(spec, local(NY, 2026, 11, 1, 1, 30, fold=1)) == (3,)


# ---------------------------------------------------------------------------------------------
# Restrictions
# ---------------------------------------------------------------------------------------------

BUSINESS_HOURS = Restriction(WEEKDAYS, time(9), time(17))
WEEKDAY_NIGHTS = Restriction(WEEKDAYS, time(17), time(9))


def test_business_hours_restriction_cuts_shifts_to_the_window() -> None:
    spec = schedule("UTC", layer((1, 2), utc(2026, 1, 5, 9), restrictions=(BUSINESS_HOURS,)))
    shifts = final_schedule(spec, utc(2026, 1, 5), utc(2026, 1, 12))
    assert [(s.start, s.end, s.user_id) for s in shifts] == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 5, 17), 1),
        (utc(2026, 1, 6, 9), utc(2026, 1, 6, 17), 2),
        (utc(2026, 1, 7, 9), utc(2026, 1, 7, 17), 1),
        (utc(2026, 1, 8, 9), utc(2026, 1, 8, 17), 2),
        (utc(2026, 1, 9, 9), utc(2026, 1, 9, 17), 1),
    ]
    assert responders(spec, utc(2026, 1, 10, 12)) == ()
    answer = on_call_at(spec, utc(2026, 1, 6, 12))
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 1, 6, 9), utc(2026, 1, 6, 17))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 16, 59), (), id="monday-afternoon"),
        pytest.param(utc(2026, 1, 5, 17), (1,), id="monday-evening"),
        pytest.param(utc(2026, 1, 6, 3), (1,), id="tuesday-early-morning"),
        pytest.param(utc(2026, 1, 6, 9), (), id="tuesday-morning"),
        pytest.param(utc(2026, 1, 6, 20), (2,), id="tuesday-night"),
        pytest.param(utc(2026, 1, 10, 8), (1,), id="friday-night-into-saturday"),
        pytest.param(utc(2026, 1, 10, 10), (), id="saturday-day"),
        pytest.param(utc(2026, 1, 11, 20), (), id="sunday-night"),
    ],
)
def test_night_restriction_crosses_midnight(instant: datetime, expected: tuple[int, ...]) -> None:
    spec = schedule("UTC", layer((1, 2), utc(2026, 1, 5, 9), restrictions=(WEEKDAY_NIGHTS,)))
    assert responders(spec, instant) == expected


@pytest.mark.parametrize(
    ("zone_name", "restriction", "window", "expected"),
    [
        pytest.param(
            "Europe/Berlin",
            Restriction(EVERY_DAY, time(17), time(9)),
            (utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)),
            [(utc(2026, 3, 28, 16), utc(2026, 3, 29, 7))],  # a 15-hour night
            id="berlin-night-spring-forward",
        ),
        pytest.param(
            "Europe/Berlin",
            Restriction(EVERY_DAY, time(17), time(9)),
            (utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)),
            [(utc(2026, 10, 24, 15), utc(2026, 10, 25, 8))],  # a 17-hour night
            id="berlin-night-fall-back",
        ),
        pytest.param(
            "America/New_York",
            Restriction(EVERY_DAY, time(9), time(17)),
            (utc(2026, 3, 7), utc(2026, 3, 9)),
            [
                (utc(2026, 3, 7, 14), utc(2026, 3, 7, 22)),
                (utc(2026, 3, 8, 13), utc(2026, 3, 8, 21)),
            ],
            id="new-york-business-hours-spring-forward",
        ),
        pytest.param(
            "America/New_York",
            Restriction(EVERY_DAY, time(2, 30), time(6)),
            (utc(2026, 3, 8), utc(2026, 3, 9)),
            # 02:30 does not exist: the window opens at the first instant after the gap, 03:00 EDT
            [(utc(2026, 3, 8, 7), utc(2026, 3, 8, 10))],
            id="new-york-window-starting-in-the-gap",
        ),
        pytest.param(
            "America/New_York",
            Restriction(frozenset({6}), time(22), time(1, 30)),
            (utc(2026, 10, 31), utc(2026, 11, 2)),
            [(utc(2026, 11, 1, 2), utc(2026, 11, 1, 5, 30))],  # ends at the first 01:30
            id="new-york-window-ending-in-the-repeated-hour",
        ),
        pytest.param(
            "Australia/Sydney",
            Restriction(EVERY_DAY, time(9), time(9)),
            (utc(2026, 4, 4, 12), utc(2026, 4, 6, 12)),
            [(utc(2026, 4, 4, 12), utc(2026, 4, 6, 12))],  # 24 h windows tile time
            id="sydney-all-day-windows",
        ),
    ],
)
def test_restriction_windows_on_dst_days(
    zone_name: str,
    restriction: Restriction,
    window: tuple[datetime, datetime],
    expected: list[tuple[datetime, datetime]],
) -> None:
    spec = schedule(zone_name, layer((1,), utc(2026, 1, 1), restrictions=(restriction,)))
    assert [(s.start, s.end) for s in final_schedule(spec, *window)] == expected


def test_rotation_keeps_counting_outside_restrictions() -> None:
    # Daily hand-off at 09:00; the window only covers Mondays, so users 2..7 never appear.
    monday = Restriction(frozenset({1}), time(10), time(12))
    spec = schedule("UTC", layer(tuple(range(1, 8)), utc(2026, 1, 5, 9), restrictions=(monday,)))
    assert responders(spec, utc(2026, 1, 5, 11)) == (1,)
    assert responders(spec, utc(2026, 1, 12, 11)) == (1,)
    assert responders(spec, utc(2026, 1, 6, 11)) == ()


def test_hand_off_inside_a_window_cuts_the_shift() -> None:
    spec = schedule(
        "UTC",
        layer((1, 2), utc(2026, 1, 5, 12), restrictions=(BUSINESS_HOURS,)),
    )
    assert hand_offs(spec, utc(2026, 1, 6), utc(2026, 1, 7)) == [
        (utc(2026, 1, 6, 9), 1),
        (utc(2026, 1, 6, 12), 2),
    ]


def test_adjacent_windows_do_not_cut_a_shift() -> None:
    spec = schedule(
        "UTC",
        layer((1,), utc(2026, 1, 5), restrictions=(BUSINESS_HOURS, WEEKDAY_NIGHTS)),
    )
    assert [(s.start, s.end) for s in final_schedule(spec, utc(2026, 1, 5), utc(2026, 1, 12))] == [
        (utc(2026, 1, 5, 9), utc(2026, 1, 10, 9))  # Monday 09:00 to Saturday 09:00
    ]


def test_windows_covering_the_whole_week_never_end_a_shift() -> None:
    all_day = Restriction(EVERY_DAY, time(6), time(6))
    spec = schedule("Europe/Berlin", layer((7,), utc(2026, 1, 5), restrictions=(all_day,)))
    answer = on_call_at(spec, utc(2026, 3, 29, 12))
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 1, 5), None)


def test_follow_the_sun_in_a_utc_schedule() -> None:
    apac = layer(
        (1, 2),
        utc(2026, 1, 5),
        7,
        layer_id=1,
        restrictions=(Restriction(EVERY_DAY, time(0), time(8)),),
    )
    emea = layer(
        (3, 4),
        utc(2026, 1, 5),
        7,
        layer_id=2,
        restrictions=(Restriction(EVERY_DAY, time(8), time(16)),),
    )
    amer = layer(
        (5, 6),
        utc(2026, 1, 5),
        7,
        layer_id=3,
        restrictions=(Restriction(EVERY_DAY, time(16), time(0)),),
    )
    spec = schedule("UTC", apac, emea, amer)
    day = (utc(2026, 1, 13), utc(2026, 1, 14))
    assert [(s.start, s.end, s.user_id, s.source_id) for s in final_schedule(spec, *day)] == [
        (utc(2026, 1, 13, 0), utc(2026, 1, 13, 8), 2, 1),
        (utc(2026, 1, 13, 8), utc(2026, 1, 13, 16), 4, 2),
        (utc(2026, 1, 13, 16), utc(2026, 1, 14, 0), 6, 3),
    ]
    assert gaps(spec, *day) == []


# ---------------------------------------------------------------------------------------------
# Priority, overrides, shadows, versions
# ---------------------------------------------------------------------------------------------

BASE = layer((1, 2), utc(2026, 1, 5, 9), 7, layer_id=1, priority=1)
DAYTIME = layer((10,), utc(2026, 1, 5), layer_id=2, priority=2, restrictions=(BUSINESS_HOURS,))


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(utc(2026, 1, 5, 10), ((10, "layer", 2),), id="higher-layer-wins"),
        pytest.param(utc(2026, 1, 5, 18), ((1, "layer", 1),), id="lower-layer-below"),
        pytest.param(utc(2026, 1, 10, 10), ((1, "layer", 1),), id="weekend-falls-through"),
    ],
)
def test_higher_priority_wins_where_it_has_someone(
    instant: datetime, expected: tuple[tuple[int, str, int], ...]
) -> None:
    answer = on_call_at(schedule("UTC", BASE, DAYTIME), instant)
    assert tuple((a.user_id, a.source_kind, a.source_id) for a in answer.responders) == expected


def test_higher_layer_bounds_the_lower_shift() -> None:
    answer = on_call_at(schedule("UTC", BASE, DAYTIME), utc(2026, 1, 5, 18))
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 1, 5, 17), utc(2026, 1, 6, 9))


def test_equal_priority_layers_are_co_responders() -> None:
    dev = layer((1, 2), utc(2026, 1, 5), 7, layer_id=1, priority=5)
    ops = layer((3, 4), utc(2026, 1, 5), 7, layer_id=2, priority=5)
    answer = on_call_at(schedule("UTC", dev, ops), utc(2026, 1, 6))
    assert answer.responders == (
        Assignment(1, False, "layer", 1),
        Assignment(3, False, "layer", 2),
    )


WHOLE = Override(101, utc(2026, 1, 5, 12), utc(2026, 1, 5, 14), 50)
REPLACE_ONE = Override(102, utc(2026, 1, 5), utc(2026, 1, 20), 60, replaces_user_id=1)


@pytest.mark.parametrize(
    ("overrides", "instant", "expected"),
    [
        pytest.param((WHOLE,), utc(2026, 1, 5, 11, 59), (1, "layer", 1), id="before-override"),
        pytest.param((WHOLE,), utc(2026, 1, 5, 12), (50, "override", 101), id="override-start"),
        pytest.param((WHOLE,), utc(2026, 1, 5, 13, 59), (50, "override", 101), id="inside"),
        pytest.param((WHOLE,), utc(2026, 1, 5, 14), (1, "layer", 1), id="override-end"),
        pytest.param((REPLACE_ONE,), utc(2026, 1, 6), (60, "override", 102), id="replaces-1"),
        pytest.param((REPLACE_ONE,), utc(2026, 1, 13), (2, "layer", 1), id="leaves-2-alone"),
        pytest.param(
            (WHOLE, REPLACE_ONE), utc(2026, 1, 5, 13), (50, "override", 101), id="whole-beats"
        ),
        pytest.param(
            (WHOLE, Override(103, utc(2026, 1, 5, 13), utc(2026, 1, 5, 15), 51)),
            utc(2026, 1, 5, 13, 30),
            (51, "override", 103),
            id="newest-whole-wins",
        ),
    ],
)
def test_overrides(
    overrides: tuple[Override, ...], instant: datetime, expected: tuple[int, str, int]
) -> None:
    answer = on_call_at(schedule("UTC", BASE, overrides=overrides), instant)
    assert [(a.user_id, a.source_kind, a.source_id) for a in answer.responders] == [expected]


def test_override_fills_a_gap() -> None:
    fill = Override(7, utc(2026, 1, 10, 10), utc(2026, 1, 10, 12), 70)
    spec = schedule(
        "UTC",
        layer((1, 2), utc(2026, 1, 5, 9), restrictions=(BUSINESS_HOURS,)),
        overrides=(fill,),
    )
    saturday = (utc(2026, 1, 10), utc(2026, 1, 11))
    assert responders(spec, utc(2026, 1, 10, 11)) == (70,)
    assert gaps(spec, *saturday) == [
        (utc(2026, 1, 10), utc(2026, 1, 10, 10)),
        (utc(2026, 1, 10, 12), utc(2026, 1, 11)),
    ]
    assert final_schedule(spec, *saturday) == [
        Shift(utc(2026, 1, 10, 10), utc(2026, 1, 10, 12), 70, False, "override", 7)
    ]


def test_override_cuts_the_shift_bounds() -> None:
    answer = on_call_at(schedule("UTC", BASE, overrides=(WHOLE,)), utc(2026, 1, 5, 15))
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 1, 5, 14), utc(2026, 1, 12, 9))


def test_shadows_accompany_their_layer() -> None:
    spec = schedule(
        "UTC",
        layer((1, 2), utc(2026, 1, 5, 9), shadows=(9,), restrictions=(BUSINESS_HOURS,)),
        overrides=(
            Override(5, utc(2026, 1, 6, 10), utc(2026, 1, 6, 11), 60, replaces_user_id=2),
            Override(6, utc(2026, 1, 7, 10), utc(2026, 1, 7, 11), 70),
        ),
    )
    assert on_call_at(spec, utc(2026, 1, 5, 10)).shadows == (Assignment(9, True, "layer", 1),)
    # A replaced responder still comes with the layer's shadow...
    assert [a.user_id for a in on_call_at(spec, utc(2026, 1, 6, 10, 30)).shadows] == [9]
    # ...a whole-schedule override does not, and a shadow never fills a gap.
    assert on_call_at(spec, utc(2026, 1, 7, 10, 30)).shadows == ()
    assert on_call_at(spec, utc(2026, 1, 5, 20)).shadows == ()
    assert gaps(spec, utc(2026, 1, 5, 17), utc(2026, 1, 6, 9)) == [
        (utc(2026, 1, 5, 17), utc(2026, 1, 6, 9))
    ]
    shifts = final_schedule(spec, utc(2026, 1, 5), utc(2026, 1, 6))
    assert [(s.user_id, s.shadow, s.start, s.end) for s in shifts] == [
        (1, False, utc(2026, 1, 5, 9), utc(2026, 1, 5, 17)),
        (9, True, utc(2026, 1, 5, 9), utc(2026, 1, 5, 17)),
    ]


def test_a_shadow_who_is_responding_is_not_also_a_shadow() -> None:
    spec = schedule("UTC", layer((1, 9), utc(2026, 1, 5, 9), shadows=(9,)))
    assert on_call_at(spec, utc(2026, 1, 5, 10)).shadows == (Assignment(9, True, "layer", 1),)
    answer = on_call_at(spec, utc(2026, 1, 6, 10))
    assert [a.user_id for a in answer.responders] == [9]
    assert answer.shadows == ()


def test_layer_versions_keep_the_past() -> None:
    edit = utc(2026, 2, 1, 12)
    before = layer((1, 2), utc(2026, 1, 5, 9), active_until=edit)
    after = layer((3, 4), utc(2026, 1, 5, 9), active_from=edit)
    original = schedule("UTC", layer((1, 2), utc(2026, 1, 5, 9)))
    edited = schedule("UTC", before, after)
    past = (utc(2026, 1, 5), edit)
    assert final_schedule(edited, *past) == final_schedule(original, *past)
    # 1 February 09:00 starts shift 27 of the rotation: the second participant of each version.
    assert responders(edited, utc(2026, 2, 1, 11)) == (2,)
    assert responders(edited, utc(2026, 2, 1, 12)) == (4,)
    assert hand_offs(edited, utc(2026, 2, 1), utc(2026, 2, 2)) == [
        (utc(2026, 2, 1), 1),
        (utc(2026, 2, 1, 9), 2),
        (utc(2026, 2, 1, 12), 4),
    ]


def test_rotation_end_date_stops_the_layer() -> None:
    spec = schedule("UTC", layer((1, 2), utc(2026, 1, 5, 9), active_until=utc(2026, 1, 7)))
    assert responders(spec, utc(2026, 1, 6, 23, 59)) == (2,)
    assert responders(spec, utc(2026, 1, 7)) == ()
    assert on_call_at(spec, utc(2026, 1, 6, 12)).shift_end == utc(2026, 1, 7)


# ---------------------------------------------------------------------------------------------
# Window queries
# ---------------------------------------------------------------------------------------------


def test_final_schedule_is_clipped_and_sorted() -> None:
    spec = schedule("UTC", layer((1, 2), utc(2026, 1, 5, 9), shadows=(9,)))
    shifts = final_schedule(spec, utc(2026, 1, 5, 12), utc(2026, 1, 6, 12))
    assert shifts == [
        Shift(utc(2026, 1, 5, 12), utc(2026, 1, 6, 9), 1, False, "layer", 1),
        Shift(utc(2026, 1, 5, 12), utc(2026, 1, 6, 12), 9, True, "layer", 1),
        Shift(utc(2026, 1, 6, 9), utc(2026, 1, 6, 12), 2, False, "layer", 1),
    ]


def test_gaps_before_the_anchor_and_between_windows() -> None:
    spec = schedule("UTC", layer((1,), utc(2026, 1, 5, 9), restrictions=(BUSINESS_HOURS,)))
    assert gaps(spec, utc(2026, 1, 4), utc(2026, 1, 6, 12)) == [
        (utc(2026, 1, 4), utc(2026, 1, 5, 9)),
        (utc(2026, 1, 5, 17), utc(2026, 1, 6, 9)),
    ]


def test_next_shift_for_user() -> None:
    spec = compile_schedule(schedule("UTC", layer((1, 2, 3), utc(2026, 1, 5, 9))))
    upcoming = next_shift_for_user(spec, 3, utc(2026, 1, 5, 12), timedelta(days=7))
    assert upcoming == Shift(utc(2026, 1, 7, 9), utc(2026, 1, 8, 9), 3, False, "layer", 1)
    # The shift in progress counts, with its real bounds.
    current = next_shift_for_user(spec, 1, utc(2026, 1, 5, 12), utc(2026, 1, 5, 13))
    assert current == Shift(utc(2026, 1, 5, 9), utc(2026, 1, 6, 9), 1, False, "layer", 1)
    assert next_shift_for_user(spec, 3, utc(2026, 1, 5, 12), timedelta(hours=12)) is None
    assert next_shift_for_user(spec, 99, utc(2026, 1, 5, 12), timedelta(days=30)) is None


def test_next_shift_ignores_shadow_shifts() -> None:
    spec = schedule("UTC", layer((1, 2), utc(2026, 1, 5, 9), shadows=(9,)))
    assert next_shift_for_user(spec, 9, utc(2026, 1, 5), timedelta(days=30)) is None


# ---------------------------------------------------------------------------------------------
# Editing helpers
# ---------------------------------------------------------------------------------------------

ROTA = layer((1, 2, 3, 4), utc(2026, 1, 1, 9))


@pytest.mark.parametrize(
    ("new_order", "expected_anchor", "now_and_next"),
    [
        pytest.param((4, 3, 2, 1), utc(2026, 1, 2, 9), (3, 2), id="current-stays-order-follows"),
        pytest.param((3, 1), utc(2026, 1, 3, 9), (3, 1), id="current-first"),
        pytest.param((5, 6), utc(2026, 1, 3, 9), (5, 6), id="current-removed"),
    ],
)
def test_rebase_anchor(
    new_order: tuple[int, ...], expected_anchor: datetime, now_and_next: tuple[int, int]
) -> None:
    at = utc(2026, 1, 3, 15)  # shift 2, user 3, until 2026-01-04 09:00
    anchor = rebase_anchor(ROTA, new_order, at, "UTC")
    assert anchor == expected_anchor
    rebased = schedule("UTC", layer(new_order, anchor))
    assert responders(rebased, at) == (now_and_next[0],)
    assert responders(rebased, utc(2026, 1, 4, 9)) == (now_and_next[1],)
    assert on_call_at(rebased, at).shift_end == utc(2026, 1, 4, 9)


def test_rebase_anchor_hourly() -> None:
    rota = layer((1, 2, 3), utc(2026, 1, 1), 8, HOURS)
    at = utc(2026, 1, 1, 17)  # shift 2, user 3, 16:00-24:00
    anchor = rebase_anchor(rota, (3, 2, 1), at, "UTC")
    assert anchor == utc(2026, 1, 1, 16)
    rebased = schedule("UTC", layer((3, 2, 1), anchor, 8, HOURS))
    assert responders(rebased, at) == (3,)
    assert responders(rebased, utc(2026, 1, 2)) == (2,)


def test_rebase_anchor_before_the_rotation_starts_keeps_the_anchor() -> None:
    assert rebase_anchor(ROTA, (2, 1), utc(2025, 12, 1), "UTC") == utc(2026, 1, 1, 9)


def test_rebase_anchor_keeps_a_hand_off_that_dst_moved() -> None:
    rota = layer((1, 2, 3), local(NY, 2026, 3, 1, 2, 30))
    at = local(NY, 2026, 3, 8, 12)  # the current shift started at 03:30 EDT (gap rule)
    anchor = rebase_anchor(rota, (7, 8), at, "America/New_York")
    assert anchor.astimezone(NY).time() == time(2, 30)
    rebased = schedule("America/New_York", layer((7, 8), anchor))
    assert responders(rebased, at) == (7,)
    assert on_call_at(rebased, at).shift_start == utc(2026, 3, 8, 7, 30)
    assert on_call_at(rebased, at).shift_end == local(NY, 2026, 3, 9, 2, 30)


def override(
    override_id: int, start: int, end: int, replaces: int | None = None, user: int = 50
) -> Override:
    return Override(override_id, utc(2026, 1, 1, start), utc(2026, 1, 1, end), user, replaces)


@pytest.mark.parametrize(
    ("existing", "candidate", "expected_ids"),
    [
        pytest.param([override(1, 8, 12)], override(9, 10, 14), [1], id="whole-vs-whole"),
        pytest.param([override(1, 8, 10)], override(9, 10, 14), [], id="touching"),
        pytest.param([override(1, 8, 12, 5)], override(9, 10, 14, 6), [], id="different-people"),
        pytest.param([override(1, 8, 12, 5)], override(9, 10, 14, 5), [1], id="same-person"),
        pytest.param([override(1, 8, 12)], override(9, 10, 14, 5), [1], id="whole-vs-one"),
        pytest.param([override(9, 8, 12)], override(9, 10, 14), [], id="own-previous-version"),
        pytest.param(
            [override(2, 11, 13), override(1, 9, 11), override(3, 14, 15)],
            override(9, 10, 14),
            [1, 2],
            id="sorted-by-start",
        ),
    ],
)
def test_conflicting_overrides(
    existing: list[Override], candidate: Override, expected_ids: list[int]
) -> None:
    found = conflicting_overrides(existing, candidate)
    assert [item.override_id for item in found] == expected_ids


# ---------------------------------------------------------------------------------------------
# Covers of covers: replacements chain, circles are refused
# ---------------------------------------------------------------------------------------------

ANNA, BOB, CARL, DAVE = 1, 2, 3, 4

# Berlin, spring forward on 29 March: anna's week from Monday 23 March 09:00 CET. Bob covers
# anna from Saturday 18:00 CET to Sunday 18:00 CEST (A); carl covers bob overnight, 01:00 CET to
# 12:00 CEST, across the missing hour (B).
BERLIN_WEEK = layer((ANNA, DAVE), local(BERLIN, 2026, 3, 23, 9), 7)
BOB_FOR_ANNA = Override(
    11, local(BERLIN, 2026, 3, 28, 18), local(BERLIN, 2026, 3, 29, 18), BOB, replaces_user_id=ANNA
)
CARL_FOR_BOB = Override(
    12, local(BERLIN, 2026, 3, 29, 1), local(BERLIN, 2026, 3, 29, 12), CARL, replaces_user_id=BOB
)
BERLIN_CHAIN = schedule("Europe/Berlin", BERLIN_WEEK, overrides=(BOB_FOR_ANNA, CARL_FOR_BOB))
UNDER_ANNA = (CoveredSource("layer", 1, ANNA),)
UNDER_BOB_AND_ANNA = (CoveredSource("override", 11, BOB), *UNDER_ANNA)


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(utc(2026, 3, 28, 16, 59), Assignment(ANNA, False, "layer", 1), id="anna"),
        pytest.param(
            utc(2026, 3, 28, 17), Assignment(BOB, False, "override", 11, UNDER_ANNA), id="bob"
        ),
        pytest.param(
            utc(2026, 3, 29, 0, 30),  # 01:30 CET
            Assignment(CARL, False, "override", 12, UNDER_BOB_AND_ANNA),
            id="carl-covers-bob-covering-anna",
        ),
        pytest.param(
            local(BERLIN, 2026, 3, 29, 3, 30),  # just after the missing hour
            Assignment(CARL, False, "override", 12, UNDER_BOB_AND_ANNA),
            id="carl-after-the-gap",
        ),
        pytest.param(
            local(BERLIN, 2026, 3, 29, 12),
            Assignment(BOB, False, "override", 11, UNDER_ANNA),
            id="bob-again",
        ),
        pytest.param(local(BERLIN, 2026, 3, 29, 18), Assignment(ANNA, False, "layer", 1), id="end"),
    ],
)
def test_a_cover_of_a_cover_puts_the_last_person_on_call(
    instant: datetime, expected: Assignment
) -> None:
    assert on_call_at(BERLIN_CHAIN, instant).responders == (expected,)


def test_a_chain_of_covers_in_the_final_schedule_and_the_hand_offs() -> None:
    answer = on_call_at(BERLIN_CHAIN, utc(2026, 3, 29, 0, 30))
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 3, 29, 0), utc(2026, 3, 29, 10))
    shifts = final_schedule(BERLIN_CHAIN, utc(2026, 3, 28, 12), utc(2026, 3, 30))
    assert shifts == [
        Shift(utc(2026, 3, 28, 12), utc(2026, 3, 28, 17), ANNA, False, "layer", 1),
        Shift(utc(2026, 3, 28, 17), utc(2026, 3, 29), BOB, False, "override", 11, UNDER_ANNA),
        Shift(
            utc(2026, 3, 29), utc(2026, 3, 29, 10), CARL, False, "override", 12, UNDER_BOB_AND_ANNA
        ),
        Shift(utc(2026, 3, 29, 10), utc(2026, 3, 29, 16), BOB, False, "override", 11, UNDER_ANNA),
        Shift(utc(2026, 3, 29, 16), utc(2026, 3, 30), ANNA, False, "layer", 1),
    ]
    assert next_shift_for_user(BERLIN_CHAIN, BOB, utc(2026, 3, 29, 0, 30), timedelta(days=1)) == (
        Shift(utc(2026, 3, 29, 10), utc(2026, 3, 29, 16), BOB, False, "override", 11, UNDER_ANNA)
    )


# New York, fall back on 1 November (01:00-02:00 happens twice). Anna's day runs from Saturday
# 09:00 EDT to Sunday 09:00 EST; bob covers her overnight.
NY_DAYS = layer((ANNA, DAVE), local(NY, 2026, 10, 31, 9))
NY_BOB_FOR_ANNA = Override(
    21, local(NY, 2026, 10, 31, 20), local(NY, 2026, 11, 1, 8), BOB, replaces_user_id=ANNA
)
# Anna covering bob for the repeated hour, 01:30 EDT to 01:30 EST, would cover herself.
NY_ANNA_FOR_BOB = Override(
    22,
    local(NY, 2026, 11, 1, 1, 30),
    local(NY, 2026, 11, 1, 1, 30, fold=1),
    ANNA,
    replaces_user_id=BOB,
)
# Carl covers bob from the second 01:15 (EST) to 02:00 EST.
NY_CARL_FOR_BOB = Override(
    23, local(NY, 2026, 11, 1, 1, 15, fold=1), local(NY, 2026, 11, 1, 2), CARL, replaces_user_id=BOB
)


def test_covers_of_covers_in_the_repeated_hour() -> None:
    spec = schedule("America/New_York", NY_DAYS, overrides=(NY_BOB_FOR_ANNA, NY_CARL_FOR_BOB))
    under = (CoveredSource("override", 21, BOB), CoveredSource("layer", 1, ANNA))
    # 01:30 EDT is bob's; 01:30 EST, the same wall time an hour later, is carl's.
    assert responders(spec, local(NY, 2026, 11, 1, 1, 30)) == (BOB,)
    assert on_call_at(spec, local(NY, 2026, 11, 1, 1, 30, fold=1)).responders == (
        Assignment(CARL, False, "override", 23, under),
    )
    assert [(s.start, s.end, s.user_id) for s in hand_off_shifts(spec)] == [
        (utc(2026, 10, 31, 13), utc(2026, 11, 1), ANNA),
        (utc(2026, 11, 1), utc(2026, 11, 1, 6, 15), BOB),
        (utc(2026, 11, 1, 6, 15), utc(2026, 11, 1, 7), CARL),
        (utc(2026, 11, 1, 7), utc(2026, 11, 1, 13), BOB),
        (utc(2026, 11, 1, 13), utc(2026, 11, 1, 14), ANNA),
        (utc(2026, 11, 1, 14), utc(2026, 11, 2), DAVE),
    ]


def hand_off_shifts(spec: ScheduleSpec) -> list[Shift]:
    return [s for s in final_schedule(spec, utc(2026, 10, 31), utc(2026, 11, 2)) if not s.shadow]


def test_a_circle_of_covers_stops_before_it_comes_back() -> None:
    # Stored before circles were refused: anna -> bob -> anna leaves bob on call, not anna.
    spec = schedule("America/New_York", NY_DAYS, overrides=(NY_BOB_FOR_ANNA, NY_ANNA_FOR_BOB))
    assert on_call_at(spec, local(NY, 2026, 11, 1, 1, 45)).responders == (
        Assignment(BOB, False, "override", 21, (CoveredSource("layer", 1, ANNA),)),
    )
    # The same overrides seen from bob's own shift: bob -> anna, and anna's cover by bob would
    # come back to bob.
    bob_days = layer((BOB,), local(NY, 2026, 10, 31, 9))
    spec = schedule("America/New_York", bob_days, overrides=(NY_BOB_FOR_ANNA, NY_ANNA_FOR_BOB))
    assert on_call_at(spec, local(NY, 2026, 11, 1, 1, 45)).responders == (
        Assignment(ANNA, False, "override", 22, (CoveredSource("layer", 1, BOB),)),
    )


def ny_override(override_id: int, start: int, end: int, user: int, replaces: int) -> Override:
    """On 1 November in New York, between whole hours of UTC (05:00Z is 01:00 EDT)."""
    return Override(override_id, utc(2026, 11, 1, start), utc(2026, 11, 1, end), user, replaces)


@pytest.mark.parametrize(
    ("existing", "candidate", "expected_ids"),
    [
        pytest.param([NY_BOB_FOR_ANNA], NY_ANNA_FOR_BOB, [21], id="anna-bob-anna"),
        pytest.param(
            [ny_override(1, 3, 8, BOB, ANNA), ny_override(2, 5, 6, CARL, BOB)],
            ny_override(9, 4, 7, ANNA, CARL),
            [1, 2],
            id="three-round",
        ),
        pytest.param(
            [ny_override(1, 3, 5, BOB, ANNA), ny_override(2, 5, 6, CARL, BOB)],
            ny_override(9, 4, 7, ANNA, CARL),
            [],
            id="never-at-the-same-time",
        ),
        pytest.param(
            [ny_override(1, 3, 5, BOB, ANNA)], ny_override(9, 5, 7, ANNA, BOB), [], id="touching"
        ),
        pytest.param(
            [ny_override(1, 3, 8, BOB, ANNA), ny_override(2, 5, 6, CARL, BOB)],
            ny_override(9, 4, 7, DAVE, CARL),
            [],
            id="a-longer-chain-is-fine",
        ),
        pytest.param(
            [ny_override(9, 3, 8, BOB, ANNA)],
            ny_override(9, 4, 7, ANNA, BOB),
            [],
            id="own-previous-version",
        ),
        pytest.param(
            [ny_override(1, 3, 8, BOB, CARL), ny_override(2, 3, 8, CARL, BOB)],
            ny_override(9, 4, 7, BOB, ANNA),
            [],
            id="an-older-circle-is-not-the-candidates",
        ),
    ],
)
def test_replacement_cycle(
    existing: list[Override], candidate: Override, expected_ids: list[int]
) -> None:
    assert [item.override_id for item in replacement_cycle(existing, candidate)] == expected_ids
    # Different people are replaced, so the pairwise rule alone lets every one of them through.
    assert conflicting_overrides(existing, candidate) == []


# Sydney, DST ends on Sunday 5 April (03:00 AEDT becomes 02:00 AEST). Daily shifts at 09:00:
# Saturday anna (25 hours), Sunday bob, Monday carl. Anna covers bob's Sunday.
SYDNEY_DAYS = layer((ANNA, BOB, CARL), local(SYDNEY, 2026, 4, 4, 9))
ANNA_FOR_BOB = Override(
    31, local(SYDNEY, 2026, 4, 5, 9), local(SYDNEY, 2026, 4, 6, 9), ANNA, replaces_user_id=BOB
)
# Carl then covers anna's cover on Sunday evening, 20:00 to 22:00 AEST.
CARL_FOR_ANNA = Override(
    32, local(SYDNEY, 2026, 4, 5, 20), local(SYDNEY, 2026, 4, 5, 22), CARL, replaces_user_id=ANNA
)


def test_a_cover_of_someone_who_is_covering_in_sydney() -> None:
    spec = schedule("Australia/Sydney", SYDNEY_DAYS, overrides=(ANNA_FOR_BOB, CARL_FOR_ANNA))
    under = (CoveredSource("override", 31, ANNA), CoveredSource("layer", 1, BOB))
    assert on_call_at(spec, local(SYDNEY, 2026, 4, 5, 21)).responders == (
        Assignment(CARL, False, "override", 32, under),
    )
    assert responders(spec, local(SYDNEY, 2026, 4, 5, 22)) == (ANNA,)
    assert replacement_cycle([ANNA_FOR_BOB], CARL_FOR_ANNA) == []
    bob_back = Override(
        33, local(SYDNEY, 2026, 4, 5, 20), local(SYDNEY, 2026, 4, 5, 22), BOB, replaces_user_id=ANNA
    )
    assert replacement_cycle([ANNA_FOR_BOB], bob_back) == [ANNA_FOR_BOB]
    whole = Override(34, bob_back.start, bob_back.end, BOB)
    assert replacement_cycle([ANNA_FOR_BOB], whole) == [], "a whole-schedule override covers all"


# ---------------------------------------------------------------------------------------------
# "until" is a hand-off: the people change, not only their source
# ---------------------------------------------------------------------------------------------


def test_until_is_when_the_people_change_in_sydney() -> None:
    spec = schedule("Australia/Sydney", SYDNEY_DAYS, overrides=(ANNA_FOR_BOB,))
    saturday = on_call_at(spec, local(SYDNEY, 2026, 4, 4, 12))
    assert saturday.responders == (Assignment(ANNA, False, "layer", 1),)
    # Her layer shift ends Sunday 09:00 AEST (25 hours); her cover of bob carries her on to
    # Monday 09:00, when carl takes over.
    assert (saturday.source_start, saturday.source_end) == (
        utc(2026, 4, 3, 22),
        utc(2026, 4, 4, 23),
    )
    assert (saturday.shift_start, saturday.shift_end) == (utc(2026, 4, 3, 22), utc(2026, 4, 5, 23))
    assert responders(spec, saturday.shift_end) == (CARL,)
    sunday = on_call_at(spec, local(SYDNEY, 2026, 4, 5, 12))
    assert sunday.responders == (
        Assignment(ANNA, False, "override", 31, (CoveredSource("layer", 1, BOB),)),
    )
    assert (sunday.source_start, sunday.source_end) == (utc(2026, 4, 4, 23), utc(2026, 4, 5, 23))
    assert (sunday.shift_start, sunday.shift_end) == (utc(2026, 4, 3, 22), utc(2026, 4, 5, 23))


def test_until_is_when_the_people_change_in_berlin() -> None:
    # Anna holds the office hours every weekday and the first week of the weekly rotation.
    office = layer(
        (ANNA,),
        local(BERLIN, 2026, 3, 23, 9),
        layer_id=2,
        priority=2,
        restrictions=(BUSINESS_HOURS,),
    )
    weekly = layer((ANNA, BOB), local(BERLIN, 2026, 3, 23, 9), 7, layer_id=1, priority=1)
    spec = schedule("Europe/Berlin", office, weekly)
    answer = on_call_at(spec, local(BERLIN, 2026, 3, 23, 12))
    assert answer.responders == (Assignment(ANNA, False, "layer", 2),)
    assert (answer.source_start, answer.source_end) == (utc(2026, 3, 23, 8), utc(2026, 3, 23, 16))
    # The weekly hand-off on Monday 30 March 09:00 CEST keeps anna on (office hours); bob takes
    # over at 17:00 CEST, after the spring change.
    assert (answer.shift_start, answer.shift_end) == (utc(2026, 3, 23, 8), utc(2026, 3, 30, 15))
    assert responders(spec, utc(2026, 3, 30, 15)) == (BOB,)


def test_until_is_when_the_people_change_in_new_york() -> None:
    # Anna's day runs Saturday 09:00 EST to Sunday 09:00 EDT (23 hours, spring forward); she
    # then covers the whole schedule until 12:00 EDT, and bob's day continues after.
    days = layer((ANNA, BOB), local(NY, 2026, 3, 7, 9))
    cover = Override(41, local(NY, 2026, 3, 8, 9), local(NY, 2026, 3, 8, 12), ANNA)
    spec = schedule("America/New_York", days, overrides=(cover,))
    night = on_call_at(spec, local(NY, 2026, 3, 7, 20))
    assert (night.source_end, night.shift_end) == (utc(2026, 3, 8, 13), utc(2026, 3, 8, 16))
    covering = on_call_at(spec, local(NY, 2026, 3, 8, 10))
    assert covering.responders == (Assignment(ANNA, False, "override", 41),)
    assert (covering.source_start, covering.shift_start) == (
        utc(2026, 3, 8, 13),
        utc(2026, 3, 7, 14),
    )
    assert covering.shift_end == utc(2026, 3, 8, 16)
    assert responders(spec, covering.shift_end) == (BOB,)


def test_a_hand_off_is_looked_for_up_to_a_year_away() -> None:
    # Anna holds both layers: she changes layers twice a weekday and never hands off.
    office = layer((ANNA,), utc(2025, 1, 6), layer_id=2, priority=2, restrictions=(BUSINESS_HOURS,))
    always = layer((ANNA,), utc(2025, 1, 6), layer_id=1, priority=1)
    at = utc(2026, 6, 3, 12)
    answer = on_call_at(schedule("UTC", office, always), at)
    assert (answer.source_start, answer.source_end) == (utc(2026, 6, 3, 9), utc(2026, 6, 3, 17))
    assert answer.shift_end is None, "no hand-off within 366 days"
    assert answer.shift_start == at - timedelta(days=366)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

NAIVE = datetime(2026, 1, 1)  # naive on purpose: every API must refuse it


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"length": 0}, "positive", id="zero-length"),
        pytest.param({"length": -3}, "positive", id="negative-length"),
        pytest.param({"length": 8785, "unit": HOURS}, "at most 8784", id="hours-over-a-year"),
        pytest.param({"length": 367}, "at most 366", id="days-over-a-year"),
        pytest.param({"participants": ()}, "participant", id="no-participants"),
        pytest.param({"anchor": NAIVE}, "anchor must be timezone-aware", id="naive-anchor"),
        pytest.param({"active_from": NAIVE}, "active_from", id="naive-active-from"),
        pytest.param({"active_until": NAIVE}, "active_until", id="naive-active-until"),
        pytest.param(
            {"active_from": utc(2026, 2, 1), "active_until": utc(2026, 1, 1)},
            "before active_from",
            id="validity-reversed",
        ),
        pytest.param({"unit": "weeks"}, "shift unit", id="unknown-unit"),
    ],
)
def test_invalid_layers(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "participants": (1,),
        "anchor": utc(2026, 1, 1),
        "length": 1,
        "unit": DAYS,
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        layer(
            fields.pop("participants"),  # type: ignore[arg-type]
            fields.pop("anchor"),  # type: ignore[arg-type]
            fields.pop("length"),  # type: ignore[arg-type]
            fields.pop("unit"),  # type: ignore[arg-type]
            **fields,  # type: ignore[arg-type]
        )


def test_longest_shifts_are_allowed() -> None:
    validate_layer(layer((1,), utc(2026, 1, 1), 8784, HOURS))
    validate_layer(layer((1,), utc(2026, 1, 1), 366, DAYS))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: Restriction(frozenset(), time(9), time(17)), "weekday", id="no-weekdays"
        ),
        pytest.param(lambda: Restriction(frozenset({8}), time(9), time(17)), "ISO", id="weekday-8"),
        pytest.param(
            lambda: Restriction(WEEKDAYS, time(9, tzinfo=UTC), time(17)),
            "without tzinfo",
            id="aware-time",
        ),
        pytest.param(
            lambda: Restriction(WEEKDAYS, "09:00", time(17)), "time of day", id="text-time"
        ),
        pytest.param(
            lambda: Override(1, utc(2026, 1, 1, 12), utc(2026, 1, 1, 12), 5),
            "end must be after start",
            id="override-empty",
        ),
        pytest.param(
            lambda: Override(1, utc(2026, 1, 1, 12), utc(2026, 1, 1, 11), 5),
            "end must be after start",
            id="override-reversed",
        ),
        pytest.param(
            lambda: Override(1, NAIVE, utc(2026, 1, 2), 5), "timezone-aware", id="override-naive"
        ),
        pytest.param(
            lambda: Override(1, utc(2026, 1, 1), utc(2026, 1, 2), 5, replaces_user_id=5),
            "themselves",
            id="override-replaces-self",
        ),
        pytest.param(
            lambda: ScheduleSpec("Mars/Olympus_Mons", (), ()), "unknown time zone", id="bad-zone"
        ),
        pytest.param(lambda: ScheduleSpec("", (), ()), "unknown time zone", id="empty-zone"),
        pytest.param(
            lambda: final_schedule(DAILY, utc(2026, 1, 2), utc(2026, 1, 2)),
            "after its start",
            id="empty-window",
        ),
        pytest.param(
            lambda: gaps(DAILY, utc(2026, 1, 2), utc(2026, 1, 1)),
            "after its start",
            id="reversed-window",
        ),
        pytest.param(
            lambda: final_schedule(DAILY, utc(2026, 1, 1), utc(2027, 1, 3)),
            "at most 366 days",
            id="window-too-long",
        ),
        pytest.param(
            lambda: next_shift_for_user(DAILY, 1, utc(2026, 1, 1), timedelta(days=400)),
            "at most 366 days",
            id="horizon-too-long",
        ),
        pytest.param(lambda: on_call_at(DAILY, NAIVE), "timezone-aware", id="naive-instant"),
        pytest.param(
            lambda: final_schedule(DAILY, NAIVE, utc(2026, 1, 2)),
            "timezone-aware",
            id="naive-window",
        ),
        pytest.param(
            lambda: rebase_anchor(ROTA, (), utc(2026, 1, 2), "UTC"),
            "participant",
            id="rebase-empty",
        ),
        pytest.param(
            lambda: rebase_anchor(ROTA, (1,), utc(2026, 1, 2), "Nowhere/Land"),
            "unknown time zone",
            id="rebase-bad-zone",
        ),
    ],
)
def test_invalid_inputs_raise_value_error(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


def test_a_window_of_exactly_366_days_is_allowed() -> None:
    assert final_schedule(DAILY, utc(2026, 1, 1), utc(2027, 1, 2))
