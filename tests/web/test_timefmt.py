"""Times as people read them, and where a sign-in may lead (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.web.redirects import safe_next, same_site_path
from app.web.timefmt import local_time, relative_time

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        (datetime(2026, 3, 5, 8, 0, tzinfo=UTC), "Europe/Berlin", "Thu 5 Mar 09:00 CET"),
        (datetime(2026, 7, 2, 7, 0, tzinfo=UTC), "Europe/Berlin", "Thu 2 Jul 09:00 CEST"),
        (datetime(2026, 3, 2, 14, 0, tzinfo=UTC), "America/New_York", "Mon 2 Mar 09:00 EST"),
        # The day after the US change to summer time.
        (datetime(2026, 3, 9, 13, 0, tzinfo=UTC), "America/New_York", "Mon 9 Mar 09:00 EDT"),
        # Only a numeric abbreviation: the zone is named by its IANA name instead.
        (
            datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            "America/Sao_Paulo",
            "Mon 2 Mar 09:00 America/Sao_Paulo",
        ),
        (datetime(2027, 1, 4, 9, 0, tzinfo=UTC), "UTC", "Mon 4 Jan 2027 09:00 UTC"),
        # An unknown zone reads as UTC rather than failing the page.
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "Mars/Olympus", "Mon 2 Mar 09:00 UTC"),
    ],
)
def test_local_time_names_the_zone(instant: datetime, zone: str, expected: str) -> None:
    assert local_time(instant, zone, NOW) == expected


def test_local_time_without_the_date() -> None:
    instant = datetime(2026, 3, 5, 8, 0, tzinfo=UTC)
    assert local_time(instant, "Europe/Berlin", NOW, with_date=False) == "09:00 CET"


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=10), "just now"),
        (timedelta(seconds=-30), "just now"),
        (timedelta(minutes=1), "in 1 minute"),
        (timedelta(minutes=-5), "5 minutes ago"),
        (timedelta(hours=3, minutes=10), "in 3 hours"),
        (timedelta(hours=-1), "1 hour ago"),
        (timedelta(days=2, hours=3), "in 2 days"),
        (timedelta(days=-60), "2 months ago"),
        (timedelta(days=400), "in 1 year"),
    ],
)
def test_relative_time(delta: timedelta, expected: str) -> None:
    assert relative_time(NOW + delta, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/incidents/61", "/incidents/61"),
        ("/incidents?state=open&mine=1", "/incidents?state=open&mine=1"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # a path on this site
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("https://evil.example/incidents/61", "/"),
        ("http:evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("incidents/61", "/"),
        ("/sign-in?next=/", "/"),
        ("/sign-out", "/"),
        ("/" + "a" * 2001, "/"),
    ],
)
def test_safe_next(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_a_way_back_may_be_the_sign_in_page() -> None:
    assert same_site_path("/sign-in") == "/sign-in"
    assert same_site_path("//evil.example") is None
