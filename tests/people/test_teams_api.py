from __future__ import annotations

import httpx

from app.core.auth import Role, TeamRole
from tests.factories import Factory


async def test_a_member_creates_a_team_and_manages_it(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    alice = await factory.actor(Role.MEMBER)
    bob = await factory.actor(Role.MEMBER)
    created = await client.post(
        "/api/v1/teams", headers=alice.headers, json={"name": "payments", "kind": "dev"}
    )
    assert created.status_code == 201, created.text
    team_id = created.json()["id"]

    detail = (await client.get(f"/api/v1/teams/{team_id}", headers=bob.headers)).json()
    assert detail["members"] == [{"user_id": alice.id, "team_id": team_id, "role": "manager"}]

    added = await client.post(
        f"/api/v1/teams/{team_id}/members", headers=alice.headers, json={"user_id": bob.id}
    )
    assert added.status_code == 201
    # Bob is a plain member: he cannot change membership or the team itself.
    carol = await factory.user()
    refused = await client.post(
        f"/api/v1/teams/{team_id}/members", headers=bob.headers, json={"user_id": carol.id}
    )
    assert refused.status_code == 403
    rename = await client.patch(
        f"/api/v1/teams/{team_id}", headers=bob.headers, json={"name": "mine"}
    )
    assert rename.status_code == 403
    # ...but he may leave.
    left = await client.delete(f"/api/v1/teams/{team_id}/members/{bob.id}", headers=bob.headers)
    assert left.status_code == 204

    promoted = await client.post(
        f"/api/v1/teams/{team_id}/members",
        headers=alice.headers,
        json={"user_id": carol.id, "role": "manager"},
    )
    assert promoted.json()["role"] == "manager"
    demoted = await client.patch(
        f"/api/v1/teams/{team_id}/members/{carol.id}",
        headers=alice.headers,
        json={"role": "member"},
    )
    assert demoted.json()["role"] == "member"


async def test_outsiders_cannot_touch_a_team_but_admins_can(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.actor(Role.ADMIN)
    outsider = await factory.actor(Role.MEMBER)
    team = await factory.team(name="sre")
    assert (
        await client.patch(
            f"/api/v1/teams/{team.id}", headers=outsider.headers, json={"description": "x"}
        )
    ).status_code == 403
    assert (
        await client.delete(f"/api/v1/teams/{team.id}", headers=outsider.headers)
    ).status_code == 403
    ok = await client.patch(
        f"/api/v1/teams/{team.id}", headers=admin.headers, json={"description": "Ops"}
    )
    assert ok.status_code == 200 and ok.json()["description"] == "Ops"
    assert (
        await client.delete(f"/api/v1/teams/{team.id}", headers=admin.headers)
    ).status_code == 204


async def test_team_filters_and_errors(client: httpx.AsyncClient, factory: Factory) -> None:
    admin = await factory.actor(Role.ADMIN)
    dev = await factory.team(name="payments", kind="dev")
    await factory.team(name="sre", kind="ops")
    user = await factory.user()
    await factory.member(dev.id, user.id, TeamRole.MEMBER)

    async def names(**params: object) -> list[str]:
        r = await client.get("/api/v1/teams", params=params, headers=admin.headers)
        return [t["name"] for t in r.json()["items"]]

    assert await names(kind="dev") == ["payments"]
    assert await names(member_id=user.id) == ["payments"]
    assert await names(q="SR") == ["sre"]

    duplicate = await client.post(
        "/api/v1/teams", headers=admin.headers, json={"name": "Payments", "kind": "ops"}
    )
    assert duplicate.status_code == 409
    bad_kind = await client.post(
        "/api/v1/teams", headers=admin.headers, json={"name": "qa", "kind": "qa"}
    )
    assert bad_kind.status_code == 422
    twice = await client.post(
        f"/api/v1/teams/{dev.id}/members", headers=admin.headers, json={"user_id": user.id}
    )
    assert twice.status_code == 409
    ghost = await client.post(
        f"/api/v1/teams/{dev.id}/members", headers=admin.headers, json={"user_id": 999}
    )
    assert ghost.status_code == 404
    assert (await client.get("/api/v1/teams/999", headers=admin.headers)).status_code == 404
    not_member = await client.delete(
        f"/api/v1/teams/{dev.id}/members/{admin.id}", headers=admin.headers
    )
    assert not_member.status_code == 404
