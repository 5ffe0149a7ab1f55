"""Alert in → page out → no ack → next step → ack back in → timeline checked."""

from __future__ import annotations

import httpx

from tests.engine.conftest import Setup
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, api, fixture_bytes

AM = "/api/v1/integrations/alertmanager"


async def post_alertmanager(client: httpx.AsyncClient, key: str, fixture: str) -> httpx.Response:
    return await client.post(
        AM,
        content=fixture_bytes(fixture),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


async def test_escalates_until_acknowledged(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    accepted = await post_alertmanager(client, setup.key, "alertmanager/firing.json")
    assert accepted.status_code == 200, accepted.text
    [incident_id] = accepted.json()["created_incidents"]

    await engine.tick()
    page = await webhook_receiver.expect_event("payments-api 5xx ratio above 5%", path="/alice")
    assert page.json["incident"]["incident_id"] == incident_id
    await engine.drain()
    webhook_receiver.assert_nothing_sent()

    await engine.advance(minutes=4, seconds=59)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    await engine.advance(seconds=1)
    await webhook_receiver.expect_event("payments-api", path="/bob")

    acked = await api(client, setup.bob, "POST", f"/api/v1/incidents/{incident_id}/acknowledge")
    assert acked["state"] == "acknowledged"
    again = await api(client, setup.bob, "POST", f"/api/v1/incidents/{incident_id}/acknowledge")
    assert again["acknowledged_at"] == acked["acknowledged_at"], "acknowledge is idempotent"

    await engine.advance(minutes=60)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()

    events = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}/timeline")
    kinds = [e["kind"] for e in events]
    assert kinds == [
        "opened",
        "escalated",
        "alert_triggered",
        "notification_sent",
        "escalated",
        "notification_sent",
        "acknowledged",
    ], kinds
    assert "Step 2 of 2 (no acknowledgement after 5 min): paged Bob" in events[4]["message"]
    ack = events[-1]
    assert ack["actor_user_id"] == setup.bob.id and ack["channel"] == "api"
