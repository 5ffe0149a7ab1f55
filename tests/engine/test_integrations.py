"""Inbound integrations: authentication, validation, idempotence, the source resolving."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from app.integrations.formats.alertmanager import fingerprint
from tests.engine.conftest import Setup
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, api, fixture_bytes, fixture_json, integration

AM = "/api/v1/integrations/alertmanager"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


async def incidents(client: httpx.AsyncClient, setup: Setup, **params: Any) -> list[dict[str, Any]]:
    page = await api(client, setup.admin, "GET", "/api/v1/incidents", params=params)
    return page["items"]


async def test_fixture_fingerprints_are_alertmanagers() -> None:
    for name in ("firing.json", "grouped_firing_3_alerts.json"):
        for alert in fixture_json(f"alertmanager/{name}")["alerts"]:
            assert fingerprint(alert["labels"]) == alert["fingerprint"]


async def test_the_same_payload_twice_changes_nothing_but_the_seen_count(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    body = fixture_bytes("alertmanager/grouped_firing_3_alerts.json")
    first = await client.post(AM, content=body, headers=bearer(setup.key))
    second = await client.post(AM, content=body, headers=bearer(setup.key))
    assert first.status_code == second.status_code == 200
    assert first.json()["alerts"]["triggered"] == 3
    assert second.json()["alerts"] == {
        "triggered": 0,
        "repeated": 3,
        "resolved": 0,
        "acknowledged": 0,
        "ignored": 0,
    }
    [incident] = await incidents(client, setup)
    assert incident["alert_count"] == 3, "a webhook's group becomes one incident"
    assert incident["title"] == "HighLatencyP99 on service=payments-api (3 alerts)"
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident['id']}")
    assert {a["seen_count"] for a in detail["alerts"]} == {2}


async def test_a_message_that_drops_an_alert_does_not_resolve_it(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    grouped = fixture_json("alertmanager/grouped_firing_3_alerts.json")
    await client.post(AM, json=grouped, headers=bearer(setup.key))
    fewer = {**grouped, "alerts": grouped["alerts"][:2]}
    await client.post(AM, json=fewer, headers=bearer(setup.key))
    [incident] = await incidents(client, setup)
    assert incident["state"] == "triggered"
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident['id']}")
    assert [a["status"] for a in detail["alerts"]] == ["firing"] * 3
    # Now each resolves explicitly, the incident closes when the last one does.
    for index, alert in enumerate(grouped["alerts"]):
        resolved = {**alert, "status": "resolved", "endsAt": "2026-03-14T10:30:00Z"}
        await client.post(
            AM,
            json={**grouped, "status": "resolved", "alerts": [resolved]},
            headers=bearer(setup.key),
        )
        [incident] = await incidents(client, setup)
        assert incident["state"] == ("resolved" if index == 2 else "triggered")
    await engine.tick()
    webhook_receiver.consume_all()


async def test_resolved_at_the_source_resolves_the_incident(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    await client.post(
        AM, content=fixture_bytes("alertmanager/firing.json"), headers=bearer(setup.key)
    )
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    resolved = await client.post(
        AM, content=fixture_bytes("alertmanager/resolved.json"), headers=bearer(setup.key)
    )
    assert resolved.json()["alerts"]["resolved"] == 1
    [incident] = await incidents(client, setup)
    assert incident["state"] == "resolved"
    assert incident["resolved_by_id"] is None
    await engine.advance(minutes=30)
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    timeline = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident['id']}/timeline")
    assert timeline[-1]["kind"] == "resolved"
    assert timeline[-1]["message"] == "Resolved automatically: every alert resolved at the source"
    again = await client.post(
        AM, content=fixture_bytes("alertmanager/resolved.json"), headers=bearer(setup.key)
    )
    assert again.json()["alerts"]["ignored"] == 1, "a repeated resolution is harmless"
    # Firing again after resolution is a new incident.
    refire = await client.post(
        AM, content=fixture_bytes("alertmanager/firing.json"), headers=bearer(setup.key)
    )
    assert refire.json()["created_incidents"] and refire.json()["created_incidents"] != [
        incident["id"]
    ]
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")


@pytest.mark.parametrize(
    ("headers", "path"),
    [
        ({}, AM),
        ({"Authorization": "Bearer nope"}, AM),
        ({}, f"{AM}/wrongkey"),
        ({"Authorization": "Basic Zm9vOmJhcg=="}, AM),
    ],
)
async def test_unknown_keys_are_401_with_no_side_effect(
    client: httpx.AsyncClient, setup: Setup, headers: dict[str, str], path: str
) -> None:
    r = await client.post(
        path,
        content=fixture_bytes("alertmanager/firing.json"),
        headers={"Content-Type": "application/json", **headers},
    )
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"
    assert await incidents(client, setup) == []


async def test_key_in_path_and_revocation(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    in_path = await client.post(
        f"{AM}/{setup.key}", content=fixture_bytes("alertmanager/firing.json")
    )
    assert in_path.status_code == 200
    [made] = await api(
        client, setup.admin, "GET", f"/api/v1/services/{setup.service['id']}/integrations"
    )
    assert "key" not in made and made["key_prefix"] == setup.key[:6]
    await api(
        client,
        setup.admin,
        "DELETE",
        f"/api/v1/services/{setup.service['id']}/integrations/{made['id']}",
    )
    revoked = await client.post(
        AM, content=fixture_bytes("alertmanager/firing.json"), headers=bearer(setup.key)
    )
    assert revoked.status_code == 401
    await engine.tick()
    webhook_receiver.consume_all()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (
            json.dumps({**fixture_json("alertmanager/firing.json"), "version": "3"}).encode(),
            "version",
        ),
        (
            json.dumps({**fixture_json("alertmanager/firing.json"), "alerts": "x"}).encode(),
            "alerts must be a list",
        ),
        (
            json.dumps(
                {**fixture_json("alertmanager/firing.json"), "alerts": [{"status": "firing"}]}
            ).encode(),
            "labels",
        ),
        (
            json.dumps(
                {
                    **fixture_json("alertmanager/firing.json"),
                    "alerts": [{"status": "weird", "labels": {"a": "b"}}],
                }
            ).encode(),
            "status",
        ),
    ],
)
async def test_malformed_bodies_are_4xx_with_the_reason(
    client: httpx.AsyncClient, setup: Setup, body: bytes, fragment: str
) -> None:
    r = await client.post(AM, content=body, headers=bearer(setup.key))
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["code"] == "invalid_payload"
    assert fragment in r.json()["detail"]
    assert await incidents(client, setup) == []


async def test_oversized_bodies_are_refused(client: httpx.AsyncClient, setup: Setup) -> None:
    big = fixture_json("alertmanager/firing.json")
    big["commonAnnotations"]["description"] = "x" * (1024 * 1024)
    r = await client.post(AM, json=big, headers=bearer(setup.key))
    assert r.status_code == 413
    assert await incidents(client, setup) == []


async def test_rate_limited_keys_get_429_with_retry_after(
    client: httpx.AsyncClient, setup: Setup, app, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    gateway = app.state.gateway
    gateway.rate, gateway.burst = 1.0, 2.0
    gateway._buckets.clear()
    body = fixture_bytes("alertmanager/firing.json")
    statuses = [(await client.post(AM, content=body, headers=bearer(setup.key))) for _ in range(3)]
    assert [s.status_code for s in statuses] == [200, 200, 429]
    assert int(statuses[2].headers["retry-after"]) >= 1
    assert statuses[2].json()["code"] == "rate_limited"
    await engine.tick()
    webhook_receiver.consume_all()


async def test_pagerduty_events_v2(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    created = await integration(client, setup.admin, setup.service["id"], "pagerduty")
    assert len(created["key"]) == 32
    event = fixture_json("pagerduty/events_v2_trigger.json")
    event["routing_key"] = created["key"]
    path = "/api/v1/integrations/pagerduty/v2/enqueue"
    r = await client.post(path, json=event)
    assert r.status_code == 202
    assert r.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": event["dedup_key"],
    }
    assert (await client.post(path, json=event)).status_code == 202
    assert len(await incidents(client, setup)) == 1, "same dedup_key, same incident"

    no_key = {k: v for k, v in event.items() if k != "dedup_key"}
    generated = await client.post(path, json=no_key)
    assert generated.status_code == 202 and len(generated.json()["dedup_key"]) == 32
    assert len(await incidents(client, setup)) == 2

    bad = await client.post(
        path,
        json={
            "routing_key": created["key"],
            "event_action": "resolve",
            "payload": {"severity": "loud"},
        },
    )
    assert bad.status_code == 400
    assert bad.json()["status"] == "invalid event"
    assert "'dedup_key' is required to resolve" in bad.json()["errors"]
    missing = await client.post(
        path, json={"routing_key": created["key"], "event_action": "trigger", "payload": {}}
    )
    assert {"'payload.summary' is missing or blank", "'payload.source' is missing or blank"} <= set(
        missing.json()["errors"]
    )

    unknown = await client.post(
        path,
        json={
            "routing_key": created["key"],
            "event_action": "acknowledge",
            "dedup_key": "never-seen",
        },
    )
    assert unknown.status_code == 202, "unknown ack is accepted and ignored"

    ack = await client.post(
        path,
        json={
            "routing_key": created["key"],
            "event_action": "acknowledge",
            "dedup_key": event["dedup_key"],
        },
    )
    assert ack.status_code == 202
    states = {i["title"][:10]: i["state"] for i in await incidents(client, setup)}
    assert "acknowledged" in states.values()
    resolve = await client.post(
        path,
        json={
            "routing_key": created["key"],
            "event_action": "resolve",
            "dedup_key": event["dedup_key"],
        },
    )
    assert resolve.status_code == 202
    wrong_key = await client.post(path, json={**event, "routing_key": "x" * 32})
    # PagerDuty's own answer to an unknown key, which its clients report and do not retry.
    assert wrong_key.status_code == 400
    assert wrong_key.json()["status"] == "invalid event"
    await engine.tick()
    webhook_receiver.consume_all()


async def test_grafana_with_hmac(
    client: httpx.AsyncClient,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    clock,
) -> None:
    secret = "grafana-test-secret-0123456789"
    created = await integration(
        client,
        setup.admin,
        setup.service["id"],
        "grafana",
        signing_secret=secret,
        signing_timestamp_header="X-Grafana-Alerting-Signature-Timestamp",
    )
    body = fixture_bytes("grafana/webhook_firing.json")
    timestamp = str(int(clock.now().timestamp()))
    signature = hmac.new(
        secret.encode(), timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    headers = bearer(created["key"]) | {
        "X-Grafana-Alerting-Signature": signature,
        "X-Grafana-Alerting-Signature-Timestamp": timestamp,
    }
    path = "/api/v1/integrations/grafana"
    assert (await client.put(path, content=body, headers=headers)).status_code == 200
    forged = headers | {"X-Grafana-Alerting-Signature": "0" * 64}
    assert (await client.post(path, content=body, headers=forged)).status_code == 403
    stale = headers | {"X-Grafana-Alerting-Signature-Timestamp": str(int(timestamp) - 3600)}
    assert (await client.post(path, content=body, headers=stale)).status_code == 403
    [incident] = await incidents(client, setup)
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident['id']}")
    assert detail["alerts"][0]["severity"] == "critical"
    assert detail["urgency"] == "high"
    await engine.tick()
    webhook_receiver.consume_all()


async def test_generic_events_and_heartbeats(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    created = await integration(client, setup.admin, setup.service["id"], "generic")
    path = "/api/v1/integrations/generic"
    fired = await client.post(
        path,
        json={"summary": "disk full on db-1", "severity": "critical"},
        headers=bearer(created["key"]),
    )
    assert fired.status_code == 202
    retried = await client.post(
        path,
        json={"summary": "disk full on db-1", "severity": "critical"},
        headers=bearer(created["key"]),
    )
    assert retried.json()["alerts"]["repeated"] == 1, "no dedup key: the same event dedupes"
    bad = await client.post(path, json={"action": "resolve"}, headers=bearer(created["key"]))
    assert bad.status_code == 422 and "dedup_key" in bad.json()["detail"]
    resolved = await client.post(
        path,
        json={"action": "resolve", "dedup_key": fired.json()["dedup_key"]},
        headers=bearer(created["key"]),
    )
    assert resolved.json()["alerts"]["resolved"] == 1
    [disk] = [i for i in await incidents(client, setup) if i["title"] == "disk full on db-1"]
    assert disk["state"] == "resolved"
    await engine.tick()
    webhook_receiver.consume_all()

    beat = await integration(
        client,
        setup.admin,
        setup.service["id"],
        "heartbeat",
        heartbeat_interval_seconds=300,
        heartbeat_grace_seconds=60,
    )
    ping = await client.get(f"/api/v1/heartbeat/{beat['key']}")
    assert ping.json() == {"status": "ok", "state": "ok"}
    await engine.advance(minutes=5)
    assert [i for i in await incidents(client, setup) if "Heartbeat" in i["title"]] == []
    await engine.advance(minutes=1, seconds=1)
    [missed] = [i for i in await incidents(client, setup) if "Heartbeat" in i["title"]]
    assert missed["state"] == "triggered"
    await webhook_receiver.expect_event("Heartbeat", path="/alice")
    await engine.advance(minutes=10)  # stays one incident while overdue
    assert len([i for i in await incidents(client, setup) if "Heartbeat" in i["title"]]) == 1
    await webhook_receiver.expect_event("Heartbeat", path="/bob")
    back = await client.post(f"/api/v1/heartbeat/{beat['key']}")
    assert back.json()["state"] == "ok"
    [done] = [i for i in await incidents(client, setup) if "Heartbeat" in i["title"]]
    assert done["state"] == "resolved"


async def test_numbers_no_json_column_keeps_arrive_as_the_text_sent_and_still_page(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    """Python's json module writes NaN, a gauge overflows to 1e400, a counter prints 5,000
    digits: the alert is stored (PostgreSQL's JSON columns refuse such numbers) and pages."""
    created = await integration(client, setup.admin, setup.service["id"], "generic")
    huge = "9" * 5000
    body = (
        '{"summary": "odd numbers", "dedup_key": "odd", "severity": "critical", "details": '
        f'{{"nan": NaN, "up": Infinity, "down": -Infinity, "over": 1e400, "huge": {huge}, '
        '"fine": 1.5, "count": 12}}'
    )
    answer = await client.post(
        "/api/v1/integrations/generic", content=body, headers=bearer(created["key"])
    )
    assert answer.status_code == 202, answer.text
    [incident] = await incidents(client, setup)
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident['id']}")
    assert detail["alerts"][0]["details"] == {
        "nan": "NaN",
        "up": "Infinity",
        "down": "-Infinity",
        "over": "1e400",
        "huge": huge,
        "fine": 1.5,
        "count": 12,
    }
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
