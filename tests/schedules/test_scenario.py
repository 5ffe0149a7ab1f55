"""The issue's scenario: a mixed Dev/Ops follow-the-sun schedule built through the API.

The schedule lives in America/New_York, so its regional windows follow US daylight saving:
Americas 08:00-16:00, APAC 16:00-24:00, EMEA 00:00-08:00, New York wall-clock time, every day.
New York springs forward on Sunday 8 March 2026 (02:00 EST -> 03:00 EDT, 07:00 UTC) and falls
back on Sunday 1 November 2026 (02:00 EDT -> 01:00 EST, 06:00 UTC).

Rotations (all counted from Monday 5 January 2026):
* americas: Ben, Cleo (dev), weekly, hand-off Monday 08:00; Sam (dev, new) shadows it;
* apac: Dan (ops), alone;
* emea: Ada (ops), Eve (dev), daily, hand-off 00:00.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from icalendar import Calendar

from app.core.auth import Role
from app.core.clock import ManualClock
from app.people.models import TeamKind
from app.schedules.feeds import feed_window
from tests.factories import Factory
from tests.schedules.helpers import iso, utc

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def _people(factory: Factory) -> dict[str, int]:
    dev = await factory.team(name="payments", kind=TeamKind.DEV)
    ops = await factory.team(name="sre", kind=TeamKind.OPS)
    zones = {
        "Ben": ("America/New_York", dev),
        "Cleo": ("America/Los_Angeles", dev),
        "Sam": ("America/New_York", dev),
        "Eve": ("Europe/Berlin", dev),
        "Ada": ("Europe/Berlin", ops),
        "Dan": ("Australia/Sydney", ops),
    }
    ids = {}
    for name, (zone, team) in zones.items():
        user = await factory.user(name=name, email=f"{name.lower()}@example.com", time_zone=zone)
        await factory.member(team.id, user.id)
        ids[name] = user.id
    ids["payments"] = dev.id
    return ids


def _layer(
    name: str, people: list[int], unit: str, handoff: str, window: tuple[str, str]
) -> dict[str, Any]:
    return {
        "name": name,
        "participants": people,
        "shift_unit": unit,
        "start": "2026-01-05",
        "handoff_time": handoff,
        "restrictions": [{"weekdays": EVERY_DAY, "start": window[0], "end": window[1]}],
    }


# (instant in UTC, expected responders, expected shadows, why)
EXPECTATIONS: list[tuple[datetime, list[str], list[str], str]] = [
    (utc(2026, 1, 4, 12), [], [], "before every layer starts: a gap"),
    (utc(2026, 3, 6, 14), ["Ben"], ["Sam"], "Fri 09:00 EST: Americas, week 8 is Ben's"),
    (utc(2026, 3, 6, 22), ["Dan"], [], "Fri 17:00 EST: APAC"),
    (utc(2026, 3, 7, 6), ["Eve"], [], "Sat 01:00 EST: EMEA, day 61 is Eve's"),
    (utc(2026, 3, 8, 6, 30), ["Ada"], [], "Sun 01:30 EST, before the spring-forward"),
    (utc(2026, 3, 8, 7, 30), ["Ada"], [], "Sun 03:30 EDT, just after it"),
    (utc(2026, 3, 8, 11, 30), ["Ada"], [], "07:30 EDT: EMEA until 08:00 local"),
    (utc(2026, 3, 8, 12, 30), ["Ben"], ["Sam"], "08:30 EDT: Americas opens an hour earlier in UTC"),
    (utc(2026, 3, 9, 12, 30), ["Cleo"], ["Sam"], "Mon 08:30 EDT: the weekly hand-off"),
    (utc(2026, 3, 9, 20, 30), ["Dan"], [], "Mon 16:30 EDT: APAC"),
    (utc(2026, 3, 10, 21), ["Ada"], [], "override: Ada replaces Dan"),
    (utc(2026, 3, 11, 4, 30), ["Eve"], [], "the override has ended; EMEA, day 65"),
    (utc(2026, 3, 12, 14), ["Eve"], [], "whole-schedule override: no shadows"),
    (utc(2026, 11, 1, 5, 30), ["Ada"], [], "01:30 EDT, first pass (day 300)"),
    (utc(2026, 11, 1, 6, 30), ["Ada"], [], "01:30 EST, second pass"),
    (utc(2026, 11, 1, 12, 30), ["Ada"], [], "07:30 EST: EMEA ends an hour later in UTC"),
    (utc(2026, 11, 1, 13, 30), ["Ben"], ["Sam"], "08:30 EST: Americas, week 42"),
]


@pytest.fixture
async def schedule(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    ids = await _people(factory)
    admin = await factory.actor(Role.ADMIN)
    created = await client.post(
        "/api/v1/schedules",
        headers=admin.headers,
        json={
            "name": "payments-follow-the-sun",
            "team_id": ids["payments"],
            "time_zone": "America/New_York",
            "layers": [
                {
                    **_layer(
                        "americas", [ids["Ben"], ids["Cleo"]], "weeks", "08:00", ("08:00", "16:00")
                    ),
                    "shadows": [ids["Sam"]],
                },
                _layer("apac", [ids["Dan"]], "weeks", "16:00", ("16:00", "00:00")),
                _layer("emea", [ids["Ada"], ids["Eve"]], "days", "00:00", ("00:00", "08:00")),
            ],
        },
    )
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    for body in (
        {
            "start": "2026-03-10T20:00:00Z",
            "end": "2026-03-11T04:00:00Z",
            "user_id": ids["Ada"],
            "replaces_user_id": ids["Dan"],
            "reason": "Dan is travelling",
        },
        {"start": "2026-03-12T00:00:00Z", "end": "2026-03-13T00:00:00Z", "user_id": ids["Eve"]},
    ):
        override = await client.post(
            f"/api/v1/schedules/{sid}/overrides", headers=admin.headers, json=body
        )
        assert override.status_code == 201, override.text
    return {"id": sid, "admin": admin, "ids": ids, "layers": created.json()["layers"]}


async def _answer(
    client: httpx.AsyncClient, schedule: dict[str, Any], at: datetime
) -> tuple[list[str], list[str]]:
    response = await client.get(
        f"/api/v1/schedules/{schedule['id']}/oncall",
        headers=schedule["admin"].headers,
        params={"at": iso(at)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return sorted(r["name"] for r in body["responders"]), sorted(s["name"] for s in body["shadows"])


async def test_who_is_on_call_around_dst_and_overrides(
    client: httpx.AsyncClient,
    schedule: dict[str, Any],
    clock: ManualClock,
) -> None:
    for at, responders, shadows, why in EXPECTATIONS:
        assert await _answer(client, schedule, at) == (responders, shadows), f"{at}: {why}"

    # Today (9 March 13:00 UTC) the Americas rotation gains Sam as a participant; Cleo keeps
    # her shift and everything above stays as it was.
    clock.set(utc(2026, 3, 9, 13))
    americas = next(layer for layer in schedule["layers"] if layer["name"] == "americas")
    ids = schedule["ids"]
    edited = await client.put(
        f"/api/v1/schedules/{schedule['id']}/layers/{americas['id']}/participants",
        headers=schedule["admin"].headers,
        json={"participants": [ids["Ben"], ids["Cleo"], ids["Sam"]]},
    )
    assert edited.status_code == 200, edited.text
    for at, responders, shadows, why in EXPECTATIONS:
        if at < clock.now():
            assert await _answer(client, schedule, at) == (responders, shadows), f"{at}: {why}"
    assert await _answer(client, schedule, utc(2026, 3, 9, 14)) == (["Cleo"], ["Sam"])
    assert (await _answer(client, schedule, utc(2026, 3, 16, 12, 30)))[0] == ["Sam"]


async def test_the_feed_shows_the_same_shifts(
    client: httpx.AsyncClient,
    schedule: dict[str, Any],
    clock: ManualClock,
) -> None:
    admin = schedule["admin"]
    feed = await client.post(
        "/api/v1/calendar-feeds", headers=admin.headers, json={"schedule_id": schedule["id"]}
    )
    body = (await client.get(f"/api/v1/calendars/{feed.json()['token']}.ics")).content
    events = sorted(
        (
            e.get("dtstart").dt,
            e.get("dtend").dt,
            str(e.get("x-baton-user-id")),
            "Shadowing" in str(e.get("summary")),
        )
        for e in Calendar.from_ical(body).walk("VEVENT")
    )
    start, end = feed_window(clock.now())
    final = await client.get(
        f"/api/v1/schedules/{schedule['id']}/final-schedule",
        headers=admin.headers,
        params={"start": iso(start), "end": iso(end)},
    )
    expected = sorted(
        (
            datetime.fromisoformat(s["start"]),
            datetime.fromisoformat(s["end"]),
            str(s["user_id"]),
            s["shadow"],
        )
        for s in final.json()["shifts"]
    )
    assert events == expected
    assert len(events) > 300, "five months of three regions a day"
    # Around the spring-forward the EMEA night is an hour shorter in UTC: 05:00-12:00.
    ada = str(schedule["ids"]["Ada"])
    assert (utc(2026, 3, 8, 5), utc(2026, 3, 8, 12), ada, False) in events


async def test_dev_and_ops_share_the_load(
    client: httpx.AsyncClient, schedule: dict[str, Any]
) -> None:
    report = await client.get(
        f"/api/v1/schedules/{schedule['id']}/load",
        headers=schedule["admin"].headers,
        params={"start": "2026-03-02T05:00:00Z", "end": "2026-03-09T05:00:00Z"},
    )
    body = report.json()
    # The three windows tile every day, so a week with the spring-forward is covered whole.
    assert body["total_hours"] == pytest.approx(7 * 24)
    assert body["dev_share"] > 0 and body["ops_share"] > 0
    assert body["dev_share"] + body["ops_share"] == pytest.approx(1)
    sam = next(p for p in body["people"] if p["name"] == "Sam")
    assert sam["total_hours"] == 0 and sam["shadow_hours"] > 0


# ---------------------------------------------------------------------------------------------
# A 12-hour day/night rotation in Berlin on the wall clock, across both changes of 2026.
# Ada and Cleo take the days (08:00-20:00), Ben and Dan the nights, from Monday 5 January: day d
# (counted from 5 January) is Ada's (even d) or Cleo's, its night Ben's or Dan's. Berlin springs
# forward on Sunday 29 March (01:00 UTC) and falls back on Sunday 25 October (01:00 UTC).
# ---------------------------------------------------------------------------------------------

# (instant in UTC, expected responder, why)
DAY_NIGHT: list[tuple[datetime, str, str]] = [
    (utc(2026, 3, 28, 12), "Ada", "Sat 13:00 CET, day 82"),
    (utc(2026, 3, 28, 19, 30), "Ben", "Sat 20:30 CET, the night began at 20:00"),
    (utc(2026, 3, 29, 0, 59), "Ben", "Sun 01:59 CET, just before the change"),
    (utc(2026, 3, 29, 5, 30), "Ben", "Sun 07:30 CEST, the 11-hour night"),
    (utc(2026, 3, 29, 6, 30), "Cleo", "Sun 08:30 CEST: the day still starts at 08:00"),
    (utc(2026, 3, 29, 18, 30), "Dan", "Sun 20:30 CEST"),
    (utc(2026, 10, 24, 17, 30), "Ada", "Sat 19:30 CEST, day 292"),
    (utc(2026, 10, 24, 18, 30), "Ben", "Sat 20:30 CEST"),
    (utc(2026, 10, 25, 0, 30), "Ben", "Sun 02:30 CEST, first pass"),
    (utc(2026, 10, 25, 1, 30), "Ben", "Sun 02:30 CET, second pass"),
    (utc(2026, 10, 25, 6, 30), "Ben", "Sun 07:30 CET, the 13-hour night"),
    (utc(2026, 10, 25, 7, 30), "Cleo", "Sun 08:30 CET: the day still starts at 08:00"),
]


async def _named_people(factory: Factory, names: dict[str, str]) -> dict[str, int]:
    team = await factory.team(name="intensive-care", kind=TeamKind.OPS)
    ids = {"team": team.id}
    for name, zone in names.items():
        user = await factory.user(name=name, email=f"{name.lower()}@example.com", time_zone=zone)
        await factory.member(team.id, user.id)
        ids[name] = user.id
    return ids


@pytest.fixture
async def day_night(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    ids = await _named_people(
        factory, dict.fromkeys(("Ada", "Ben", "Cleo", "Dan"), "Europe/Berlin")
    )
    admin = await factory.actor(Role.ADMIN)
    created = await client.post(
        "/api/v1/schedules",
        headers=admin.headers,
        json={
            "name": "day-and-night",
            "team_id": ids["team"],
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "name": "twelve-hours",
                    "participants": [ids["Ada"], ids["Ben"], ids["Cleo"], ids["Dan"]],
                    "shift_unit": "hours",
                    "shift_length": 12,
                    "start": "2026-01-05",
                    "handoff_time": "08:00",
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    (layer,) = created.json()["layers"]
    assert (layer["handoff_rule"], layer["time_zone"]) == ("wall_clock", None)
    return {"id": created.json()["id"], "admin": admin, "ids": ids}


async def _oncall(client: httpx.AsyncClient, schedule: dict[str, Any], at: datetime) -> Any:
    response = await client.get(
        f"/api/v1/schedules/{schedule['id']}/oncall",
        headers=schedule["admin"].headers,
        params={"at": iso(at)},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _feed_and_final_schedule(
    client: httpx.AsyncClient, schedule: dict[str, Any], clock: ManualClock
) -> tuple[list[tuple[datetime, datetime, str, bool]], list[tuple[datetime, datetime, str, bool]]]:
    admin = schedule["admin"]
    feed = await client.post(
        "/api/v1/calendar-feeds", headers=admin.headers, json={"schedule_id": schedule["id"]}
    )
    assert feed.status_code == 201, feed.text
    body = (await client.get(f"/api/v1/calendars/{feed.json()['token']}.ics")).content
    events = sorted(
        (
            e.get("dtstart").dt,
            e.get("dtend").dt,
            str(e.get("x-baton-user-id")),
            "Shadowing" in str(e.get("summary")),
        )
        for e in Calendar.from_ical(body).walk("VEVENT")
    )
    start, end = feed_window(clock.now())
    final = await client.get(
        f"/api/v1/schedules/{schedule['id']}/final-schedule",
        headers=admin.headers,
        params={"start": iso(start), "end": iso(end)},
    )
    assert final.status_code == 200, final.text
    shifts = sorted(
        (
            datetime.fromisoformat(s["start"]),
            datetime.fromisoformat(s["end"]),
            str(s["user_id"]),
            s["shadow"],
        )
        for s in final.json()["shifts"]
    )
    return events, shifts


async def test_day_night_shifts_keep_the_wall_clock_across_both_changes(
    client: httpx.AsyncClient, day_night: dict[str, Any]
) -> None:
    for at, expected, why in DAY_NIGHT:
        body = await _oncall(client, day_night, at)
        assert [r["name"] for r in body["responders"]] == [expected], f"{at}: {why}"
    short_night = await _oncall(client, day_night, utc(2026, 3, 29, 3))
    assert _bounds(short_night) == (
        utc(2026, 3, 28, 19),  # 20:00 CET
        utc(2026, 3, 29, 6),  # 08:00 CEST: 11 hours later
    )
    long_night = await _oncall(client, day_night, utc(2026, 10, 25, 3))
    assert _bounds(long_night) == (
        utc(2026, 10, 24, 18),  # 20:00 CEST
        utc(2026, 10, 25, 7),  # 08:00 CET: 13 hours later
    )
    # The load report counts the real hours: Ben's short night of the spring change is 11.
    load = await client.get(
        f"/api/v1/schedules/{day_night['id']}/load",
        headers=day_night["admin"].headers,
        params={"start": iso(utc(2026, 3, 28, 19)), "end": iso(utc(2026, 3, 29, 6))},
    )
    assert [(p["name"], p["total_hours"]) for p in load.json()["people"]] == [("Ben", 11)]


def _bounds(answer: dict[str, Any]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(answer["since"]), datetime.fromisoformat(answer["until"])


async def test_the_day_night_feed_shows_the_short_and_the_long_night(
    client: httpx.AsyncClient, day_night: dict[str, Any], clock: ManualClock
) -> None:
    ben = str(day_night["ids"]["Ben"])
    events, shifts = await _feed_and_final_schedule(client, day_night, clock)
    assert events == shifts
    assert (utc(2026, 3, 28, 19), utc(2026, 3, 29, 6), ben, False) in events
    berlin = ZoneInfo("Europe/Berlin")
    assert {start.astimezone(berlin).time() for start, *_ in events[1:]} == {time(8), time(20)}

    clock.set(utc(2026, 10, 1))  # the feed shows a month back and half a year ahead
    events, shifts = await _feed_and_final_schedule(client, day_night, clock)
    assert events == shifts
    assert (utc(2026, 10, 24, 18), utc(2026, 10, 25, 7), ben, False) in events
    assert {start.astimezone(berlin).time() for start, *_ in events[1:]} == {time(8), time(20)}


# ---------------------------------------------------------------------------------------------
# Follow the sun on regional clocks: a UTC schedule whose layers each work 09:00-17:00 in their
# own zone, every day. Sydney: Dan; Berlin: Ada and Eve, weekly from Monday 5 January; New York:
# Ben and Cleo, weekly. Later layers win where regions overlap. The holes between the regions
# move as each region changes its clocks (Sydney 5 April and 4 October, Berlin 29 March and 25
# October, New York 8 March and 1 November).
# ---------------------------------------------------------------------------------------------

# (instant in UTC, expected responders, why)
REGIONAL: list[tuple[datetime, list[str], str]] = [
    (utc(2026, 1, 14, 3), ["Dan"], "Wed 14:00 AEDT"),
    (utc(2026, 1, 14, 7), [], "06:00-08:00 UTC: Sydney has stopped, Berlin (CET) not begun"),
    (utc(2026, 1, 14, 9), ["Eve"], "Wed 10:00 CET, Berlin's week 1"),
    (utc(2026, 1, 14, 15), ["Cleo"], "Wed 10:00 EST, New York's week 1"),
    (utc(2026, 1, 14, 22, 30), ["Dan"], "Thu 09:30 AEDT: New York (17:00 EST) meets Sydney"),
    (utc(2026, 3, 18, 13, 30), ["Ben"], "09:30 EDT, over Berlin's afternoon: week 10"),
    (utc(2026, 3, 18, 21, 30), [], "17:30 EDT: New York is on summer time, Sydney not yet open"),
    (utc(2026, 4, 15, 7, 30), ["Ada"], "09:30 CEST; Sydney (AEST) closed at 07:00"),
    (utc(2026, 4, 15, 22), [], "21:00-23:00 UTC: the hole moved to the evening"),
    (utc(2026, 4, 15, 23, 30), ["Dan"], "Thu 09:30 AEST"),
    (utc(2026, 10, 14, 6, 30), [], "Sydney back on AEDT closes at 06:00, Berlin opens at 07:00"),
    (utc(2026, 10, 14, 21, 30), [], "New York (EDT) closed at 21:00, Sydney opens at 22:00"),
    (utc(2026, 11, 11, 7, 30), [], "Berlin back on CET opens at 08:00"),
]

# (UTC day, holes in the gaps report as (start, end) hours UTC)
REGIONAL_GAPS: list[tuple[datetime, list[tuple[int, int]]]] = [
    (utc(2026, 1, 14), [(6, 8)]),
    (utc(2026, 3, 18), [(6, 8), (21, 22)]),
    (utc(2026, 4, 15), [(21, 23)]),
    (utc(2026, 7, 15), [(21, 23)]),
    (utc(2026, 10, 14), [(6, 7), (21, 22)]),
    (utc(2026, 11, 11), [(6, 8)]),
]


@pytest.fixture
async def regional(client: httpx.AsyncClient, factory: Factory) -> dict[str, Any]:
    zones = {
        "Dan": "Australia/Sydney",
        "Ada": "Europe/Berlin",
        "Eve": "Europe/Berlin",
        "Ben": "America/New_York",
        "Cleo": "America/New_York",
    }
    ids = await _named_people(factory, zones)
    admin = await factory.actor(Role.ADMIN)

    def region(name: str, zone: str, people: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "time_zone": zone,
            "participants": [ids[person] for person in people],
            "shift_unit": "weeks",
            "start": "2026-01-05",
            "handoff_time": "09:00",
            "restrictions": [{"weekdays": EVERY_DAY, "start": "09:00", "end": "17:00"}],
        }

    created = await client.post(
        "/api/v1/schedules",
        headers=admin.headers,
        json={
            "name": "sre-around-the-world",
            "team_id": ids["team"],
            "time_zone": "UTC",
            "layers": [
                region("sydney", "Australia/Sydney", ["Dan"]),
                region("berlin", "Europe/Berlin", ["Ada", "Eve"]),
                region("new-york", "America/New_York", ["Ben", "Cleo"]),
            ],
        },
    )
    assert created.status_code == 201, created.text
    layers = {layer["name"]: layer for layer in created.json()["layers"]}
    assert layers["sydney"]["time_zone"] == "Australia/Sydney"
    assert layers["new-york"]["handoff_time"] == "09:00"  # on New York's clock
    return {"id": created.json()["id"], "admin": admin, "ids": ids}


async def test_regional_follow_the_sun_moves_with_each_region(
    client: httpx.AsyncClient, regional: dict[str, Any]
) -> None:
    for at, expected, why in REGIONAL:
        body = await _oncall(client, regional, at)
        assert sorted(r["name"] for r in body["responders"]) == expected, f"{at}: {why}"
    for day, holes in REGIONAL_GAPS:
        report = await client.get(
            f"/api/v1/schedules/{regional['id']}/gaps",
            headers=regional["admin"].headers,
            params={"start": iso(day), "end": iso(day.replace(hour=23, minute=59))},
        )
        assert report.status_code == 200, report.text
        found = [
            (datetime.fromisoformat(g["start"]), datetime.fromisoformat(g["end"]))
            for g in report.json()["gaps"]
        ]
        assert found == [(day.replace(hour=a), day.replace(hour=b)) for a, b in holes], day


async def test_the_regional_feed_follows_each_region_s_clock(
    client: httpx.AsyncClient, regional: dict[str, Any], clock: ManualClock
) -> None:
    events, shifts = await _feed_and_final_schedule(client, regional, clock)
    assert events == shifts
    dan, eve = str(regional["ids"]["Dan"]), str(regional["ids"]["Eve"])
    # Sydney's last summer day and its first winter day (DST ends 5 April).
    assert (utc(2026, 4, 3, 22), utc(2026, 4, 4, 6), dan, False) in events
    assert (utc(2026, 4, 4, 23), utc(2026, 4, 5, 7), dan, False) in events
    # Berlin's last winter day and its first summer day (29 March), week 11: Eve, until New
    # York (on summer time since 8 March) opens at 13:00 UTC.
    assert (utc(2026, 3, 28, 8), utc(2026, 3, 28, 13), eve, False) in events
    assert (utc(2026, 3, 29, 7), utc(2026, 3, 29, 13), eve, False) in events
    sydney, berlin, new_york = (
        ZoneInfo(zone) for zone in ("Australia/Sydney", "Europe/Berlin", "America/New_York")
    )
    berliners = {str(regional["ids"]["Ada"]), eve}
    for start, end, user, _ in events[1:-1]:  # the first and last are cut by the feed window
        if user == dan:
            assert (start.astimezone(sydney).time(), end.astimezone(sydney).time()) == (
                time(9),
                time(17),
            )
        elif user in berliners:  # New York opens at 09:00 before Berlin closes at 17:00
            assert start.astimezone(berlin).time() == time(9)
            assert end.astimezone(new_york).time() == time(9)
        else:
            assert (start.astimezone(new_york).time(), end.astimezone(new_york).time()) == (
                time(9),
                time(17),
            )
