"""Who is on call everywhere, final schedules, gaps, next shifts and pager load by API."""

from __future__ import annotations

import httpx
import pytest

from app.core.clock import ManualClock
from app.people.models import TeamKind
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, iso, weekly_layer

WEEKDAYS_9_TO_5 = {"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}


async def test_who_is_on_call_everywhere(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    a = await factory.user(name="Ada")
    b = await factory.user(name="Ben")
    s = await factory.user(name="Sam")
    first = await create_schedule(
        client,
        c.owner,
        c.team_id,
        name="payments",
        layers=[weekly_layer([a.id, b.id], shadows=[s.id])],
    )
    other_team = await factory.team()
    second = await create_schedule(
        client, c.admin, other_team.id, name="search", layers=[weekly_layer([b.id])]
    )
    empty = await create_schedule(client, c.admin, other_team.id, name="empty")

    answer = await client.get("/api/v1/oncall", headers=c.viewer.headers)
    assert answer.status_code == 200
    by_name = {item["schedule_name"]: item for item in answer.json()}
    assert set(by_name) == {"payments", "search", "empty"}
    payments = by_name["payments"]
    # 2 March 10:00 is in week 8 since 5 January: Ada (even weeks).
    assert [r["name"] for r in payments["responders"]] == ["Ada"]
    assert [r["name"] for r in payments["shadows"]] == ["Sam"]
    assert payments["responders"][0]["source_name"] == "primary"
    assert payments["since"] == "2026-03-02T09:00:00Z"
    assert payments["until"] == "2026-03-09T09:00:00Z"
    assert [r["name"] for r in payments["next_responders"]] == ["Ben"]
    assert by_name["search"]["until"] is None, "a one-person rotation never hands off"
    assert by_name["empty"]["responders"] == [] and by_name["empty"]["since"] is None

    team_only = await client.get(
        "/api/v1/oncall", headers=c.viewer.headers, params={"team_id": other_team.id}
    )
    assert {i["schedule_id"] for i in team_only.json()} == {second["id"], empty["id"]}
    past = await client.get(
        "/api/v1/oncall", headers=c.viewer.headers, params={"at": "2026-02-24T00:00:00Z"}
    )
    assert {i["schedule_name"]: [r["name"] for r in i["responders"]] for i in past.json()}[
        "payments"
    ] == ["Ben"]
    assert first["id"] != second["id"]


async def test_final_schedule_and_gaps(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    a, b = await factory.user(name="Ada"), await factory.user(name="Ben")
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="Europe/Berlin",
        layers=[
            {
                "name": "office",
                "participants": [a.id, b.id],
                "shift_unit": "days",
                "start": "2026-03-02",
                "handoff_time": "09:00",
                "restrictions": [WEEKDAYS_9_TO_5],
            }
        ],
    )
    base = f"/api/v1/schedules/{schedule['id']}"
    final = await client.get(f"{base}/final-schedule", headers=c.viewer.headers)
    assert final.status_code == 200
    body = final.json()
    assert body["start"] == "2026-03-02T10:00:00Z" and body["end"] == "2026-03-16T10:00:00Z"
    shifts = [(s["start"], s["end"], s["name"]) for s in body["shifts"]]
    # Berlin is UTC+1 in early March: 09:00-17:00 local is 08:00-16:00 UTC.
    assert shifts[:3] == [
        ("2026-03-02T10:00:00Z", "2026-03-02T16:00:00Z", "Ada"),
        ("2026-03-03T08:00:00Z", "2026-03-03T16:00:00Z", "Ben"),
        ("2026-03-04T08:00:00Z", "2026-03-04T16:00:00Z", "Ada"),
    ]
    assert len(shifts) == 11, "two working weeks and a Monday morning"

    holes = await client.get(
        f"{base}/gaps",
        headers=c.viewer.headers,
        params={"start": "2026-03-06T00:00:00Z", "end": "2026-03-10T00:00:00Z"},
    )
    gaps = [(g["start"], g["end"]) for g in holes.json()["gaps"]]
    assert gaps == [
        ("2026-03-06T00:00:00Z", "2026-03-06T08:00:00Z"),
        ("2026-03-06T16:00:00Z", "2026-03-09T08:00:00Z"),  # the weekend
        ("2026-03-09T16:00:00Z", "2026-03-10T00:00:00Z"),
    ]
    assert holes.json()["uncovered_minutes"] == (8 + 64 + 8) * 60


async def test_next_shift(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    a, b, d = (await factory.user(), await factory.user(), await factory.user())
    await create_schedule(client, c.owner, c.team_id, layers=[weekly_layer([a.id, b.id])])
    mine = await client.get(f"/api/v1/users/{b.id}/next-shift", headers=c.viewer.headers)
    assert mine.json()["shift"]["start"] == "2026-03-09T09:00:00Z"
    assert mine.json()["shift"]["end"] == "2026-03-16T09:00:00Z"
    assert mine.json()["schedule_name"] == "payments"
    current = await client.get(f"/api/v1/users/{a.id}/next-shift", headers=c.viewer.headers)
    assert current.json()["shift"]["start"] == "2026-03-02T09:00:00Z", "the shift they are in"
    nobody = await client.get(f"/api/v1/users/{d.id}/next-shift", headers=c.viewer.headers)
    assert nobody.status_code == 200 and nobody.json()["shift"] is None
    too_far = await client.get(
        f"/api/v1/users/{a.id}/next-shift", headers=c.viewer.headers, params={"within_days": 400}
    )
    assert too_far.status_code == 422


@pytest.mark.parametrize("scope", ["schedule", "everything"])
async def test_load_and_fairness(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock, scope: str
) -> None:
    c = await crew(factory, kind=TeamKind.DEV)
    ops = await factory.team(kind=TeamKind.OPS)
    dev_person = await factory.user(name="Dev", time_zone="Europe/Berlin")
    ops_person = await factory.user(name="Ops", time_zone="America/New_York")
    both = await factory.user(name="Both", time_zone="UTC")
    teamless = await factory.user(name="Nobody", time_zone="UTC")
    await factory.member(c.team_id, dev_person.id)
    await factory.member(ops.id, ops_person.id)
    await factory.member(c.team_id, both.id)
    await factory.member(ops.id, both.id)
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        layers=[
            {
                "name": "daily",
                "participants": [dev_person.id, ops_person.id, both.id, teamless.id],
                "shift_unit": "days",
                "start": "2026-01-05T00:00:00Z",
            }
        ],
    )
    params = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-09T00:00:00Z"}
    url = (
        f"/api/v1/schedules/{schedule['id']}/load" if scope == "schedule" else "/api/v1/oncall/load"
    )
    report = (await client.get(url, headers=c.viewer.headers, params=params)).json()
    people = {p["name"]: p for p in report["people"]}
    assert {name: p["kind"] for name, p in people.items()} == {
        "Dev": "dev",
        "Ops": "ops",
        "Both": "mixed",
        "Nobody": "dev",  # no team: counted like the schedule's owning team
    }
    # Monday 5 Jan 00:00-24:00 UTC is 01:00-01:00 in Berlin: 8 business, 5 evening, 11 night.
    dev = people["Dev"]
    assert (dev["business_hours"], dev["evening_hours"], dev["night_hours"]) == (8, 5, 11)
    assert report["total_hours"] == 96
    assert report["dev_share"] == 0.5 and report["ops_share"] == 0.25
    assert report["mixed_share"] == 0.25
    default = await client.get(url, headers=c.viewer.headers)
    assert default.status_code == 200, "the default window is the past four weeks"
    assert default.json()["start"] == "2026-02-02T10:00:00Z"
    assert iso(clock.now()) == "2026-03-02T10:00:00+00:00"
