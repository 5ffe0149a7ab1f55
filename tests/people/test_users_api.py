from __future__ import annotations

import httpx
import pytest

from app.core.auth import Role
from tests.factories import Actor, Factory


@pytest.fixture
async def admin(factory: Factory) -> Actor:
    return await factory.actor(Role.ADMIN, name="Ada Admin", email="ada@example.com")


async def test_admin_creates_reads_updates_and_deletes_a_user(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    created = await client.post(
        "/api/v1/users",
        headers=admin.headers,
        json={"name": " Bob Okafor ", "email": "Bob@Example.com", "time_zone": "America/New_York"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Bob Okafor"
    assert body["email"] == "bob@example.com"
    assert body["role"] == "member"

    fetched = await client.get(f"/api/v1/users/{body['id']}", headers=admin.headers)
    assert fetched.json() == body

    patched = await client.patch(
        f"/api/v1/users/{body['id']}", headers=admin.headers, json={"time_zone": "Europe/Berlin"}
    )
    assert patched.status_code == 200
    assert patched.json()["time_zone"] == "Europe/Berlin"

    deleted = await client.delete(f"/api/v1/users/{body['id']}", headers=admin.headers)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/v1/users/{body['id']}", headers=admin.headers)
    assert gone.status_code == 404
    assert gone.json() == {"code": "not_found", "detail": f"user {body['id']} not found"}


async def test_list_filters_and_pagination(
    client: httpx.AsyncClient, admin: Actor, factory: Factory
) -> None:
    team = await factory.team(name="payments")
    people = [await factory.user(name=f"Person {i}", email=f"p{i}@example.com") for i in range(7)]
    await factory.member(team.id, people[2].id)
    await factory.member(team.id, people[5].id)

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/api/v1/users", params=params, headers=admin.headers)).json()
        seen += [u["email"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["ada@example.com"] + [f"p{i}@example.com" for i in range(7)]

    async def emails(**params: object) -> list[str]:
        r = await client.get("/api/v1/users", params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        return [u["email"] for u in r.json()["items"]]

    assert await emails(team_id=team.id) == ["p2@example.com", "p5@example.com"]
    assert await emails(q="person 3") == ["p3@example.com"]
    assert await emails(email="P4@example.com") == ["p4@example.com"]
    assert await emails(role="admin") == ["ada@example.com"]

    bad_cursor = await client.get("/api/v1/users?cursor=zzz", headers=admin.headers)
    assert bad_cursor.status_code == 422
    too_many = await client.get("/api/v1/users?limit=501", headers=admin.headers)
    assert too_many.status_code == 422


async def test_me(client: httpx.AsyncClient, admin: Actor) -> None:
    me = await client.get("/api/v1/users/me", headers=admin.headers)
    assert me.json()["email"] == "ada@example.com"


async def test_members_change_only_their_own_profile(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    alice = await factory.actor(Role.MEMBER)
    bob = await factory.actor(Role.MEMBER)
    own = await client.patch(
        f"/api/v1/users/{alice.id}", headers=alice.headers, json={"name": "Alice N."}
    )
    assert own.status_code == 200
    other = await client.patch(
        f"/api/v1/users/{bob.id}", headers=alice.headers, json={"name": "Hacked"}
    )
    assert other.status_code == 403
    promote = await client.patch(
        f"/api/v1/users/{alice.id}", headers=alice.headers, json={"role": "admin"}
    )
    assert promote.status_code == 403
    assert (await client.get(f"/api/v1/users/{alice.id}", headers=alice.headers)).json()[
        "role"
    ] == "member"
    create = await client.post(
        "/api/v1/users", headers=alice.headers, json={"name": "X", "email": "x@example.com"}
    )
    assert create.status_code == 403


async def test_the_last_admin_cannot_be_demoted_or_deleted(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    demote = await client.patch(
        f"/api/v1/users/{admin.id}", headers=admin.headers, json={"role": "member"}
    )
    assert demote.status_code == 409
    delete = await client.delete(f"/api/v1/users/{admin.id}", headers=admin.headers)
    assert delete.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "email": "a@example.com", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "   ", "email": "a@example.com"}, "name"),
        ({"name": "A", "email": "a@example.com", "role": "god"}, "role"),
        ({"name": "A", "email": "a@example.com", "nickname": "x"}, "nickname"),
        ({"email": "a@example.com"}, "name"),
    ],
)
async def test_bad_user_input_is_a_422_with_the_field(
    client: httpx.AsyncClient, admin: Actor, body: dict[str, object], field: str
) -> None:
    response = await client.post("/api/v1/users", headers=admin.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()
    assert error["code"] == "validation_error"
    assert any(e["loc"][-1] == field for e in error["errors"]), error
    listed = await client.get("/api/v1/users", headers=admin.headers)
    assert len(listed.json()["items"]) == 1, "nothing was written"


async def test_duplicate_email_is_409_even_with_other_case(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    first = await client.post(
        "/api/v1/users", headers=admin.headers, json={"name": "B", "email": "b@example.com"}
    )
    assert first.status_code == 201
    again = await client.post(
        "/api/v1/users", headers=admin.headers, json={"name": "B2", "email": "B@EXAMPLE.com"}
    )
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    clash = await client.patch(
        f"/api/v1/users/{admin.id}", headers=admin.headers, json={"email": "b@example.com"}
    )
    assert clash.status_code == 409


async def test_null_for_a_required_field_is_refused(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    response = await client.patch(
        f"/api/v1/users/{admin.id}", headers=admin.headers, json={"name": None}
    )
    assert response.status_code == 422
