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

from datetime import datetime
from typing import Any

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
