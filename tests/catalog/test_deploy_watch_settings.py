"""A service's deploy watch settings through the API: defaults, changes, bad values refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.core.auth import Role
from tests.factories import Factory


async def _new_service(client: httpx.AsyncClient, factory: Factory, **fields: Any) -> Any:
    admin = await factory.actor(Role.ADMIN)
    team = await factory.team(name="payments")
    made = await client.post(
        "/api/v1/services",
        headers=admin.headers,
        json={"name": "payments-api", "team_id": team.id, **fields},
    )
    return admin, made


async def test_defaults_watch_every_environment_for_half_an_hour(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    _, made = await _new_service(client, factory)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["deploy_watch_minutes"] == 30
    assert body["deployer_notice"] == "notify"
    assert body["deploy_watch_environments"] == []


async def test_the_watch_is_set_and_changed(client: httpx.AsyncClient, factory: Factory) -> None:
    admin, made = await _new_service(
        client,
        factory,
        deploy_watch_minutes=0,
        deployer_notice="page",
        deploy_watch_environments=["production", " eu-prod ", "production"],
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["deploy_watch_minutes"], body["deployer_notice"]) == (0, "page")
    assert body["deploy_watch_environments"] == ["production", "eu-prod"]
    path = f"/api/v1/services/{body['id']}"

    changed = await client.patch(
        path, headers=admin.headers, json={"deploy_watch_minutes": 1440, "deployer_notice": "off"}
    )
    assert changed.status_code == 200, changed.text
    read = (await client.get(path, headers=admin.headers)).json()
    assert read["deploy_watch_minutes"] == 1440
    assert read["deployer_notice"] == "off"
    assert read["deploy_watch_environments"] == ["production", "eu-prod"]  # left out: kept

    cleared = await client.patch(
        path, headers=admin.headers, json={"deploy_watch_environments": []}
    )
    assert cleared.json()["deploy_watch_environments"] == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deploy_watch_minutes", -1),
        ("deploy_watch_minutes", 1441),
        ("deploy_watch_minutes", None),
        ("deployer_notice", "shout"),
        ("deployer_notice", None),
        ("deploy_watch_environments", [f"env{n}" for n in range(21)]),
        ("deploy_watch_environments", ["x" * 101]),
        ("deploy_watch_environments", ["prod\nstaging"]),
        ("deploy_watch_environments", [""]),
        ("deploy_watch_environments", "production"),
        ("deploy_watch_environments", None),
    ],
)
async def test_bad_watch_settings_are_refused(
    client: httpx.AsyncClient, factory: Factory, field: str, value: Any
) -> None:
    admin, made = await _new_service(client, factory)
    path = f"/api/v1/services/{made.json()['id']}"
    refused = await client.patch(path, headers=admin.headers, json={field: value})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "validation_error"
    assert field in refused.text
    if value is not None:
        created = await client.post(
            "/api/v1/services",
            headers=admin.headers,
            json={"name": "other", "team_id": made.json()["team_id"], field: value},
        )
        assert created.status_code == 422, created.text
