"""Covers of covers over the API: chains page the last person, circles are refused (409),
overrides last at most a year (422), and `until` is the next hand-off between people.

The clock starts on Monday 2 March 2026, 10:00 UTC.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.clock import ManualClock
from app.schedules import schemas
from app.schedules.terminal import format_answer
from tests.factories import Actor, Factory
from tests.schedules.helpers import create_schedule, crew, iso, weekly_layer


async def _post_override(
    client: httpx.AsyncClient,
    actor: Actor,
    schedule_id: int,
    start: str,
    end: str,
    user: int,
    replaces: int | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/schedules/{schedule_id}/overrides",
        headers=actor.headers,
        json={"start": start, "end": end, "user_id": user, "replaces_user_id": replaces},
    )


async def _answer(
    client: httpx.AsyncClient, actor: Actor, schedule_id: int, at: str
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/schedules/{schedule_id}/oncall", headers=actor.headers, params={"at": at}
    )
    assert response.status_code == 200, response.text
    return response.json()


def _chain(assignment: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(source kind, source id, person) from the responder down to the layer."""
    return [
        (assignment["source_kind"], assignment["source_id"], assignment["name"]),
        *((s["source_kind"], s["source_id"], s["name"]) for s in assignment["covering"]),
    ]


async def test_a_cover_of_a_cover_pages_the_last_person_and_shows_the_chain(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    anna, bob, carl = [await factory.user(name=n) for n in ("Anna", "Bob", "Carl")]
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="Europe/Berlin",
        layers=[weekly_layer([anna.id], start="2026-03-02", handoff_time="09:00")],
    )
    sid, layer_id = schedule["id"], schedule["layers"][0]["id"]
    # Bob covers anna on Tuesday; carl covers bob over lunch (13:00-15:00 CET).
    a = await _post_override(
        client, c.owner, sid, "2026-03-03T08:00:00Z", "2026-03-04T08:00:00Z", bob.id, anna.id
    )
    b = await _post_override(
        client, c.owner, sid, "2026-03-03T12:00:00Z", "2026-03-03T14:00:00Z", carl.id, bob.id
    )
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    a_id, b_id = a.json()["id"], b.json()["id"]

    answer = await _answer(client, c.viewer, sid, "2026-03-03T13:00:00Z")
    (responder,) = answer["responders"]
    assert _chain(responder) == [
        ("override", b_id, "Carl"),
        ("override", a_id, "Bob"),
        ("layer", layer_id, "Anna"),
    ]
    assert responder["covering"][1]["source_name"] == "primary"
    assert (answer["since"], answer["until"]) == ("2026-03-03T12:00:00Z", "2026-03-03T14:00:00Z")
    assert [r["name"] for r in answer["next_responders"]] == ["Bob"]
    printed = format_answer(schemas.OnCallOut.model_validate(answer))
    assert f"[override {b_id}, covering Bob (override {a_id}), covering Anna (primary)]" in printed

    final = await client.get(
        f"/api/v1/schedules/{sid}/final-schedule",
        headers=c.viewer.headers,
        params={"start": "2026-03-03T00:00:00Z", "end": "2026-03-04T00:00:00Z"},
    )
    assert [(s["start"], s["name"], len(s["covering"])) for s in final.json()["shifts"]] == [
        ("2026-03-03T00:00:00Z", "Anna", 0),
        ("2026-03-03T08:00:00Z", "Bob", 1),
        ("2026-03-03T12:00:00Z", "Carl", 2),
        ("2026-03-03T14:00:00Z", "Bob", 1),
    ]


async def test_a_circle_of_covers_is_refused(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    anna, bob, carl = [await factory.user() for _ in range(3)]
    schedule = await create_schedule(
        client, c.owner, c.team_id, time_zone="America/New_York", layers=[weekly_layer([anna.id])]
    )
    sid = schedule["id"]
    a = await _post_override(
        client, c.owner, sid, "2026-03-08T05:00:00Z", "2026-03-08T12:00:00Z", bob.id, anna.id
    )
    assert a.status_code == 201
    # Anna covering bob across the spring-forward night would cover herself.
    circle = await _post_override(
        client, c.owner, sid, "2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z", anna.id, bob.id
    )
    assert circle.status_code == 409, circle.text
    body = circle.json()
    assert body["code"] == "conflict" and body["conflicting_override_ids"] == [a.json()["id"]]
    assert "circle" in body["detail"]
    later = await _post_override(
        client, c.owner, sid, "2026-03-08T12:00:00Z", "2026-03-08T13:00:00Z", anna.id, bob.id
    )
    assert later.status_code == 201, "after bob's cover ends there is no circle"

    b = await _post_override(
        client, c.owner, sid, "2026-03-08T06:00:00Z", "2026-03-08T08:00:00Z", carl.id, bob.id
    )
    assert b.status_code == 201, "carl covers bob covering anna: a chain, fine"
    three = await _post_override(
        client, c.owner, sid, "2026-03-08T07:00:00Z", "2026-03-08T07:10:00Z", anna.id, carl.id
    )
    assert three.status_code == 409
    assert three.json()["conflicting_override_ids"] == [a.json()["id"], b.json()["id"]]

    moved = await client.patch(
        f"/api/v1/schedules/{sid}/overrides/{later.json()['id']}",
        headers=c.owner.headers,
        json={"start": "2026-03-08T11:00:00Z"},
    )
    assert moved.status_code == 409, "an edit that closes a circle is refused too"
    listed = await client.get(f"/api/v1/schedules/{sid}/overrides", headers=c.viewer.headers)
    assert len(listed.json()["items"]) == 3, "nothing refused was written"


async def test_cover_requests_chain_and_refuse_circles(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    anna, bob, carl = [
        await factory.actor(name=n, time_zone="Australia/Sydney") for n in ("Anna", "Bob", "Carl")
    ]
    for person in (anna, bob, carl):
        await factory.member(c.team_id, person.id)
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="Australia/Sydney",
        layers=[weekly_layer([anna.id], start="2026-03-02", handoff_time="09:00")],
    )
    sid = schedule["id"]

    async def ask(who: Actor, start: str, end: str) -> int:
        asked = await client.post(
            f"/api/v1/schedules/{sid}/cover-requests",
            headers=who.headers,
            json={"start": start, "end": end},
        )
        assert asked.status_code == 201, asked.text
        return int(asked.json()["id"])

    async def accept(who: Actor, request_id: int) -> httpx.Response:
        return await client.post(f"/api/v1/cover-requests/{request_id}/accept", headers=who.headers)

    # Anna's Wednesday, 09:00-17:00 AEDT, is covered by bob.
    first = await accept(bob, await ask(anna, "2026-03-03T22:00:00Z", "2026-03-04T06:00:00Z"))
    assert first.status_code == 200, first.text
    # Bob, now on call through that cover, asks for the afternoon; anna cannot take it back.
    second = await ask(bob, "2026-03-04T02:00:00Z", "2026-03-04T06:00:00Z")
    back = await accept(anna, second)
    assert back.status_code == 409 and "circle" in back.json()["detail"]
    still = await client.get(f"/api/v1/cover-requests/{second}", headers=bob.headers)
    assert still.json()["state"] == "open", "nothing was written"

    taken = await accept(carl, second)
    assert taken.status_code == 200, taken.text
    answer = await _answer(client, c.viewer, sid, "2026-03-04T03:00:00Z")  # 14:00 AEDT
    assert [_chain(r)[:-1] for r in answer["responders"]] == [
        [
            ("override", taken.json()["override_id"], "Carl"),
            ("override", first.json()["override_id"], "Bob"),
        ]
    ]
    assert answer["responders"][0]["covering"][-1]["name"] == "Anna"
    assert answer["until"] == "2026-03-04T06:00:00Z"


async def test_until_is_the_next_hand_off_not_a_change_of_source(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    anna, bob = await factory.user(name="Anna"), await factory.user(name="Bob")
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="America/New_York",
        layers=[
            weekly_layer(
                [anna.id, bob.id],
                shift_unit="days",
                start="2026-03-07",
                handoff_time="09:00",
            )
        ],
    )
    sid = schedule["id"]
    # Saturday is anna's (09:00 EST to Sunday 09:00 EDT, 23 hours); she also covers the whole
    # schedule on Sunday morning until 12:00 EDT.
    whole = await _post_override(
        client, c.owner, sid, "2026-03-08T13:00:00Z", "2026-03-08T16:00:00Z", anna.id
    )
    assert whole.status_code == 201
    answer = await _answer(client, c.viewer, sid, "2026-03-08T01:00:00Z")  # Sat 20:00 EST
    assert [r["name"] for r in answer["responders"]] == ["Anna"]
    assert answer["since"] == answer["source_since"] == "2026-03-07T14:00:00Z"
    assert answer["source_until"] == "2026-03-08T13:00:00Z", "her layer shift ends"
    assert answer["until"] == "2026-03-08T16:00:00Z", "the hand-off is to bob, at noon"
    assert [r["name"] for r in answer["next_responders"]] == ["Bob"]


# ------------------------------------------------------------------------- override lengths


@pytest.mark.parametrize(
    ("start", "end", "replaces", "status"),
    [
        pytest.param("2026-03-03T00:00:00Z", "2027-03-04T00:00:00Z", True, 201, id="366-days"),
        pytest.param("2026-03-03T00:00:00Z", "2027-03-04T00:00:01Z", True, 422, id="too-long"),
        pytest.param("2026-03-03T00:00:00Z", "2028-03-03T00:00:00Z", False, 201, id="whole-731"),
        pytest.param("2026-03-03T00:00:00Z", "2028-03-04T00:00:00Z", False, 422, id="whole-732"),
        # A past start takes effect now (2 March 10:00), so only the rest counts.
        pytest.param("2025-01-01T00:00:00Z", "2027-03-03T10:00:00Z", True, 201, id="from-now"),
    ],
)
async def test_overrides_last_at_most_a_year_or_two_for_the_whole_schedule(
    client: httpx.AsyncClient, factory: Factory, start: str, end: str, replaces: bool, status: int
) -> None:
    c = await crew(factory)
    anna, bob = await factory.user(), await factory.user()
    schedule = await create_schedule(
        client, c.owner, c.team_id, time_zone="Europe/Berlin", layers=[weekly_layer([anna.id])]
    )
    response = await _post_override(
        client, c.owner, schedule["id"], start, end, bob.id, anna.id if replaces else None
    )
    assert response.status_code == status, response.text
    if status == 422:
        body = response.json()
        assert body["code"] == "invalid_input" and body["errors"][0]["loc"] == ["body", "end"]
        assert str(366 if replaces else 731) in body["detail"]


async def test_an_override_cannot_be_stretched_past_a_year(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    anna, bob = await factory.user(), await factory.user()
    schedule = await create_schedule(
        client, c.owner, c.team_id, time_zone="Australia/Sydney", layers=[weekly_layer([anna.id])]
    )
    url = f"/api/v1/schedules/{schedule['id']}/overrides"
    created = await _post_override(
        client, c.owner, schedule["id"], iso(clock.now()), "2026-12-01T00:00:00Z", bob.id, anna.id
    )
    assert created.status_code == 201
    override_url = f"{url}/{created.json()['id']}"
    longer = await client.patch(
        override_url, headers=c.owner.headers, json={"end": "2027-03-03T10:00:01Z"}
    )
    assert longer.status_code == 422 and ["body", "end"] in [
        e["loc"] for e in longer.json()["errors"]
    ]
    kept = await client.get(override_url, headers=c.viewer.headers)
    assert kept.json()["end"] == "2026-12-01T00:00:00Z"
    ok = await client.patch(
        override_url, headers=c.owner.headers, json={"end": "2027-03-03T10:00:00Z"}
    )
    assert ok.status_code == 200, ok.text
