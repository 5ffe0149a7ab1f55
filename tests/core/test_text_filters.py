"""``q`` filters match what was typed: LIKE's ``%`` and ``_`` (and the escape) are literal."""

from __future__ import annotations

import httpx
import pytest

from app.core.auth import Role
from tests.factories import Actor, Factory


@pytest.fixture
async def admin(factory: Factory) -> Actor:
    return await factory.actor(Role.ADMIN, name="Ada Admin", email="ada@example.com")


async def _names(client: httpx.AsyncClient, admin: Actor, path: str, q: str) -> list[str]:
    answer = await client.get(path, headers=admin.headers, params={"q": q, "limit": 100})
    assert answer.status_code == 200, answer.text
    return sorted(item["name"] for item in answer.json()["items"])


async def _create(client: httpx.AsyncClient, admin: Actor, path: str, body: dict) -> None:
    answer = await client.post(path, headers=admin.headers, json=body)
    assert answer.status_code == 201, answer.text


async def test_user_search_takes_percent_underscore_and_backslash_literally(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    for n, name in enumerate(["Club 100% Sure", "Club 1000 Sure", "ops_lead", "opsXlead"]):
        await _create(client, admin, "/api/v1/users", {"name": name, "email": f"u{n}@example.com"})
    await _create(client, admin, "/api/v1/users", {"name": "back\\slash", "email": "b@x.org"})
    await _create(client, admin, "/api/v1/users", {"name": "backslash", "email": "c@x.org"})

    assert await _names(client, admin, "/api/v1/users", "100%") == ["Club 100% Sure"]
    assert await _names(client, admin, "/api/v1/users", "s_l") == ["ops_lead"]
    assert await _names(client, admin, "/api/v1/users", "k\\s") == ["back\\slash"]
    assert await _names(client, admin, "/api/v1/users", "%") == ["Club 100% Sure"]
    # Ordinary searches still work, case-insensitively, on names and e-mail addresses.
    assert await _names(client, admin, "/api/v1/users", "CLUB") == [
        "Club 100% Sure",
        "Club 1000 Sure",
    ]
    assert await _names(client, admin, "/api/v1/users", "@x.org") == ["back\\slash", "backslash"]


async def test_team_service_and_schedule_search_take_underscore_literally(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    for name in ("ops_core", "opsXcore"):
        await _create(client, admin, "/api/v1/teams", {"name": name, "kind": "ops"})
    teams = (await client.get("/api/v1/teams", headers=admin.headers)).json()["items"]
    team_id = teams[0]["id"]
    for name in ("pay_api", "payXapi"):
        await _create(client, admin, "/api/v1/services", {"name": name, "team_id": team_id})
    for name in ("night_shift", "nightXshift"):
        await _create(client, admin, "/api/v1/schedules", {"name": name, "team_id": team_id})

    assert await _names(client, admin, "/api/v1/teams", "s_c") == ["ops_core"]
    assert await _names(client, admin, "/api/v1/services", "y_a") == ["pay_api"]
    assert await _names(client, admin, "/api/v1/schedules", "t_s") == ["night_shift"]
    assert await _names(client, admin, "/api/v1/schedules", "NIGHT") == [
        "nightXshift",
        "night_shift",
    ]
