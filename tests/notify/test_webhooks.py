"""Outgoing webhooks: signed page events and one signed event per incident change."""

from __future__ import annotations

import httpx

from app.core.auth import Role
from app.notify.webhook import sign
from tests.fakes.webhook import WebhookReceiver, WebhookRecord
from tests.notify.conftest import Oncall
from tests.paging import Engine, api


def verified(record: WebhookRecord, key: str) -> bool:
    timestamp = record.header("X-Baton-Timestamp") or ""
    return record.header("X-Baton-Signature") == sign(key, timestamp, record.body)


async def test_an_escalation_target_webhook_gets_every_change_signed(
    oncall: Oncall, webhook_receiver: WebhookReceiver, engine: Engine, app
) -> None:
    url = webhook_receiver.url_for("/ops-bridge")
    await api(
        oncall.client,
        oncall.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{oncall.policy['id']}",
        json={
            "steps": [
                {
                    "delay_minutes": 5,
                    "targets": [
                        {"kind": "webhook", "address": url},
                        {"kind": "user", "user_id": oncall.alice.id},
                    ],
                }
            ]
        },
    )
    incident = await oncall.fire("checkout down")
    await engine.tick()
    page = await webhook_receiver.expect_event(path="/ops-bridge", match={"event": "incident.page"})
    assert page.json["incident"]["incident_id"] == incident

    base = f"/api/v1/incidents/{incident}"
    await api(oncall.client, oncall.alice, "POST", f"{base}/acknowledge")
    await api(oncall.client, oncall.alice, "POST", f"{base}/notes", json={"text": "rolling back"})
    await api(oncall.client, oncall.alice, "POST", f"{base}/resolve")
    await engine.tick()
    events = [
        await webhook_receiver.expect_event(path="/ops-bridge", match={"event": name})
        for name in ("incident.acknowledged", "incident.note", "incident.resolved")
    ]
    assert events[0].json["incident"]["state"] == "acknowledged"
    assert events[0].json["text"] == "Acknowledged by Alice via api"
    assert events[0].json["incident"]["actor_user_id"] == oncall.alice.id
    assert events[2].json["incident"]["state"] == "resolved"
    key = await api(
        oncall.client,
        oncall.admin,
        "POST",
        f"/api/v1/escalation-policies/{oncall.policy['id']}/webhook-key",
        json={"address": url},
    )
    assert all(verified(e, key["signing_key"]) for e in [page, *events])
    assert {e.header("X-Baton-Key-Id") for e in [page, *events]} == {key["key_id"]}
    assert len({e.header("X-Baton-Delivery") for e in [page, *events]}) == 4
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    # Status updates do not crowd the incident's timeline.
    kinds = [e["kind"] for e in await oncall.timeline(incident)]
    assert kinds.count("notification_sent") == 1


async def test_a_personal_webhook_gets_changes_only_when_subscribed(
    oncall: Oncall, webhook_receiver: WebhookReceiver, engine: Engine, client: httpx.AsyncClient
) -> None:
    method = await oncall.contact(oncall.alice, "webhook", webhook_receiver.url_for("/alice"))
    path = f"/api/v1/users/{oncall.alice.id}/contact-methods/{method['id']}/status-updates"
    assert (await api(client, oncall.alice, "GET", path))["enabled"] is False
    first = await oncall.fire("first")
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice", match={"event": "incident.page"})
    await api(client, oncall.alice, "POST", f"/api/v1/incidents/{first}/acknowledge")
    await engine.tick()
    await engine.drain()
    webhook_receiver.assert_nothing_sent()

    await api(client, oncall.alice, "PUT", path, json={"enabled": True})
    assert (await api(client, oncall.bob, "GET", path))["enabled"] is True
    refused = await client.put(path, json={"enabled": False}, headers=oncall.bob.headers)
    assert refused.status_code == 403
    await api(client, oncall.alice, "POST", f"/api/v1/incidents/{first}/resolve")
    await engine.tick()
    event = await webhook_receiver.expect_event(path="/alice", match={"event": "incident.resolved"})
    assert event.json["incident"]["incident_id"] == first


async def test_the_owner_reads_the_signing_key_and_it_verifies(
    oncall: Oncall,
    webhook_receiver: WebhookReceiver,
    engine: Engine,
    client: httpx.AsyncClient,
    factory,
) -> None:
    method = await oncall.contact(oncall.alice, "webhook", webhook_receiver.url_for("/alice"))
    sms = await oncall.contact(oncall.alice, "sms", "+15555550123", after_minutes=None)
    path = f"/api/v1/users/{oncall.alice.id}/contact-methods/{method['id']}/webhook-key"
    key = (await api(client, oncall.alice, "POST", path))["signing_key"]
    admin_view = await api(client, oncall.admin, "POST", path)
    assert admin_view["signing_key"] == key and admin_view["algorithm"] == "HMAC-SHA256"
    assert (await client.post(path, headers=oncall.bob.headers)).status_code == 403
    viewer = await factory.actor(Role.VIEWER, email="viewer@example.com")
    assert (await client.post(path, headers=viewer.headers)).status_code == 403
    not_hook = path.replace(f"/{method['id']}/", f"/{sms['id']}/")
    wrong = await client.post(not_hook, headers=oncall.alice.headers)
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_webhook"
    await oncall.fire()
    await engine.tick()
    page = await webhook_receiver.expect_event(path="/alice")
    assert verified(page, key)
