"""Schedules, layers, participants, shadows and restrictions through the API, with rights."""

from __future__ import annotations

import httpx
import pytest

from app.core.clock import ManualClock
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, on_call, utc, weekly_layer


async def test_crud_round_trip(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    alice, bob = await factory.user(), await factory.user()
    created = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="Europe/Berlin",
        layers=[weekly_layer([alice.id, bob.id], shadows=[c.owner.id], handoff_time="10:00")],
    )
    assert created["revision"] > 1
    (layer,) = created["layers"]
    assert layer["participants"] == [alice.id, bob.id]
    assert layer["shadows"] == [c.owner.id]
    assert layer["shift_length"] == 7 and layer["shift_unit"] == "days"
    assert layer["handoff_time"] == "10:00"
    assert layer["anchor"] == "2026-01-05T09:00:00Z"  # 10:00 in Berlin

    listed = await client.get("/api/v1/schedules", headers=c.viewer.headers)
    assert [s["name"] for s in listed.json()["items"]] == ["payments"]
    got = await client.get(f"/api/v1/schedules/{created['id']}", headers=c.viewer.headers)
    assert got.json()["layers"][0]["id"] == layer["id"]

    renamed = await client.patch(
        f"/api/v1/schedules/{created['id']}",
        headers=c.owner.headers,
        json={"name": "payments-primary", "description": "Payments API"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["revision"] > created["revision"]

    second = await client.post(
        f"/api/v1/schedules/{created['id']}/layers",
        headers=c.owner.headers,
        json={"name": "backstop", "participants": [c.owner.id], "shift_unit": "days"},
    )
    assert second.status_code == 201, second.text
    assert second.json()["priority"] == layer["priority"] + 1, "new layers go on top"

    deleted = await client.delete(f"/api/v1/schedules/{created['id']}", headers=c.owner.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/schedules/{created['id']}", headers=c.owner.headers)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_rights(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[weekly_layer([c.owner.id])]
    )
    path = f"/api/v1/schedules/{schedule['id']}"
    layer_path = f"{path}/layers/{schedule['layers'][0]['id']}"
    writes = [
        ("PATCH", path, {"description": "x"}),
        ("POST", f"{path}/layers", weekly_layer([c.owner.id], name="other")),
        ("PATCH", layer_path, {"name": "renamed"}),
        ("PUT", f"{layer_path}/participants", {"participants": [c.owner.id]}),
        ("POST", f"{layer_path}/shadows", {"user_id": c.viewer.id}),
        (
            "POST",
            f"{path}/overrides",
            {
                "start": "2026-03-03T00:00:00Z",
                "end": "2026-03-04T00:00:00Z",
                "user_id": c.owner.id,
            },
        ),
        ("DELETE", layer_path, None),
    ]
    for actor, expected in ((c.viewer, 403), (c.outsider, 403)):
        for method, url, body in writes:
            response = await client.request(method, url, headers=actor.headers, json=body)
            assert response.status_code == expected, (method, url, response.text)
            assert response.json()["code"] == "forbidden"
    # Creating a schedule for a team you are not in is refused too.
    refused = await client.post(
        "/api/v1/schedules",
        headers=c.outsider.headers,
        json={"name": "mine", "team_id": c.team_id},
    )
    assert refused.status_code == 403
    # Everyone may read; admins may change anything.
    assert (await client.get(f"{path}/oncall", headers=c.viewer.headers)).status_code == 200
    for method, url, body in writes:
        response = await client.request(method, url, headers=c.admin.headers, json=body)
        assert response.status_code in (200, 201, 204), (method, url, response.text)


async def test_a_team_change_needs_rights_on_both_teams(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    other = await factory.team()
    schedule = await create_schedule(client, c.owner, c.team_id)
    moved = await client.patch(
        f"/api/v1/schedules/{schedule['id']}", headers=c.owner.headers, json={"team_id": other.id}
    )
    assert moved.status_code == 403
    await factory.member(other.id, c.owner.id)
    moved = await client.patch(
        f"/api/v1/schedules/{schedule['id']}", headers=c.owner.headers, json={"team_id": other.id}
    )
    assert moved.status_code == 200 and moved.json()["team_id"] == other.id


async def test_names_are_unique_ignoring_case(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    await create_schedule(client, c.owner, c.team_id, name="Payments")
    again = await client.post(
        "/api/v1/schedules",
        headers=c.owner.headers,
        json={"name": "payments", "team_id": c.team_id},
    )
    assert again.status_code == 409 and again.json()["code"] == "conflict"


async def test_sub_resources(client: httpx.AsyncClient, factory: Factory) -> None:
    c = await crew(factory)
    a, b, d = await factory.user(), await factory.user(), await factory.user()
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[weekly_layer([a.id, b.id])]
    )
    base = f"/api/v1/schedules/{schedule['id']}/layers/{schedule['layers'][0]['id']}"
    h = c.owner.headers

    added = await client.post(f"{base}/participants", headers=h, json={"user_id": d.id})
    assert added.json()["participants"] == [a.id, b.id, d.id]
    first = await client.post(
        f"{base}/participants", headers=h, json={"user_id": d.id, "position": 0}
    )
    assert first.json()["participants"] == [d.id, a.id, b.id, d.id], "a user may repeat"
    removed = await client.delete(f"{base}/participants/{d.id}", headers=h)
    assert removed.json()["participants"] == [a.id, b.id]
    missing = await client.delete(f"{base}/participants/{d.id}", headers=h)
    assert missing.status_code == 404

    shadowed = await client.post(f"{base}/shadows", headers=h, json={"user_id": d.id})
    assert shadowed.json()["shadows"] == [d.id]
    twice = await client.post(f"{base}/shadows", headers=h, json={"user_id": d.id})
    assert twice.status_code == 409
    assert (await client.put(f"{base}/shadows", headers=h, json={"shadows": []})).json()[
        "shadows"
    ] == []

    window = {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}
    night = {"weekdays": [1, 2, 3, 4, 5], "start": "17:00", "end": "09:00"}
    with_window = await client.post(f"{base}/restrictions", headers=h, json=window)
    assert with_window.json()["restrictions"] == [
        {"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}
    ]
    replaced = await client.put(f"{base}/restrictions", headers=h, json={"restrictions": [night]})
    assert replaced.json()["restrictions"][0]["start"] == "17:00"
    listed = await client.get(f"{base}/restrictions", headers=c.viewer.headers)
    assert len(listed.json()) == 1
    cleared = await client.delete(f"{base}/restrictions/0", headers=h)
    assert cleared.json()["restrictions"] == []
    assert (await client.delete(f"{base}/restrictions/0", headers=h)).status_code == 404

    last = await client.put(f"{base}/participants", headers=h, json={"participants": [a.id]})
    assert last.status_code == 200
    only = await client.delete(f"{base}/participants/{a.id}", headers=h)
    assert only.status_code == 422, "a rotation keeps at least one participant"


async def test_editing_a_layer_keeps_history(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    """Who was on call yesterday does not change when the rotation is edited today."""
    c = await crew(factory)
    a, b, d = await factory.user(), await factory.user(), await factory.user()
    clock.set(utc(2026, 1, 1))
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        layers=[
            {
                "name": "daily",
                "participants": [a.id, b.id],
                "shift_unit": "days",
                "start": "2026-01-05T09:00:00Z",
            }
        ],
    )
    sid, lid = schedule["id"], schedule["layers"][0]["id"]
    clock.set(utc(2026, 3, 2, 12))  # a is on call (day 56 since 5 Jan: even)
    yesterday = utc(2026, 3, 1, 12)
    before = [await on_call(client, c.viewer, sid, utc(2026, 3, 1, h)) for h in range(0, 24, 3)]
    assert await on_call(client, c.viewer, sid, clock.now()) == [a.id]

    edited = await client.patch(
        f"/api/v1/schedules/{sid}/layers/{lid}",
        headers=c.owner.headers,
        json={"participants": [d.id, b.id], "shift_unit": "hours", "shift_length": 12},
    )
    assert edited.status_code == 200, edited.text
    after = [await on_call(client, c.viewer, sid, utc(2026, 3, 1, h)) for h in range(0, 24, 3)]
    assert after == before
    assert await on_call(client, c.viewer, sid, yesterday) == [b.id]
    # From now on: 12-hour shifts counted from the anchor, so shift 112 (d) is on.
    assert await on_call(client, c.viewer, sid, clock.now()) == [d.id]
    assert await on_call(client, c.viewer, sid, utc(2026, 3, 2, 21)) == [b.id]

    versions = await client.get(
        f"/api/v1/schedules/{sid}/layers/{lid}/versions", headers=c.viewer.headers
    )
    first, second = versions.json()
    assert first["valid_until"] == second["valid_from"] == "2026-03-02T12:00:00Z"
    assert first["participants"] == [a.id, b.id] and second["participants"] == [d.id, b.id]

    # Deleting the layer keeps its past too.
    clock.advance(hours=1)
    assert (
        await client.delete(f"/api/v1/schedules/{sid}/layers/{lid}", headers=c.owner.headers)
    ).status_code == 204
    assert await on_call(client, c.viewer, sid, yesterday) == [b.id]
    assert await on_call(client, c.viewer, sid, clock.now()) == []
    detail = await client.get(f"/api/v1/schedules/{sid}", headers=c.viewer.headers)
    assert detail.json()["layers"] == []


async def test_edits_before_the_start_replace_the_version(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    a, b = await factory.user(), await factory.user()
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        layers=[weekly_layer([a.id], start="2027-01-04T09:00:00Z")],
    )
    sid, lid = schedule["id"], schedule["layers"][0]["id"]
    await client.patch(
        f"/api/v1/schedules/{sid}/layers/{lid}", headers=c.owner.headers, json={"shadows": [b.id]}
    )
    versions = await client.get(
        f"/api/v1/schedules/{sid}/layers/{lid}/versions", headers=c.owner.headers
    )
    assert len(versions.json()) == 1, "nothing was in force yet, so there is no history to keep"


@pytest.mark.parametrize("keep_current", [True, False])
async def test_reorder_keeps_the_current_responder(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock, keep_current: bool
) -> None:
    c = await crew(factory)
    a, b, d = await factory.user(), await factory.user(), await factory.user()
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        time_zone="America/New_York",
        layers=[
            {
                "name": "weekly",
                "participants": [a.id, b.id, d.id],
                "shift_unit": "weeks",
                "start": "2026-01-05",
                "handoff_time": "09:00",
            }
        ],
    )
    sid, lid = schedule["id"], schedule["layers"][0]["id"]
    clock.set(utc(2026, 3, 4, 12))  # week 8 since 5 Jan: 8 % 3 == 2 -> d
    assert await on_call(client, c.viewer, sid, clock.now()) == [d.id]
    reordered = await client.put(
        f"/api/v1/schedules/{sid}/layers/{lid}/participants",
        headers=c.owner.headers,
        json={"participants": [d.id, b.id, a.id], "keep_current": keep_current},
    )
    assert reordered.status_code == 200, reordered.text
    now_on = await on_call(client, c.viewer, sid, clock.now())
    # Monday 9 March 09:00 New York (EDT since 8 March) is 13:00 UTC.
    assert await on_call(client, c.viewer, sid, utc(2026, 3, 9, 12, 30)) == now_on
    next_week = await on_call(client, c.viewer, sid, utc(2026, 3, 9, 13, 30))
    if keep_current:
        assert now_on == [d.id]
        assert next_week == [b.id], "the new order continues after the current responder"
    else:
        # The new order counts from the rotation's start: week 8 is position 2, week 9 is 0.
        assert now_on == [a.id]
        assert next_week == [d.id]
