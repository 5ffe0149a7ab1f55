"""``GET /api/v1/audit``: admins only, newest first, filtered, in cursor pages."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.core.auth import Role
from app.core.clock import ManualClock
from tests.factories import Actor, Factory


async def _make_teams(client: httpx.AsyncClient, actor: Actor, names: list[str]) -> list[int]:
    ids = []
    for name in names:
        response = await client.post(
            "/api/v1/teams", headers=actor.headers, json={"name": name, "kind": "ops"}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


@pytest.mark.parametrize("role", [Role.MEMBER, Role.VIEWER])
async def test_only_admins_read_the_audit_log(
    client: httpx.AsyncClient, factory: Factory, role: Role
) -> None:
    someone = await factory.actor(role)
    response = await client.get("/api/v1/audit", headers=someone.headers)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert (await client.get("/api/v1/audit")).status_code == 401


async def test_filters_by_actor_entity_action_and_time(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> None:
    admin = await factory.actor(Role.ADMIN)
    member = await factory.actor(Role.MEMBER)
    first = clock.now()
    (sre,) = await _make_teams(client, admin, ["sre"])
    clock.advance(hours=1)
    (web,) = await _make_teams(client, member, ["web"])  # its creator becomes its manager
    renamed = await client.patch(
        f"/api/v1/teams/{web}", headers=member.headers, json={"name": "frontend"}
    )
    assert renamed.status_code == 200

    async def query(**params: object) -> list[dict]:
        response = await client.get("/api/v1/audit", headers=admin.headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    everything = await query()
    assert [(r["entity_type"], r["action"]) for r in everything] == [
        ("team", "updated"),
        ("membership", "created"),
        ("team", "created"),
        ("team", "created"),
    ], "newest first"
    assert everything[0]["before"] == {"name": "web"}
    assert everything[0]["after"] == {"name": "frontend"}

    by_member = await query(actor_user_id=member.id)
    assert {r["actor_user_id"] for r in by_member} == {member.id} and len(by_member) == 3
    assert all(r["actor_token_id"] is not None and r["actor_kind"] == "user" for r in by_member)
    assert [r["entity_id"] for r in await query(entity_type="team", entity_id=sre)] == [sre]
    assert [r["entity_type"] for r in await query(entity_type="membership")] == ["membership"]
    assert len(await query(action="updated")) == 1
    assert [
        r["entity_id"] for r in await query(until=(first + timedelta(minutes=1)).isoformat())
    ] == [sre]
    assert len(await query(since=(first + timedelta(minutes=1)).isoformat())) == 3
    assert await query(actor_kind="apply") == []


@pytest.mark.parametrize(
    "params",
    [
        {"entity_type": "incident"},
        {"actor_kind": "robot"},
        {"entity_id": "9223372036854775808"},
        {"since": "2026-03-02T10:00:00"},  # no offset: ambiguous
        {"until": "9999-12-31T23:59:59-23:00"},  # no such instant in UTC
        {"since": "0001-01-01T00:00:00+23:00"},
        {"cursor": "not-a-cursor"},
        {"limit": "0"},
    ],
)
async def test_bad_filters_are_422(
    client: httpx.AsyncClient, factory: Factory, params: dict[str, str]
) -> None:
    admin = await factory.actor(Role.ADMIN)
    response = await client.get("/api/v1/audit", headers=admin.headers, params=params)
    assert response.status_code == 422, response.text


async def test_pages_follow_the_cursor_without_repeats(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.actor(Role.ADMIN)
    await _make_teams(client, admin, [f"team-{i}" for i in range(7)])
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"limit": 3, "entity_type": "team"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/audit", headers=admin.headers, params=params)).json()
        seen += [r["id"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and len(seen) == 7
    assert seen == sorted(seen, reverse=True)
