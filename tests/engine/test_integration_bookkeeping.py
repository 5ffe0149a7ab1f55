"""What Baton records about a source: when a key was used, when an alert really ended, and
when an incident last changed."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.core.clock import ManualClock
from tests.engine.conftest import Setup
from tests.paging import api, fixture_json, integration

AM = "/api/v1/integrations/alertmanager"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _integrations(client: httpx.AsyncClient, setup: Setup) -> dict[int, dict[str, Any]]:
    path = f"/api/v1/services/{setup.service['id']}/integrations"
    return {i["id"]: i for i in await api(client, setup.admin, "GET", path)}


async def test_every_heartbeat_ping_records_that_the_key_was_used(
    client: httpx.AsyncClient, setup: Setup, clock: ManualClock
) -> None:
    beat = await integration(
        client, setup.admin, setup.service["id"], "heartbeat", heartbeat_interval_seconds=300
    )
    assert (await _integrations(client, setup))[beat["id"]]["last_used_at"] is None
    for _ in range(3):
        clock.advance(seconds=20)
        ping = await client.post(f"/api/v1/heartbeat/{beat['key']}")
        assert ping.status_code == 200, ping.text
        seen = (await _integrations(client, setup))[beat["id"]]
        assert _at(seen["last_used_at"]) == clock.now()
        assert _at(seen["last_ping_at"]) == clock.now()


async def test_a_resolved_alertmanager_alert_keeps_its_real_end(
    client: httpx.AsyncClient, setup: Setup, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    firing = await client.post(
        AM, json=fixture_json("alertmanager/firing.json"), headers=_bearer(setup.key)
    )
    assert firing.status_code == 200, firing.text
    [incident_id] = firing.json()["incidents"]
    # Alertmanager tells us a few minutes after the alert ended (group_interval).
    clock.set(datetime(2026, 3, 14, 9, 45, tzinfo=UTC))
    resolved_body = fixture_json("alertmanager/resolved.json")
    resolved = await client.post(AM, json=resolved_body, headers=_bearer(setup.key))
    assert resolved.json()["alerts"]["resolved"] == 1
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    [alert] = detail["alerts"]
    ends_at = resolved_body["alerts"][0]["endsAt"]
    assert (
        _at(alert["resolved_at"])
        == _at(ends_at)
        == datetime(2026, 3, 14, 9, 41, 23, 512000, tzinfo=UTC)
    )
    assert alert["details"]["endsAt"] == ends_at
    assert _at(alert["last_seen_at"]) == clock.now(), "when Baton heard it stays recorded"
    assert _at(detail["resolved_at"]) == clock.now()


async def test_an_end_in_the_future_is_clamped_to_now(
    client: httpx.AsyncClient, setup: Setup, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 14, 9, 30, tzinfo=UTC))
    await client.post(AM, json=fixture_json("alertmanager/firing.json"), headers=_bearer(setup.key))
    clock.set(datetime(2026, 3, 14, 9, 41, tzinfo=UTC))  # the sender's clock runs ahead
    resolved = await client.post(
        AM, json=fixture_json("alertmanager/resolved.json"), headers=_bearer(setup.key)
    )
    [incident_id] = resolved.json()["incidents"]
    detail = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    assert _at(detail["alerts"][0]["resolved_at"]) == clock.now()


async def test_an_incident_changes_when_one_of_its_alerts_resolves(
    client: httpx.AsyncClient, setup: Setup, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 14, 10, 3, tzinfo=UTC))
    grouped = fixture_json("alertmanager/grouped_firing_3_alerts.json")
    opened = await client.post(AM, json=grouped, headers=_bearer(setup.key))
    [incident_id] = opened.json()["incidents"]
    before = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    assert _at(before["updated_at"]) == clock.now()

    clock.advance(timedelta(minutes=4))
    one_resolved = copy.deepcopy(grouped)
    one_resolved["alerts"][0] |= {"status": "resolved", "endsAt": "2026-03-14T10:05:00Z"}
    answer = await client.post(AM, json=one_resolved, headers=_bearer(setup.key))
    assert answer.json()["alerts"] == {
        "triggered": 0,
        "repeated": 2,
        "resolved": 1,
        "acknowledged": 0,
        "ignored": 0,
    }
    after = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    assert after["state"] == "triggered", "two alerts still fire"
    assert _at(after["updated_at"]) == clock.now()
    ended = [a for a in after["alerts"] if a["status"] == "resolved"]
    assert [_at(a["resolved_at"]) for a in ended] == [datetime(2026, 3, 14, 10, 5, tzinfo=UTC)]


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
