"""Rate limits as settings write them (core/ratelimit.py): ``"4/5m"`` and its edges."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.ratelimit import RateLimit


@pytest.mark.parametrize(
    ("text", "count", "window"),
    [
        ("4/5m", 4, timedelta(minutes=5)),
        ("10/m", 10, timedelta(minutes=1)),
        ("1/30s", 1, timedelta(seconds=30)),
        ("2/1h", 2, timedelta(hours=1)),
        (" 3 / 2 m ", 3, timedelta(minutes=2)),
        ("100000/1m", 100000, timedelta(minutes=1)),
    ],
)
def test_parse(text: str, count: int, window: timedelta) -> None:
    assert RateLimit.parse(text) == RateLimit(count, window)


@pytest.mark.parametrize(
    "text", ["", "4", "4m", "/5m", "4/5", "4/5d", "4/5M", "-1/5m", "4/-5m", "4.5/5m", "four/5m"]
)
def test_malformed_limits_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not like"):
        RateLimit.parse(text)


@pytest.mark.parametrize("text", ["0/5m", "4/0m", "0/m"])
def test_a_limit_must_allow_something(text: str) -> None:
    with pytest.raises(ValueError, match="at least one message"):
        RateLimit.parse(text)


def test_shown_in_seconds() -> None:
    assert str(RateLimit.parse("4/5m")) == "4/300s"
    assert str(RateLimit.parse("1/h")) == "1/3600s"
