from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.factories import Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, GenericSender, add_contact, api
from tests.worlds import PaymentsWorld, build_payments_world

Fire = Callable[..., Awaitable[int]]


@pytest.fixture
def fire(client: httpx.AsyncClient, setup: Setup) -> Fire:
    """``await fire("summary", severity=...)`` triggers an alert on the setup's service."""
    return GenericSender(client, setup.admin, setup.service["id"]).fire


@pytest.fixture
def engine(app, db, clock) -> Engine:
    return Engine(app, db, clock)


class Setup(PaymentsWorld):
    """The payments-api world: Alice then Bob (after 5 minutes), both with a webhook pager;
    alerts come in through Alertmanager (``key``) or the ``fire`` fixture."""

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
    world = await build_payments_world(
        client, factory, integration_kind="alertmanager", integration_name="alertmanager test"
    )
    for name, user in world.members.items():
        pager = webhook_receiver.url_for(f"/{name.lower()}")
        await add_contact(client, world.admin, user.id, "webhook", pager)
    return Setup(**world.parts())
