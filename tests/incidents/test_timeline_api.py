"""Timeline entries through the API: kind, message and data as before, plus the typed event;
and the lines that used to read badly, from real incidents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from app.core.db import Database
from app.incidents.models import IncidentEvent
from tests.factories import Actor, Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, GenericSender, add_contact, api, integration


@dataclass
class World:
    admin: Actor
    alice: Actor
    bob: Actor
    service: dict[str, Any]


@pytest.fixture
def engine(app, db, clock) -> Engine:
    return Engine(app, db, clock)


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> World:
    """checkout pages Alice; Bob is in the team. Nobody has a contact method yet."""
    admin = await factory.actor(Role.ADMIN, email="admin@example.com")
    alice = await factory.actor(Role.MEMBER, name="Alice", email="alice@example.com")
    bob = await factory.actor(Role.MEMBER, name="Bob", email="bob@example.com")
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    for user in (alice, bob):
        await api(
            client, admin, "POST", f"/api/v1/teams/{team['id']}/members", json={"user_id": user.id}
        )
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "checkout",
            "team_id": team["id"],
            "steps": [{"delay_minutes": 5, "targets": [{"kind": "user", "user_id": alice.id}]}],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={
            "name": "checkout",
            "team_id": team["id"],
            "escalation_policy_id": policy["id"],
            "ack_timeout_minutes": 1,
        },
    )
    return World(admin, alice, bob, service)


def _instants(value: Any) -> Any:
    """ISO instants as datetimes: the API writes UTC as Z, the stored payload as +00:00."""
    if isinstance(value, dict):
        return {k: _instants(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_instants(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T":
        return datetime.fromisoformat(value)
    return value


async def _timeline(client: httpx.AsyncClient, world: World, incident: int) -> list[dict]:
    return await api(client, world.admin, "GET", f"/api/v1/incidents/{incident}/timeline")


async def test_entries_keep_kind_message_and_data_and_add_the_typed_event(
    client: httpx.AsyncClient, world: World, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    await add_contact(client, world.admin, world.alice.id, "webhook", webhook_receiver.url_for())
    incident = await GenericSender(client, world.admin, world.service["id"]).fire("disk full")
    await engine.tick()
    path = f"/api/v1/incidents/{incident}"
    await api(client, world.alice, "POST", f"{path}/reassign", json={"user_id": world.bob.id})
    await api(client, world.alice, "POST", f"{path}/notes", json={"text": "over to Bob"})

    entries = await _timeline(client, world, incident)
    for entry in entries:
        assert set(entry) == {
            "id", "at", "kind", "actor_user_id", "channel", "message", "data", "event"
        }  # fmt: skip
        assert entry["event"]["kind"] == entry["kind"]
        # The event is the stored payload, typed: the same fields, without the version.
        assert _instants({k: v for k, v in entry["data"].items() if k != "v"}) == _instants(
            {k: v for k, v in entry["event"].items() if k != "kind"}
        )
        assert entry["data"]["v"] == 1
    [reassigned] = [e for e in entries if e["kind"] == "reassigned"]
    assert reassigned["data"]["to"] == world.bob.id and reassigned["data"]["from"] == [
        world.alice.id
    ]
    assert reassigned["message"] == "Alice handed the incident from Alice to Bob via api"
    assert reassigned["event"]["by_name"] == "Alice" and reassigned["actor_user_id"] == (
        world.alice.id
    )
    [escalated] = [e for e in entries if e["kind"] == "escalated"]
    assert escalated["event"]["paged"] == [
        {
            "user_id": world.alice.id,
            "name": "Alice",
            "shadow": False,
            "contacts": [{"contact_type": "webhook", "delay_minutes": 0}],
        }
    ]
    [note] = [e for e in entries if e["kind"] == "note"]
    assert note["message"] == "over to Bob" and note["channel"] == "api"

    detail = await api(client, world.admin, "GET", path)
    assert detail["timeline"] == entries
    webhook_receiver.consume_all()


async def test_two_webhooks_on_one_host_are_told_apart(
    client: httpx.AsyncClient, world: World, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    for path, label in (("/bridge", "Ops bridge"), ("/status", "")):
        method = await api(
            client,
            world.admin,
            "POST",
            f"/api/v1/users/{world.alice.id}/contact-methods",
            json={"type": "webhook", "address": webhook_receiver.url_for(path), "label": label},
        )
        await api(
            client,
            world.admin,
            "POST",
            f"/api/v1/users/{world.alice.id}/notification-rules",
            json={"contact_method_id": method["id"], "delay_minutes": 0, "urgency": "high"},
        )
    incident = await GenericSender(client, world.admin, world.service["id"]).fire("disk full")
    await engine.tick()
    sent = sorted(
        e["message"]
        for e in await _timeline(client, world, incident)
        if e["kind"] == "notification_sent"
    )
    host = webhook_receiver.url_for("/").removesuffix("/")
    assert sent == [
        f"Page by webhook to {host}/… (Ops bridge) sent",
        f"Page by webhook to {host}/… (contact method {method['id']}) sent",
    ]
    assert len(webhook_receiver.consume_all()) == 2


def _alertmanager(status: str, instances: list[str]) -> bytes:
    labels = {"alertname": "HighLatency", "service": "checkout", "severity": "critical"}
    return json.dumps(
        {
            "version": "4",
            "status": status,
            "receiver": "baton",
            "groupKey": '{}:{alertname="HighLatency"}',
            "groupLabels": {"alertname": "HighLatency"},
            "commonAnnotations": {"summary": "HighLatency on checkout"},
            "alerts": [
                {
                    "status": status,
                    "labels": {**labels, "instance": instance},
                    "annotations": {"summary": "HighLatency on checkout"},
                    "startsAt": "2026-03-02T09:59:00Z",
                    "endsAt": "2026-03-02T10:00:00Z" if status == "resolved" else None,
                }
                for instance in instances
            ],
        }
    ).encode()


async def test_alerts_that_differ_by_instance_read_differently(
    client: httpx.AsyncClient, world: World
) -> None:
    key = (await integration(client, world.admin, world.service["id"]))["key"]
    instances = ["10.0.0.1:9090", "10.0.0.2:9090", "10.0.0.3:9090"]

    async def post(status: str) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/integrations/alertmanager",
            content=_alertmanager(status, instances),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    [incident] = (await post("firing"))["created_incidents"]
    await post("resolved")
    entries = await _timeline(client, world, incident)
    [triggered] = [e["message"] for e in entries if e["kind"] == "alert_triggered"]
    assert triggered == (
        "3 alerts triggered: HighLatency on checkout [critical] (instance=10.0.0.1:9090); "
        "HighLatency on checkout [critical] (instance=10.0.0.2:9090); "
        "HighLatency on checkout [critical] (instance=10.0.0.3:9090)"
    )
    resolved = [e["message"] for e in entries if e["kind"] == "alert_resolved"]
    assert resolved == [
        f"Alert resolved at the source: HighLatency on checkout [critical] (instance={i})"
        for i in instances
    ]
    assert entries[-1]["message"] == "Resolved automatically: every alert resolved at the source"
    assert entries[-1]["event"]["automatic"] is True


async def test_a_one_minute_acknowledgement_timeout_says_one_minute(
    client: httpx.AsyncClient, world: World, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    await add_contact(client, world.admin, world.alice.id, "webhook", webhook_receiver.url_for())
    incident = await GenericSender(client, world.admin, world.service["id"]).fire("disk full")
    await engine.tick()
    await api(client, world.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    await engine.advance(minutes=1)
    [timed_out] = [
        e for e in await _timeline(client, world, incident) if e["kind"] == "ack_timeout"
    ]
    assert timed_out["message"] == (
        "Acknowledged 1 minute ago and still not resolved: triggered again"
    )
    assert timed_out["event"] == {"kind": "ack_timeout", "minutes": 1}
    webhook_receiver.consume_all()


async def test_a_row_the_migration_could_not_type_shows_its_stored_words(
    client: httpx.AsyncClient, world: World, db: Database, clock
) -> None:
    incident = await GenericSender(client, world.admin, world.service["id"]).fire("disk full")
    async with db.transaction() as session:
        session.add(
            IncidentEvent(
                incident_id=incident,
                at=clock.now(),
                kind="acknowledged",
                channel="api",
                message="Acknowledged by somebody, somehow",
                data={"legacy": True},
            )
        )
    [old] = [e for e in await _timeline(client, world, incident) if e["kind"] == "acknowledged"]
    assert old["message"] == "Acknowledged by somebody, somehow"
    assert old["event"] is None and old["data"] == {"legacy": True}


async def test_a_steps_own_webhook_is_masked_on_the_timeline(
    client: httpx.AsyncClient, world: World, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    """Everyone reads the timeline, and a webhook URL's path often carries a secret."""
    secret = webhook_receiver.url_for("/hooks/T0/B0/s3cr3t")
    policy = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "bridge",
            "team_id": world.service["team_id"],
            "steps": [{"delay_minutes": 5, "targets": [{"kind": "webhook", "address": secret}]}],
        },
    )
    await api(
        client,
        world.admin,
        "PATCH",
        f"/api/v1/services/{world.service['id']}",
        json={"escalation_policy_id": policy["id"]},
    )
    incident = await GenericSender(client, world.admin, world.service["id"]).fire("disk full")
    await engine.tick()
    await webhook_receiver.expect_event("disk full", path="/hooks/T0/B0/s3cr3t")
    [escalated] = [e for e in await _timeline(client, world, incident) if e["kind"] == "escalated"]
    host = webhook_receiver.url_for("/").removesuffix("/")
    assert escalated["message"] == f"Step 1 of 1 (incident opened): paged webhook {host}/…"
    assert "s3cr3t" not in json.dumps(escalated)
