"""An escalation that runs out with nobody acknowledging is not a silent dead end."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from app.notify.console import ConsoleProvider
from tests.engine.conftest import Fire, Setup
from tests.engine.test_escalation import kinds
from tests.fakes.webhook import WebhookReceiver
from tests.paging import ConsoleInbox, Engine, add_contact, api


def _exhausted_count() -> float:
    return REGISTRY.get_sample_value("baton_escalations_exhausted_total") or 0.0


async def test_managers_and_the_fallback_are_told_once(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    console: ConsoleProvider,
    fire: Fire,
) -> None:
    team = setup.team["id"]
    await api(
        client,
        setup.admin,
        "PATCH",
        f"/api/v1/teams/{team}/members/{setup.bob.id}",
        json={"role": "manager"},
    )
    await add_contact(
        client, setup.admin, setup.bob.id, "email", "bob@example.com", after_minutes=None
    )
    await setup.only_alice(client)
    await api(
        client,
        setup.admin,
        "PATCH",
        f"/api/v1/services/{setup.service['id']}",
        json={"fallback_email": "Incident-Leads@example.com"},
    )
    inbox = ConsoleInbox(console)
    before = _exhausted_count()
    incident = await fire("checkout down")
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await engine.advance(minutes=5)
    told = [
        inbox.expect("bob@example.com", "[UNACKNOWLEDGED]"),
        inbox.expect("incident-leads@example.com", "[UNACKNOWLEDGED]"),
    ]
    assert all(f"#{incident}" in m.subject and "checkout down" in m.subject for m in told)
    assert _exhausted_count() == before + 1
    await engine.advance(minutes=30)
    inbox.assert_no_unexpected()
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    assert (await kinds(client, setup, incident)).count("escalation_exhausted") == 1
    assert _exhausted_count() == before + 1


async def test_the_global_fallback_serves_services_without_their_own(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    console: ConsoleProvider,
    db,
    fire: Fire,
) -> None:
    from app.core.db import EscalationFallback

    db.escalation_fallback = EscalationFallback(email="noc@example.com")
    await setup.only_alice(client)
    inbox = ConsoleInbox(console)
    await fire()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await engine.advance(minutes=5)
    inbox.expect("noc@example.com", "[UNACKNOWLEDGED]")
    inbox.assert_no_unexpected()
