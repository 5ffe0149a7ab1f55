"""Deleting a service: refused once it has incidents (their history is kept), through the API
and by ``baton apply --prune``."""

from __future__ import annotations

import httpx

from app.core.auth import Role
from app.core.db import Database
from app.core.declarative import Action
from app.declarative.apply import apply_config, parse_config
from tests.factories import Factory
from tests.worlds import build_payments_world


async def test_a_service_with_an_incident_is_not_deleted(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    world = await build_payments_world(client, factory)
    await world.fire()
    path = f"/api/v1/services/{world.service['id']}"
    refused = await client.delete(path, headers=world.admin.headers)
    assert refused.status_code == 409
    assert "payments-api has 1 incidents" in refused.json()["detail"]
    assert (await client.get(path, headers=world.admin.headers)).status_code == 200


async def test_a_service_without_incidents_is_deleted(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    world = await build_payments_world(client, factory)
    path = f"/api/v1/services/{world.service['id']}"
    assert (await client.delete(path, headers=world.admin.headers)).status_code == 204
    assert (await client.get(path, headers=world.admin.headers)).status_code == 404


CONFIG = """
users:
  - {email: ada@example.com, name: Ada}
teams:
  - {name: payments, kind: dev, members: [ada@example.com]}
services:
  - {name: checkout, team: payments}
  - {name: ledger, team: payments}
"""


async def test_prune_keeps_a_stale_service_that_has_incidents(
    db: Database, client: httpx.AsyncClient, factory: Factory
) -> None:
    async with db.transaction() as session:
        await apply_config(session, parse_config(CONFIG))
    admin = await factory.actor(Role.ADMIN, email="admin@example.com")
    services = (await client.get("/api/v1/services", headers=admin.headers)).json()["items"]
    ledger = next(s for s in services if s["name"] == "ledger")
    integration = await client.post(
        f"/api/v1/services/{ledger['id']}/integrations",
        headers=admin.headers,
        json={"kind": "generic", "name": "scripts"},
    )
    assert integration.status_code == 201, integration.text
    fired = await client.post(
        "/api/v1/integrations/generic",
        json={"summary": "ledger lag"},
        headers={"Authorization": f"Bearer {integration.json()['key']}"},
    )
    assert fired.status_code == 202, fired.text

    without_either = CONFIG.split("services:")[0] + "services: []\n"
    async with db.transaction() as session:
        report = await apply_config(session, parse_config(without_either), prune=True)
    services = {(c.action, c.key, c.fields) for c in report.changes if c.kind == "service"}
    assert services == {
        (Action.DELETE, "checkout", ()),
        (Action.STALE, "ledger", ("has incidents, kept",)),
    }
