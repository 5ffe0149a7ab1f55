from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from tests.factories import Actor, Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, GenericSender, add_contact, api, integration

Fire = Callable[..., Awaitable[int]]


@pytest.fixture
def fire(client: httpx.AsyncClient, setup: Setup) -> Fire:
    """``await fire("summary", severity=...)`` triggers an alert on the setup's service."""
    return GenericSender(client, setup.admin, setup.service["id"]).fire


@pytest.fixture
def engine(app, db, clock) -> Engine:
    return Engine(app, db, clock)


@dataclass
class Setup:
    admin: Actor
    alice: Actor
    bob: Actor
    team: dict[str, Any]
    policy: dict[str, Any]
    service: dict[str, Any]
    key: str

    async def only_alice(self, client: httpx.AsyncClient, *, delay_minutes: int = 5) -> None:
        """The policy becomes one step, Alice alone: after her, nobody."""
        await api(
            client,
            self.admin,
            "PATCH",
            f"/api/v1/escalation-policies/{self.policy['id']}",
            json={
                "steps": [
                    {
                        "delay_minutes": delay_minutes,
                        "targets": [{"kind": "user", "user_id": self.alice.id}],
                    }
                ]
            },
        )


@pytest.fixture
async def setup(
    client: httpx.AsyncClient, factory: Factory, webhook_receiver: WebhookReceiver
) -> Setup:
    """Alice then Bob (after 5 minutes) for payments-api; both carry a webhook pager."""
    admin = await factory.actor(Role.ADMIN, email="admin@example.com")
    alice = await factory.actor(Role.MEMBER, name="Alice", email="alice@example.com")
    bob = await factory.actor(Role.MEMBER, name="Bob", email="bob@example.com")
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    for user in (alice, bob):
        await api(
            client, admin, "POST", f"/api/v1/teams/{team['id']}/members", json={"user_id": user.id}
        )
    await add_contact(client, admin, alice.id, "webhook", webhook_receiver.url_for("/alice"))
    await add_contact(client, admin, bob.id, "webhook", webhook_receiver.url_for("/bob"))
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "payments",
            "team_id": team["id"],
            "steps": [
                {"delay_minutes": 5, "targets": [{"kind": "user", "user_id": alice.id}]},
                {"delay_minutes": 10, "targets": [{"kind": "user", "user_id": bob.id}]},
            ],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={
            "name": "payments-api",
            "team_id": team["id"],
            "escalation_policy_id": policy["id"],
            "runbook_url": "https://runbooks.example.internal/payments-api",
        },
    )
    created = await integration(client, admin, service["id"])
    return Setup(admin, alice, bob, team, policy, service, created["key"])
