"""Webhook signing keys belong to their owner, are stored encrypted, and rotate with grace."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import text

from app.core.auth import Role
from app.notify.webhook import sign
from tests.fakes.webhook import WebhookReceiver, WebhookRecord
from tests.notify.conftest import Oncall
from tests.paging import Engine, api


def signatures(record: WebhookRecord) -> list[str]:
    return [part.strip() for part in (record.header("X-Baton-Signature") or "").split(",")]


def verifies(record: WebhookRecord, key: str) -> bool:
    timestamp = record.header("X-Baton-Timestamp") or ""
    return sign(key, timestamp, record.body) in signatures(record)


def key_path(user_id: int, method_id: int) -> str:
    return f"/api/v1/users/{user_id}/contact-methods/{method_id}/webhook-key"


async def add_webhook(client: httpx.AsyncClient, who, url: str) -> dict:
    method = await api(
        client,
        who,
        "POST",
        f"/api/v1/users/{who.id}/contact-methods",
        json={"type": "webhook", "address": url},
    )
    await api(
        client,
        who,
        "POST",
        f"/api/v1/users/{who.id}/notification-rules",
        json={"contact_method_id": method["id"], "delay_minutes": 0},
    )
    return method


async def test_the_same_url_added_by_someone_else_gets_a_key_of_its_own(
    oncall: Oncall, webhook_receiver: WebhookReceiver, engine: Engine, client: httpx.AsyncClient
) -> None:
    """The attack: read Alice's webhook URL, add it as your own contact method, ask for its key,
    forge a "resolved" she would accept. Bob's key must not verify Alice's deliveries."""
    url = webhook_receiver.url_for("/alice")
    alice_method = await add_webhook(client, oncall.alice, url)
    bob_method = await add_webhook(client, oncall.bob, url)
    alice_key = await api(
        client, oncall.alice, "POST", key_path(oncall.alice.id, alice_method["id"])
    )
    bob_key = await api(client, oncall.bob, "POST", key_path(oncall.bob.id, bob_method["id"]))
    assert alice_key["signing_key"] != bob_key["signing_key"]
    assert alice_key["key_id"] != bob_key["key_id"]

    await oncall.fire()
    await engine.tick()
    page = await webhook_receiver.expect_event(path="/alice")
    assert page.header("X-Baton-Key-Id") == alice_key["key_id"]
    assert verifies(page, alice_key["signing_key"])
    assert not verifies(page, bob_key["signing_key"])


async def test_keys_are_encrypted_at_rest_and_never_listed(
    oncall: Oncall, webhook_receiver: WebhookReceiver, client: httpx.AsyncClient, db
) -> None:
    method = await add_webhook(client, oncall.alice, webhook_receiver.url_for("/alice"))
    key = await api(client, oncall.alice, "POST", key_path(oncall.alice.id, method["id"]))
    async with db.transaction() as session:
        stored = (await session.execute(text("SELECT * FROM webhook_signing_keys"))).all()
    assert len(stored) == 1
    assert key["signing_key"] not in repr(stored)
    listed = await client.get(
        f"/api/v1/users/{oncall.alice.id}/contact-methods", headers=oncall.admin.headers
    )
    assert key["signing_key"] not in listed.text


async def test_only_the_owner_and_admins_see_or_rotate_a_key(
    oncall: Oncall, webhook_receiver: WebhookReceiver, client: httpx.AsyncClient, factory
) -> None:
    method = await add_webhook(client, oncall.alice, webhook_receiver.url_for("/alice"))
    path = key_path(oncall.alice.id, method["id"])
    viewer = await factory.actor(Role.VIEWER, email="viewer@example.com")
    for other in (oncall.bob, viewer):
        assert (await client.post(path, headers=other.headers)).status_code == 403
        assert (await client.post(f"{path}/rotate", headers=other.headers)).status_code == 403
    assert (await client.post(path, headers=oncall.admin.headers)).status_code == 200


async def test_rotation_signs_with_both_keys_through_the_grace_period(
    oncall: Oncall,
    webhook_receiver: WebhookReceiver,
    engine: Engine,
    client: httpx.AsyncClient,
    app,
) -> None:
    method = await add_webhook(client, oncall.alice, webhook_receiver.url_for("/alice"))
    path = key_path(oncall.alice.id, method["id"])
    old = await api(client, oncall.alice, "POST", path)
    new = await api(client, oncall.alice, "POST", f"{path}/rotate")
    assert new["key_id"] != old["key_id"] and new["signing_key"] != old["signing_key"]
    assert [k["key_id"] for k in new["previous_keys"]] == [old["key_id"]]
    assert (await api(client, oncall.alice, "POST", path))["key_id"] == new["key_id"]

    incident = await oncall.fire("during the grace period")
    await engine.tick()
    during = await webhook_receiver.expect_event(path="/alice")
    assert during.header("X-Baton-Key-Id") == new["key_id"]
    assert len(signatures(during)) == 2
    assert verifies(during, new["signing_key"]) and verifies(during, old["signing_key"])
    await api(client, oncall.alice, "POST", f"/api/v1/incidents/{incident}/resolve")

    grace = app.state.settings.webhook_key_grace_hours
    await engine.advance(timedelta(hours=grace, seconds=1))
    await oncall.fire("after the grace period")
    await engine.tick()
    after = await webhook_receiver.expect_event(path="/alice", match={"event": "incident.page"})
    assert signatures(after) == [
        sign(new["signing_key"], after.header("X-Baton-Timestamp"), after.body)
    ]
    assert not verifies(after, old["signing_key"])
    assert (await api(client, oncall.alice, "POST", path))["previous_keys"] == []


async def test_an_escalation_webhook_key_belongs_to_the_policy_and_survives_edits(
    oncall: Oncall, webhook_receiver: WebhookReceiver, client: httpx.AsyncClient, factory
) -> None:
    url = webhook_receiver.url_for("/bridge")
    policy_path = f"/api/v1/escalation-policies/{oncall.policy['id']}"
    steps = [{"delay_minutes": 5, "targets": [{"kind": "webhook", "address": url}]}]
    await api(client, oncall.admin, "PATCH", policy_path, json={"steps": steps})
    first = await api(
        client, oncall.alice, "POST", f"{policy_path}/webhook-key", json={"address": url}
    )
    steps[0]["delay_minutes"] = 7
    await api(client, oncall.admin, "PATCH", policy_path, json={"steps": steps})
    again = await api(
        client, oncall.alice, "POST", f"{policy_path}/webhook-key", json={"address": url}
    )
    assert (
        again["key_id"] == first["key_id"] and again["escalation_policy_id"] == oncall.policy["id"]
    )

    other_team = await api(
        client, oncall.admin, "POST", "/api/v1/teams", json={"name": "web", "kind": "dev"}
    )
    outsider = await factory.actor(Role.MEMBER, email="outsider@example.com")
    await api(
        client,
        oncall.admin,
        "POST",
        f"/api/v1/teams/{other_team['id']}/members",
        json={"user_id": outsider.id},
    )
    refused = await client.post(
        f"{policy_path}/webhook-key", json={"address": url}, headers=outsider.headers
    )
    assert refused.status_code == 403
    unknown = await client.post(
        f"{policy_path}/webhook-key",
        json={"address": "https://elsewhere.example.com/x"},
        headers=oncall.alice.headers,
    )
    assert unknown.status_code == 404
