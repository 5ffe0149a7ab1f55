"""The digest's slot arithmetic and its words (pure: no database, no clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.review import digest_text
from app.review.digest import latest_slot, parse_digest_time
from app.review.digest_text import Carrier, Change, Digest, DoraLine, OverdueLine, OwedLine

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MONDAY, SUNDAY = 0, 6


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------------- slots


def test_the_slot_is_the_latest_weekday_at_the_wall_time() -> None:
    # Monday 2 March 2026, 09:00 in Berlin is 08:00 UTC.
    at_slot = latest_slot(utc(2026, 3, 2, 8, 0), BERLIN, MONDAY, time(9, 0))
    assert at_slot.at == utc(2026, 3, 2, 8, 0)
    assert at_slot.since == utc(2026, 2, 23, 8, 0)
    assert at_slot.previous_since == utc(2026, 2, 16, 8, 0)
    assert at_slot.week_start == date(2026, 2, 23)
    just_before = latest_slot(utc(2026, 3, 2, 7, 59), BERLIN, MONDAY, time(9, 0))
    assert just_before.at == utc(2026, 2, 23, 8, 0)
    assert just_before.week_start == date(2026, 2, 16)
    # Any instant of the following week has the same slot.
    for hours in (1, 30, 24 * 6 + 23):
        later = latest_slot(utc(2026, 3, 2, 8, 0) + timedelta(hours=hours), BERLIN, 0, time(9))
        assert later == at_slot


def test_the_weekday_wraps_back_over_the_week() -> None:
    # Asked on a Monday, a Friday slot is the Friday before.
    slot = latest_slot(utc(2026, 3, 2, 10, 0), BERLIN, 4, time(16, 30))
    assert slot.at == utc(2026, 2, 27, 15, 30)
    assert slot.week_start == date(2026, 2, 20)


def test_a_week_across_spring_forward_has_167_hours() -> None:
    # Berlin moves to CEST on Sunday 29 March 2026: Monday 30 March 09:00 is 07:00 UTC.
    slot = latest_slot(utc(2026, 3, 30, 7, 0), BERLIN, MONDAY, time(9, 0))
    assert slot.at == utc(2026, 3, 30, 7, 0)
    assert slot.since == utc(2026, 3, 23, 8, 0)
    assert slot.at - slot.since == timedelta(hours=167)
    # An hour earlier in UTC is 08:00 on the new wall clock: still the week before.
    assert latest_slot(utc(2026, 3, 30, 6, 59), BERLIN, MONDAY, time(9, 0)).at == slot.since


def test_a_week_across_fall_back_has_169_hours() -> None:
    slot = latest_slot(utc(2026, 10, 26, 8, 0), BERLIN, MONDAY, time(9, 0))
    assert slot.since == utc(2026, 10, 19, 7, 0)
    assert slot.at - slot.since == timedelta(hours=169)
    assert slot.previous_since == utc(2026, 10, 12, 7, 0)
    # New York changes a week later than Europe: its own boundaries, not Berlin's.
    ny = latest_slot(utc(2026, 11, 2, 14, 0), NEW_YORK, MONDAY, time(9, 0))
    assert ny.at == utc(2026, 11, 2, 14, 0)
    assert ny.since == utc(2026, 10, 26, 13, 0)


def test_a_wall_time_the_clock_skips_still_has_one_slot() -> None:
    # 02:30 on Sunday 29 March 2026 does not exist in Berlin: read with the winter offset,
    # it is 01:30 UTC (03:30 CEST), and the week's slot is there, once.
    slot = latest_slot(utc(2026, 3, 29, 12, 0), BERLIN, SUNDAY, time(2, 30))
    assert slot.at == utc(2026, 3, 29, 1, 30)
    assert slot.week_start == date(2026, 3, 22)
    assert latest_slot(utc(2026, 3, 29, 1, 29), BERLIN, SUNDAY, time(2, 30)).at == utc(
        2026, 3, 22, 1, 30
    )


def test_digest_time_is_hh_mm() -> None:
    assert parse_digest_time("09:00") == time(9, 0)
    assert parse_digest_time("23:59") == time(23, 59)
    for bad in ("9:00", "24:00", "09:60", "0900", "", "ab:cd", "09:00:00"):
        with pytest.raises(ValueError):
            parse_digest_time(bad)


# ---------------------------------------------------------------------------------- words


def digest(**changes: object) -> Digest:
    base: dict[str, object] = {
        "team_id": 7,
        "team": "sre",
        "time_zone": "Europe/Berlin",
        "since": utc(2026, 2, 23, 8, 0),
        "until": utc(2026, 3, 2, 8, 0),
        "incidents": Change(4, 2),
        "mtta_seconds": Change(200, 300),
        "mttr_seconds": Change(2520, None),
        "carriers": (
            Carrier("Bob", 1, 0, 0.0),
            Carrier("Alice", 6, 2, 84.0),
        ),
        "owed": (
            OwedLine(12, "checkout failing", "payments-api", "high urgency, 45 min", "Alice"),
        ),
        "overdue": (OverdueLine("Add a retry budget", "Bob", date(2026, 2, 20), 9),),
        "dora": (DoraLine("payments-api", 12, "high", 0.0833, "high", "elite", ""),),
        "dora_source": "DORA 2023",
    }
    base.update(changes)
    return Digest(**base)  # type: ignore[arg-type]


def test_durations() -> None:
    assert digest_text.duration(None) == "—"
    assert digest_text.duration(45) == "45s"
    assert digest_text.duration(200) == "3m 20s"
    assert digest_text.duration(300) == "5m"
    assert digest_text.duration(7500) == "2h 05m"
    assert digest_text.duration(97200) == "1d 3h"


def test_the_text_compares_with_last_week() -> None:
    body = digest_text.text(digest())
    assert body.startswith("Weekly digest for sre: Mon 23 Feb to Mon 02 Mar 2026 (Europe/Berlin)")
    assert "Incidents: 4 (last week 2, +2)" in body
    assert "MTTA (median): 3m 20s (last week 5m, -1m 40s)" in body
    assert "MTTR (median): 42m (last week —)" in body
    # The most interrupted first; how much of it at night.
    assert body.index("Alice: 6 interruptions, 2 at night, 84 h on call") < body.index(
        "Bob: 1 interruption, none at night"
    )
    assert "Reviews owed (1):\n• #12 payments-api: checkout failing — high urgency" in body
    assert "(owner Alice)" in body
    assert "Overdue action items (1):\n• Add a retry budget — Bob, due 2026-02-20 (#9)" in body
    assert "DORA, last 30 days; bands from the DORA 2023 report:" in body
    assert "payments-api: 12 deploys (high), change failure rate 8% (high), lead time elite" in body
    assert ":tada:" not in body
    assert digest_text.subject(digest()) == (
        "Baton weekly digest for sre: Mon 23 Feb to Mon 02 Mar 2026"
    )


def test_a_quiet_week() -> None:
    quiet = digest(
        incidents=Change(0, 0),
        mtta_seconds=Change(None, None),
        mttr_seconds=Change(None, None),
        carriers=(),
        owed=(),
        overdue=(),
        dora=(),
    )
    body = digest_text.text(quiet)
    assert "Incidents: 0 (last week 0, same)" in body
    assert "MTTA (median): — (last week —)" in body
    assert "Nobody was interrupted." in body
    assert "Reviews owed (0):\nNone." in body


def test_long_lists_are_cut_and_the_text_fits_the_outbox() -> None:
    many = tuple(
        OwedLine(i, "x" * 400, "payments-api", "linked to a deploy", "Alice") for i in range(30)
    )
    body = digest_text.text(digest(owed=many, overdue=many and ()))
    assert "Reviews owed (30):" in body
    assert "… and 22 more in Baton" in body
    assert len(body) <= digest_text.BODY_LIMIT


def test_slack_blocks_escape_and_link_to_the_team() -> None:
    tricky = digest(team="<!channel> & co", owed=(OwedLine(3, "a <b>", "s", "why", ""),))
    blocks = digest_text.slack_blocks(tricky, "https://baton.example/")
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Weekly digest: <!channel> & co"  # plain text: shown as is
    markdown = "\n".join(
        str(b.get("text", {}).get("text", "")) for b in blocks if b["type"] == "section"
    )
    assert "a &lt;b&gt;" in markdown and "<b>" not in markdown
    assert "(no owner)" in markdown
    assert blocks[-1]["elements"][0]["text"] == (
        "<https://baton.example/teams/7|Open &lt;!channel&gt; &amp; co in Baton>"
    )
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")


def test_the_digest_survives_the_outbox_json() -> None:
    original = digest()
    assert Digest.from_json(original.to_json()) == original
