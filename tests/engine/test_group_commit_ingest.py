"""Webhooks that arrive together share one transaction (group commit), and each is answered
with its own incidents only after that commit."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.integrations.formats.alertmanager import fingerprint
from tests.engine.conftest import Setup
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, api

AM = "/api/v1/integrations/alertmanager"


def webhook(group: str, alert: str) -> dict[str, Any]:
    labels = {"alertname": "Storm", "service": "payments-api", "group": group, "alert": alert}
    return {
        "receiver": "baton",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"{group}/{alert} is down"},
                "startsAt": "2026-03-14T09:26:53.512Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": fingerprint(labels),
            }
        ],
        "groupLabels": {"group": group},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "version": "4",
        "groupKey": f"group-{group}",
        "truncatedAlerts": 0,
    }


async def test_a_storm_of_webhooks_shares_transactions_and_pages_for_each_incident(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    await setup.only_alice(client)
    headers = {"Authorization": f"Bearer {setup.key}"}
    # Twelve new groups, and three more alerts of group g0 that must join its one incident.
    bodies = [webhook(f"g{i}", "a") for i in range(12)]
    bodies += [webhook("g0", f"extra{i}") for i in range(3)]
    together = app.state.gateway._together
    # Hold the first transaction until every request is waiting, as under a real storm.
    release = asyncio.Event()
    commit = together._run

    async def held(items: Any) -> Any:
        await release.wait()
        return await commit(items)

    together._run = held
    sending = asyncio.gather(*(client.post(AM, json=b, headers=headers) for b in bodies))
    # The requests reach the queue after their key check, which reads the database on threads.
    for _ in range(1_000):
        if together.waiting + together.in_flight_items == len(bodies):
            break
        await asyncio.sleep(0.005)
    assert together.waiting + together.in_flight_items == len(bodies)
    release.set()
    answers = await sending
    assert [a.status_code for a in answers] == [200] * len(bodies)

    assert together.items == len(bodies)
    # g0's four requests each need a transaction of their own, one after the other.
    assert 4 <= together.batches < len(bodies), "requests that came together shared a commit"

    created = [a.json()["created_incidents"] for a in answers]
    assert all(len(c) == 1 for c in created[:12]), "each new group opened its own incident"
    assert len({c[0] for c in created[:12]}) == 12
    g0 = created[0][0]
    for answer in answers[12:]:
        assert answer.json()["created_incidents"] == []
        assert answer.json()["incidents"] == [g0], "the later alerts joined g0's incident"

    listed = await api(client, setup.admin, "GET", "/api/v1/incidents", params={"limit": 50})
    by_id = {i["id"]: i for i in listed["items"]}
    assert len(by_id) == 12
    assert by_id[g0]["alert_count"] == 4
    for answer, body in zip(answers[:12], bodies[:12], strict=True):
        incident = by_id[answer.json()["created_incidents"][0]]
        assert body["groupLabels"]["group"] in incident["title"], "each answer names its own"

    await engine.tick()
    for _ in range(12):
        await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    paged = {r.json["incident"]["incident_id"] for r in webhook_receiver.events}
    assert paged == set(by_id), "every incident paged Alice once"
