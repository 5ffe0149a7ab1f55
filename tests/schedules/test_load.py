"""Pager load per person: categories on each person's own wall clock, shadows apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.schedules.load import LoadReport, PersonLoad, load_by_person
from app.schedules.oncall import Shift

BERLIN = ZoneInfo("Europe/Berlin")
CAIRO = ZoneInfo("Africa/Cairo")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def shift(start: datetime, end: datetime, user_id: int = 1, *, shadow: bool = False) -> Shift:
    return Shift(start, end, user_id, shadow, "layer", 1)


def hours_of(report: LoadReport, user_id: int = 1) -> tuple[float, float, float, float, float]:
    person = report.person(user_id)
    assert person is not None
    return (
        person.business_hours,
        person.evening_hours,
        person.night_hours,
        person.weekend_hours,
        person.total_hours,
    )


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        pytest.param(
            "UTC", utc(2026, 1, 5, 8), utc(2026, 1, 5, 23), (8, 5, 2, 0, 15), id="a-long-monday"
        ),
        pytest.param(
            "UTC",
            utc(2026, 1, 9, 20),  # Friday 20:00
            utc(2026, 1, 12, 10),  # Monday 10:00
            (1, 2, 11, 48, 62),  # Friday 22-24 and Monday 00-09 are nights
            id="friday-evening-to-monday-morning",
        ),
        pytest.param(
            "Europe/Berlin",
            utc(2026, 1, 6, 14),  # 15:00-23:00 in Berlin
            utc(2026, 1, 6, 22),
            (2, 5, 1, 0, 8),
            id="berlin-afternoon-and-evening",
        ),
        pytest.param(
            "America/New_York",
            utc(2026, 1, 6, 14),  # 09:00-17:00 in New York
            utc(2026, 1, 6, 22),
            (8, 0, 0, 0, 8),
            id="same-shift-is-business-hours-in-new-york",
        ),
        pytest.param(
            "Europe/Berlin",
            datetime(2026, 3, 28, tzinfo=BERLIN),
            datetime(2026, 3, 30, tzinfo=BERLIN),
            (0, 0, 0, 47, 47),
            id="berlin-spring-forward-weekend-is-47-hours",
        ),
        pytest.param(
            "Europe/Berlin",
            datetime(2026, 10, 24, tzinfo=BERLIN),
            datetime(2026, 10, 26, tzinfo=BERLIN),
            (0, 0, 0, 49, 49),
            id="berlin-fall-back-weekend-is-49-hours",
        ),
        pytest.param(
            "Africa/Cairo",
            datetime(2026, 4, 23, 22, tzinfo=CAIRO),  # Thursday; Friday 00:00 becomes 01:00
            datetime(2026, 4, 24, 9, tzinfo=CAIRO),
            (0, 0, 10, 0, 10),
            id="cairo-weekday-night-with-dst-gap",
        ),
    ],
)
def test_hours_land_in_the_person_s_local_categories(
    zone: str,
    start: datetime,
    end: datetime,
    expected: tuple[float, float, float, float, float],
) -> None:
    report = load_by_person([shift(start, end)], {1: zone}, {1: "ops"})
    assert hours_of(report) == pytest.approx(expected)


def test_shadows_are_reported_apart_and_are_not_load() -> None:
    report = load_by_person(
        [
            shift(utc(2026, 1, 5, 9), utc(2026, 1, 5, 17), 1),
            shift(utc(2026, 1, 5, 9), utc(2026, 1, 5, 17), 2, shadow=True),
        ],
        {1: "UTC", 2: "UTC"},
        {1: "dev", 2: "ops"},
    )
    assert report.person(2) == PersonLoad(2, 0.0, 0.0, 0.0, 0.0, 0.0, 8.0)
    assert report.total_hours == 8.0
    assert (report.dev_share, report.ops_share) == (1.0, 0.0)


def test_a_shadow_only_person_needs_no_time_zone_or_kind() -> None:
    report = load_by_person([shift(utc(2026, 1, 5), utc(2026, 1, 6), 2, shadow=True)], {}, {})
    assert report.people == (PersonLoad(2, 0.0, 0.0, 0.0, 0.0, 0.0, 24.0),)
    assert report.total_hours == 0.0
    assert (report.dev_share, report.ops_share, report.mixed_share) == (0.0, 0.0, 0.0)


def test_overlapping_shifts_of_one_person_count_once() -> None:
    report = load_by_person(
        [
            Shift(utc(2026, 1, 5, 9), utc(2026, 1, 5, 17), 1, False, "layer", 1),
            Shift(utc(2026, 1, 5, 12), utc(2026, 1, 5, 18), 1, False, "layer", 2),
        ],
        {1: "UTC"},
        {1: "dev"},
    )
    assert hours_of(report) == (8.0, 1.0, 0.0, 0.0, 9.0)


def test_dev_and_ops_shares() -> None:
    report = load_by_person(
        [
            shift(utc(2026, 1, 5, 0), utc(2026, 1, 5, 10), 1),
            shift(utc(2026, 1, 5, 10), utc(2026, 1, 6, 16), 2),
            shift(utc(2026, 1, 6, 16), utc(2026, 1, 7, 0), 3),
        ],
        {1: "UTC", 2: "Asia/Kolkata", 3: "America/St_Johns"},
        {1: "dev", 2: "ops", 3: "mixed"},
    )
    assert report.total_hours == 48.0
    assert report.dev_share == pytest.approx(10 / 48)
    assert report.ops_share == pytest.approx(30 / 48)
    assert report.mixed_share == pytest.approx(8 / 48)
    assert [person.user_id for person in report.people] == [1, 2, 3]


def test_no_shifts_no_load() -> None:
    assert load_by_person([], {}, {}) == LoadReport((), 0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("zones", "kinds", "message"),
    [
        pytest.param({}, {1: "dev"}, "no time zone", id="missing-zone"),
        pytest.param({1: "Atlantis/Capital"}, {1: "dev"}, "unknown time zone", id="bad-zone"),
        pytest.param({1: "UTC"}, {}, "needs a kind", id="missing-kind"),
        pytest.param({1: "UTC"}, {1: "sre"}, "needs a kind", id="unknown-kind"),
    ],
)
def test_responders_need_a_zone_and_a_kind(
    zones: dict[int, str], kinds: dict[int, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_by_person([shift(utc(2026, 1, 5), utc(2026, 1, 6))], zones, kinds)


def test_naive_shift_bounds_are_refused() -> None:
    naive = datetime(2026, 1, 5)
    with pytest.raises(ValueError, match="naive"):
        load_by_person([shift(naive, naive + timedelta(hours=1))], {1: "UTC"}, {1: "dev"})


ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata")


@settings(max_examples=150, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    pieces=st.lists(
        st.tuples(
            st.datetimes(datetime(2015, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC)),
            st.integers(1, 24 * 60 * 9),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_categories_add_up_to_the_time_on_call(
    zone: str, pieces: list[tuple[datetime, int]]
) -> None:
    shifts = [shift(start, start + timedelta(minutes=minutes)) for start, minutes in pieces]
    report = load_by_person(shifts, {1: zone}, {1: "mixed"})
    business, evening, night, weekend, total = hours_of(report)
    covered: list[tuple[datetime, datetime]] = []
    for item in sorted(shifts, key=lambda s: s.start):
        if covered and item.start <= covered[-1][1]:
            covered[-1] = (covered[-1][0], max(covered[-1][1], item.end))
        else:
            covered.append((item.start, item.end))
    expected_total = sum((end - start for start, end in covered), timedelta()) / timedelta(hours=1)
    assert total == pytest.approx(expected_total)
    assert business + evening + night + weekend == pytest.approx(total)
    assert report.mixed_share == 1.0
