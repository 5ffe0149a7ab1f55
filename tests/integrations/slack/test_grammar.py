"""The command grammar, pure: literal inputs, literal answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.integrations.slack import commands
from app.integrations.slack.commands import (
    EmailMention,
    Invocation,
    SlackMention,
    UsageError,
    parse,
    parse_range,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 11:00 in Berlin


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/baton", "", Invocation("help", "")),
        ("/baton", "oncall payments", Invocation("oncall", "payments")),
        ("/baton", "ONCALL  payments --here", Invocation("oncall", "payments", here=True)),
        ("/baton", "who payments", Invocation("oncall", "payments")),
        ("/baton", "acknowledge #12", Invocation("ack", "#12")),
        ("/baton", "note #12  two  spaces kept", Invocation("note", "#12  two  spaces kept")),
        ("/oncall", "", Invocation("oncall", "")),
        ("/oncall", "payments --here", Invocation("oncall", "payments", here=True)),
        ("/oncall", "page payments-api it broke", Invocation("page", "payments-api it broke")),
        ("/oncall", "help", Invocation("help", "")),
        ("/BATON", "ack", Invocation("ack", "")),
    ],
)
def test_parse(command: str, text: str, expected: Invocation) -> None:
    assert parse(command, text) == expected


@pytest.mark.parametrize(
    ("command", "text", "problem"),
    [
        ("/baton", "frobnicate", "`frobnicate` is not a Baton subcommand"),
        ("/deploy", "now", "Baton does not handle the command /deploy"),
        ("", "ack", "Baton does not handle the command (none)"),
    ],
)
def test_parse_refuses(command: str, text: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(command, text)
    assert caught.value.problem == problem


@pytest.mark.parametrize(
    ("word", "expected"),
    [("#12", 12), ("12", 12), ("INC-12", 12), ("inc-7", 7), ("#x", None), ("12a", None)],
)
def test_incident_id(word: str, expected: int | None) -> None:
    assert commands.incident_id(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("<@U0BOB00002|bob>", SlackMention("U0BOB00002", "bob")),
        ("<@W0BOB00002>", SlackMention("W0BOB00002", "W0BOB00002")),
        ("<mailto:Bob@Example.com|Bob@Example.com>", EmailMention("bob@example.com")),
        ("bob@example.com", EmailMention("bob@example.com")),
        ("@bob", None),
        ("bob", None),
    ],
)
def test_mention(word: str, expected: object) -> None:
    assert commands.mention(word) == expected


@pytest.mark.parametrize(
    ("text", "start", "end", "rest"),
    [
        ("2h", NOW, NOW + timedelta(hours=2), ""),
        ("90m payments", NOW, NOW + timedelta(minutes=90), "payments"),
        ("1h30m", NOW, NOW + timedelta(minutes=90), ""),
        ("1d", NOW, NOW + timedelta(days=1), ""),
        ("until 18:00", NOW, datetime(2026, 3, 2, 17, 0, tzinfo=UTC), ""),
        ("until 09:00 Payments", NOW, datetime(2026, 3, 3, 8, 0, tzinfo=UTC), "Payments"),
        (
            "14:00-18:00",
            datetime(2026, 3, 2, 13, 0, tzinfo=UTC),
            datetime(2026, 3, 2, 17, 0, tzinfo=UTC),
            "",
        ),
        (
            "22:00-06:00",
            datetime(2026, 3, 2, 21, 0, tzinfo=UTC),
            datetime(2026, 3, 3, 5, 0, tzinfo=UTC),
            "",
        ),
        (  # already over today: the next one
            "08:00-10:00",
            datetime(2026, 3, 3, 7, 0, tzinfo=UTC),
            datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
            "",
        ),
        (
            "2026-03-29T01:00/2026-03-29T05:00",  # across the spring-forward night in Berlin
            datetime(2026, 3, 29, 0, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 3, 0, tzinfo=UTC),
            "",
        ),
        (
            "2026-03-03T09:00Z..2026-03-03T12:00Z x",
            datetime(2026, 3, 3, 9, 0, tzinfo=UTC),
            datetime(2026, 3, 3, 12, 0, tzinfo=UTC),
            "x",
        ),
    ],
)
def test_parse_range(text: str, start: datetime, end: datetime, rest: str) -> None:
    assert parse_range(text, NOW, BERLIN) == (start, end, rest)


@pytest.mark.parametrize(
    "text", ["", "soon", "0h", "until never", "2026-03-03T12:00/2026-03-03T09:00"]
)
def test_parse_range_refuses(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_range(text, NOW, BERLIN)
    assert caught.value.subcommand == "cover"


def test_help_text() -> None:
    full = commands.help_text()
    assert all(f"`/baton {name}" in full for name in commands.SUBCOMMANDS)
    assert commands.help_text("ack") == (
        "`/baton ack [#id]`: acknowledge (no id: this thread's incident, else your latest page)"
    )
    assert commands.help_text("note", "say which incident").startswith(
        ":warning: say which incident.\nUsage: `/baton note #id [text]`"
    )
