"""The outbox and dispatcher: retries, unknown outcomes, fall-through, storms."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.core.auth import Role
from app.notify.console import ConsoleProvider
from app.people.models import ContactType
from tests.engine.conftest import Fire, Setup
from tests.engine.test_escalation import kinds
from tests.factories import Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import ConsoleInbox, Engine, add_contact, api


async def notifications(client: httpx.AsyncClient, setup: Setup, incident: int) -> list[dict]:
    return await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}/notifications")


async def test_temporary_failures_retry_with_backoff_then_deliver_once(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    webhook_receiver.fail(500, times=2, path="/alice")
    incident = await fire()
    await engine.tick()
    await engine.advance(seconds=5)
    await engine.advance(seconds=10)
    await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    [sent] = [
        n for n in await notifications(client, setup, incident) if n["user_id"] == setup.alice.id
    ]
    assert sent["status"] == "sent" and sent["attempts"] == 3
    assert (await kinds(client, setup, incident)).count("notification_retry") == 2


async def test_a_permanent_failure_falls_through_to_the_next_rule_at_once(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    await add_contact(
        client,
        setup.admin,
        setup.alice.id,
        "webhook",
        webhook_receiver.url_for("/alice-backup"),
        after_minutes=3,
    )
    webhook_receiver.fail(404, times=1, path="/alice")
    incident = await fire()
    await engine.tick()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice-backup")
    statuses = sorted(n["status"] for n in await notifications(client, setup, incident))
    assert statuses == ["failed", "sent"]
    timeline = await kinds(client, setup, incident)
    assert "notification_failed" in timeline and "notification_fallthrough" in timeline


async def test_ack_cancels_rules_that_have_not_fired(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    await add_contact(
        client,
        setup.admin,
        setup.alice.id,
        "webhook",
        webhook_receiver.url_for("/alice-phone"),
        after_minutes=2,
    )
    incident = await fire()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await api(client, setup.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    await engine.advance(minutes=10)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    statuses = sorted(n["status"] for n in await notifications(client, setup, incident))
    assert statuses == ["cancelled", "sent"]


async def test_each_rule_fires_once_per_page_even_after_downtime(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    await add_contact(
        client,
        setup.admin,
        setup.alice.id,
        "webhook",
        webhook_receiver.url_for("/alice-phone"),
        after_minutes=2,
    )
    await fire()
    # The engine was down for four minutes: on return both of Alice's rules are due once, and
    # Bob's step is not due yet.
    await engine.advance(minutes=4)
    await webhook_receiver.expect_event(path="/alice")
    await webhook_receiver.expect_event(path="/alice-phone")
    await engine.tick()
    await engine.drain()
    webhook_receiver.assert_nothing_sent()


async def test_an_alert_storm_becomes_a_summary_not_a_flood(
    client: httpx.AsyncClient, factory: Factory, engine: Engine, console: ConsoleProvider
) -> None:
    admin = await factory.actor(Role.ADMIN, email="admin@example.com")
    dora = await factory.actor(Role.MEMBER, name="Dora", email="dora@example.com")
    await factory.contact_method(dora.id, ContactType.SMS, "+15555550142")
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "db", "kind": "ops"})
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "db",
            "team_id": team["id"],
            "steps": [{"delay_minutes": 30, "targets": [{"kind": "user", "user_id": dora.id}]}],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={"name": "postgres", "team_id": team["id"], "escalation_policy_id": policy["id"]},
    )
    key = (
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/services/{service['id']}/integrations",
            json={"kind": "generic", "name": "storm"},
        )
    )["key"]
    for n in range(50):
        r = await client.post(
            "/api/v1/integrations/generic",
            headers={"Authorization": f"Bearer {key}"},
            json={"summary": f"replica {n} lagging"},
        )
        assert r.status_code == 202
    await engine.tick()

    inbox = ConsoleInbox(console)
    for n in range(3):
        inbox.expect("+15555550142", f"replica {n} lagging")
    summary = inbox.expect("+15555550142", "47 more pages need you")
    assert summary.kind == "summary"
    inbox.assert_no_unexpected()

    await engine.advance(minutes=10)
    inbox.assert_no_unexpected()
    # Once the window has room again, the next page goes out on its own.
    r = await client.post(
        "/api/v1/integrations/generic",
        headers={"Authorization": f"Bearer {key}"},
        json={"summary": "primary down"},
    )
    await engine.tick()
    inbox.expect("+15555550142", "primary down")
    inbox.assert_no_unexpected()
    page = await api(client, admin, "GET", "/api/v1/incidents", params={"limit": 60})
    assert len(page["items"]) == 51
    bundled = await api(
        client, admin, "GET", f"/api/v1/incidents/{page['items'][-10]['id']}/timeline"
    )
    assert "notification_bundled" in [e["kind"] for e in bundled]
    assert "notification_sent" in [e["kind"] for e in bundled], "the summary's send is recorded"


async def test_rate_limits_can_be_deferred_then_summarised(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    console: ConsoleProvider,
    factory: Factory,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    """Pages that arrive while a number's budget is spent wait, then go as one summary."""
    await setup.only_alice(client, delay_minutes=60)
    sms = await factory.contact_method(setup.alice.id, ContactType.SMS, "+15555550143")
    await api(
        client,
        setup.admin,
        "POST",
        f"/api/v1/users/{setup.alice.id}/notification-rules",
        json={"contact_method_id": sms.id, "delay_minutes": 0},
    )
    inbox = ConsoleInbox(console)
    for n in range(4):  # the whole budget of 4 per 5 minutes, one by one
        await fire(f"cpu hot {n}")
        await engine.advance(seconds=10)
        inbox.expect("+15555550143", f"cpu hot {n}")
    await fire("cpu hot 4")
    await fire("cpu hot 5")
    await engine.tick()
    inbox.assert_no_unexpected()
    # The first SMS left at +10s, so the window has room again at +5m10s.
    await engine.advance(timedelta(minutes=4, seconds=29))
    inbox.assert_no_unexpected()
    await engine.advance(seconds=1)
    inbox.expect("+15555550143", "2 more pages need you")
    inbox.assert_no_unexpected()
    assert len(webhook_receiver.consume_all("/alice")) == 6, "webhooks have their own budget"
