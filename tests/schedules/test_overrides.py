"""Overrides: who they put on call, conflicts, and a past that stays as it was."""

from __future__ import annotations

import httpx

from app.core.clock import ManualClock
from tests.factories import Factory
from tests.schedules.helpers import create_schedule, crew, iso, on_call, utc, weekly_layer


async def test_overrides_win_within_their_range(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    a, b, x, y = [await factory.user() for _ in range(4)]
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        layers=[
            weekly_layer([a.id], name="primary", priority=1),
            weekly_layer([b.id], name="secondary", priority=1),
        ],
    )
    base = f"/api/v1/schedules/{schedule['id']}"
    assert sorted(await on_call(client, c.viewer, schedule["id"], clock.now())) == sorted(
        [a.id, b.id]
    ), "layers of equal priority are co-responders"

    whole = await client.post(
        f"{base}/overrides",
        headers=c.owner.headers,
        json={
            "start": "2026-03-03T00:00:00Z",
            "end": "2026-03-04T00:00:00Z",
            "user_id": x.id,
            "reason": "swap",
        },
    )
    assert whole.status_code == 201, whole.text
    assert whole.json()["created_by_id"] == c.owner.id
    only_a = await client.post(
        f"{base}/overrides",
        headers=c.owner.headers,
        json={
            "start": "2026-03-05T00:00:00Z",
            "end": "2026-03-06T00:00:00Z",
            "user_id": y.id,
            "replaces_user_id": a.id,
        },
    )
    assert only_a.status_code == 201, only_a.text
    assert await on_call(client, c.viewer, schedule["id"], utc(2026, 3, 3, 12)) == [x.id]
    assert sorted(await on_call(client, c.viewer, schedule["id"], utc(2026, 3, 5, 12))) == sorted(
        [b.id, y.id]
    )
    assert sorted(await on_call(client, c.viewer, schedule["id"], utc(2026, 3, 4))) == sorted(
        [a.id, b.id]
    ), "the end is exclusive"

    detail = await client.get(
        f"{base}/oncall", headers=c.viewer.headers, params={"at": iso(utc(2026, 3, 3, 12))}
    )
    (responder,) = detail.json()["responders"]
    assert responder["source_kind"] == "override"
    assert responder["source_id"] == whole.json()["id"]
    assert detail.json()["until"] == "2026-03-04T00:00:00Z"

    listed = await client.get(
        f"{base}/overrides",
        headers=c.viewer.headers,
        params={"start": "2026-03-04T12:00:00Z"},
    )
    assert [o["id"] for o in listed.json()["items"]] == [only_a.json()["id"]]


async def test_conflicting_overrides_are_refused_with_their_ids(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    c = await crew(factory)
    a, b, x, y = [await factory.user() for _ in range(4)]
    schedule = await create_schedule(
        client, c.owner, c.team_id, layers=[weekly_layer([a.id, b.id])]
    )
    url = f"/api/v1/schedules/{schedule['id']}/overrides"

    async def post(start: str, end: str, user: int, replaces: int | None = None) -> httpx.Response:
        body = {"start": start, "end": end, "user_id": user, "replaces_user_id": replaces}
        return await client.post(url, headers=c.owner.headers, json=body)

    first = await post("2026-03-10T00:00:00Z", "2026-03-12T00:00:00Z", x.id, a.id)
    second = await post("2026-03-11T00:00:00Z", "2026-03-13T00:00:00Z", y.id, b.id)
    assert first.status_code == second.status_code == 201, "different people replaced: fine"

    whole = await post("2026-03-11T12:00:00Z", "2026-03-11T13:00:00Z", y.id)
    assert whole.status_code == 409
    assert whole.json()["code"] == "conflict"
    assert whole.json()["conflicting_override_ids"] == [first.json()["id"], second.json()["id"]]

    same_person = await post("2026-03-09T00:00:00Z", "2026-03-10T00:00:01Z", y.id, a.id)
    assert same_person.status_code == 409
    assert same_person.json()["conflicting_override_ids"] == [first.json()["id"]]

    touching = await post("2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z", y.id, a.id)
    assert touching.status_code == 201, "touching ranges do not overlap"

    moved = await client.patch(
        f"{url}/{second.json()['id']}",
        headers=c.owner.headers,
        json={"replaces_user_id": a.id},
    )
    assert moved.status_code == 409
    assert moved.json()["conflicting_override_ids"] == [first.json()["id"]]


async def test_deleting_keeps_the_past(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    c = await crew(factory)
    a, x = await factory.user(), await factory.user()
    schedule = await create_schedule(client, c.owner, c.team_id, layers=[weekly_layer([a.id])])
    sid = schedule["id"]
    url = f"/api/v1/schedules/{sid}/overrides"
    started = await client.post(
        url,
        headers=c.owner.headers,
        json={"start": "2026-03-01T00:00:00Z", "end": "2026-03-03T00:00:00Z", "user_id": x.id},
    )
    assert started.status_code == 201
    assert started.json()["start"] == "2026-03-02T10:00:00Z", "a past start takes effect now"
    future = await client.post(
        url,
        headers=c.owner.headers,
        json={"start": "2026-03-04T00:00:00Z", "end": "2026-03-05T00:00:00Z", "user_id": x.id},
    )

    clock.advance(hours=2)  # 12:00: the first override is in force
    assert await on_call(client, c.viewer, sid, clock.now()) == [x.id]
    cannot_move = await client.patch(
        f"{url}/{started.json()['id']}", headers=c.owner.headers, json={"user_id": a.id}
    )
    assert cannot_move.status_code == 422
    longer = await client.patch(
        f"{url}/{started.json()['id']}",
        headers=c.owner.headers,
        json={"end": "2026-03-03T06:00:00Z", "reason": "longer"},
    )
    assert longer.status_code == 200 and longer.json()["end"] == "2026-03-03T06:00:00Z"

    assert (
        await client.delete(f"{url}/{started.json()['id']}", headers=c.owner.headers)
    ).status_code == 204
    kept = await client.get(f"{url}/{started.json()['id']}", headers=c.viewer.headers)
    assert kept.json()["end"] == "2026-03-02T12:00:00Z", "only its future is removed"
    assert await on_call(client, c.viewer, sid, utc(2026, 3, 2, 11)) == [x.id]
    assert await on_call(client, c.viewer, sid, clock.now()) == [a.id]

    assert (
        await client.delete(f"{url}/{future.json()['id']}", headers=c.owner.headers)
    ).status_code == 204
    assert (
        await client.get(f"{url}/{future.json()['id']}", headers=c.viewer.headers)
    ).status_code == 404

    again = await client.delete(f"{url}/{started.json()['id']}", headers=c.owner.headers)
    assert again.status_code == 409, "an override that is over cannot be deleted"
