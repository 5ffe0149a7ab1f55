"""Escalation behaviour: ladders, repeats, urgency, maintenance, actions and rights."""

from __future__ import annotations

from datetime import timedelta

import httpx

from app.core.auth import Role
from tests.engine.conftest import Fire, Setup
from tests.factories import Factory
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, api


async def kinds(client: httpx.AsyncClient, setup: Setup, incident_id: int) -> list[str]:
    events = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}/timeline")
    return [e["kind"] for e in events]


async def test_repeats_then_says_the_ladder_is_exhausted(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    await api(
        client,
        setup.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{setup.policy['id']}",
        json={"repeat": 1},
    )
    incident = await fire()
    await engine.tick()
    for who, wait in (("/alice", 5), ("/bob", 10), ("/alice", 5), ("/bob", 10)):
        await webhook_receiver.expect_event(path=who)
        await engine.drain()
        webhook_receiver.assert_nothing_sent()
        await engine.advance(minutes=wait)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    events = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}/timeline")
    assert events[-1]["kind"] == "escalation_exhausted"
    assert (
        "Step 2 of 2 (pass 2 of 2)"
        in [e for e in events if e["kind"] == "escalated"][-1]["message"]
    )
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}")
    assert detail["state"] == "triggered" and detail["next_escalation_at"] is None


async def test_editing_the_policy_does_not_change_a_page_already_escalating(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    incident = await fire()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await setup.only_alice(client, delay_minutes=1)
    await engine.advance(minutes=5)
    await webhook_receiver.expect_event(path="/bob")
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}")
    assert len(detail["escalation_policy"]["steps"]) == 2


async def test_low_urgency_pages_by_low_rules_and_does_not_escalate(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    await api(
        client,
        setup.admin,
        "PATCH",
        f"/api/v1/services/{setup.service['id']}",
        json={"urgency_rule": "severity"},
    )
    low_hook = webhook_receiver.url_for("/alice-low")
    method = await api(
        client,
        setup.admin,
        "POST",
        f"/api/v1/users/{setup.alice.id}/contact-methods",
        json={"type": "webhook", "address": low_hook},
    )
    await api(
        client,
        setup.admin,
        "POST",
        f"/api/v1/users/{setup.alice.id}/notification-rules",
        json={"contact_method_id": method["id"], "delay_minutes": 0, "urgency": "low"},
    )
    incident = await fire("disk 80% full", severity="warning")
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice-low")
    await engine.advance(minutes=30)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}")
    assert detail["urgency"] == "low" and detail["next_escalation_at"] is None
    # Raising the urgency restarts the clock on the current step.
    await api(
        client,
        setup.alice,
        "POST",
        f"/api/v1/incidents/{incident}/urgency",
        json={"urgency": "high"},
    )
    await engine.advance(minutes=5)
    await webhook_receiver.expect_event(path="/bob")


async def test_maintenance_holds_pages_until_it_ends(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    clock,
    fire: Fire,
) -> None:
    ends = clock.now() + timedelta(hours=1)
    window = await api(
        client,
        setup.alice,
        "POST",
        f"/api/v1/services/{setup.service['id']}/maintenance",
        json={"ends_at": ends.isoformat(), "reason": "db upgrade"},
    )
    service = await api(client, setup.admin, "GET", f"/api/v1/services/{setup.service['id']}")
    assert service["in_maintenance"] is True
    incident = await fire()
    await engine.advance(minutes=30)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}")
    assert detail["held_for_maintenance"] is True
    assert await kinds(client, setup, incident) == ["opened", "maintenance_hold", "alert_triggered"]

    await api(
        client,
        setup.alice,
        "DELETE",
        f"/api/v1/services/{setup.service['id']}/maintenance/{window['id']}",
    )
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    assert (await kinds(client, setup, incident))[3:5] == ["maintenance_ended", "escalated"]
    await engine.advance(minutes=5)
    await webhook_receiver.expect_event(path="/bob")


async def test_actions_unack_reassign_escalate_note_resolve(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    factory: Factory,
    fire: Fire,
) -> None:
    carol = await factory.actor(Role.MEMBER, name="Carol", email="carol@example.com")
    await api(
        client,
        setup.admin,
        "POST",
        f"/api/v1/users/{carol.id}/contact-methods",
        json={"type": "webhook", "address": webhook_receiver.url_for("/carol")},
    )
    incident = await fire()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    base = f"/api/v1/incidents/{incident}"

    await api(client, setup.alice, "POST", f"{base}/acknowledge")
    back = await api(client, setup.alice, "POST", f"{base}/unacknowledge")
    assert back["state"] == "triggered"
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")

    handed = await api(
        client,
        setup.alice,
        "POST",
        f"{base}/reassign",
        json={"user_id": carol.id, "note": "Carol owns checkout"},
    )
    assert handed["state"] == "triggered"
    await engine.tick()
    await webhook_receiver.expect_event(path="/carol")
    detail = await api(client, setup.admin, "GET", base)
    assert [a["user_id"] for a in detail["assignees"] if not a["shadow"]] == [carol.id]
    mine = await api(client, carol, "GET", "/api/v1/incidents", params={"assigned_to_me": True})
    assert [i["id"] for i in mine["items"]] == [incident]

    await api(client, carol, "POST", f"{base}/escalate")
    await engine.tick()
    await webhook_receiver.expect_event(path="/bob")
    last = await client.post(f"{base}/escalate", headers=carol.headers)
    assert last.status_code == 409 and "last step" in last.json()["detail"]

    await api(client, setup.bob, "POST", f"{base}/notes", json={"text": "rolled back v2.14.3"})
    done = await api(client, setup.bob, "POST", f"{base}/resolve", json={"note": "rollback"})
    assert done["state"] == "resolved"
    for action in ("acknowledge", "resolve", "escalate", "unacknowledge"):
        refused = await client.post(f"{base}/{action}", headers=setup.bob.headers)
        assert refused.status_code == 409, action
        assert refused.json()["code"] == "conflict" and "resolved" in refused.json()["detail"]
    later_note = await client.post(
        f"{base}/notes", headers=setup.bob.headers, json={"text": "postmortem scheduled"}
    )
    assert later_note.status_code == 201
    await engine.advance(minutes=60)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    assert await kinds(client, setup, incident) == [
        "opened",
        "escalated",
        "alert_triggered",
        "notification_sent",
        "acknowledged",
        "unacknowledged",
        "escalated",
        "notification_sent",
        "reassigned",
        "paged",
        "notification_sent",
        "escalate_requested",
        "escalated",
        "notification_sent",
        "note",
        "resolved",
        "note",
    ]


async def test_ack_timeout_triggers_again(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    fire: Fire,
) -> None:
    await api(
        client,
        setup.admin,
        "PATCH",
        f"/api/v1/services/{setup.service['id']}",
        json={"ack_timeout_minutes": 30},
    )
    incident = await fire()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await api(client, setup.alice, "POST", f"/api/v1/incidents/{incident}/acknowledge")
    await engine.advance(minutes=29)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    await engine.advance(minutes=1)
    await webhook_receiver.expect_event(path="/alice")
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident}")
    assert detail["state"] == "triggered"
    assert "ack_timeout" in await kinds(client, setup, incident)


async def test_who_may_act(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    factory: Factory,
    fire: Fire,
) -> None:
    outsider = await factory.actor(Role.MEMBER, email="outsider@example.com")
    viewer = await factory.actor(Role.VIEWER, email="viewer@example.com")
    incident = await fire()
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    base = f"/api/v1/incidents/{incident}"
    assert (await client.post(f"{base}/acknowledge", headers=outsider.headers)).status_code == 403
    assert (await client.post(f"{base}/acknowledge", headers=viewer.headers)).status_code == 403
    assert (await client.get(base, headers=viewer.headers)).status_code == 200
    # Someone paged for the incident may act even outside the owning team.
    await api(
        client, setup.admin, "DELETE", f"/api/v1/teams/{setup.team['id']}/members/{setup.alice.id}"
    )
    assert (
        await client.post(f"{base}/acknowledge", headers=setup.alice.headers)
    ).status_code == 200
    assert (
        await client.post("/api/v1/incidents/999/acknowledge", headers=setup.alice.headers)
    ).status_code == 404


async def test_manual_incident_pages_the_policy(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    factory: Factory,
) -> None:
    someone = await factory.actor(Role.MEMBER, email="someone@example.com")
    opened = await api(
        client,
        someone,
        "POST",
        "/api/v1/incidents",
        json={"service_id": setup.service["id"], "title": "Checkout broken for EU cards"},
    )
    await engine.tick()
    page = await webhook_receiver.expect_event("Checkout broken for EU cards", path="/alice")
    assert page.json["incident"]["incident_id"] == opened["id"]
    events = await api(client, setup.admin, "GET", f"/api/v1/incidents/{opened['id']}/timeline")
    assert events[0]["actor_user_id"] == someone.id and events[0]["channel"] == "api"
