"""The gateway keeps each service's policy snapshot between requests (a storm's batches read
it once); a policy change committed in this process reaches the very next alert."""

from __future__ import annotations

import json

import httpx

from tests.engine.conftest import Setup
from tests.engine.test_group_commit_ingest import AM, webhook
from tests.fakes.webhook import WebhookReceiver, WebhookRecord
from tests.paging import Engine, api


async def alert(client: httpx.AsyncClient, setup: Setup, group: str) -> int:
    response = await client.post(
        AM, json=webhook(group, "a"), headers={"Authorization": f"Bearer {setup.key}"}
    )
    assert response.status_code == 200, response.text
    (incident,) = response.json()["created_incidents"]
    return int(incident)


def paged(record: WebhookRecord) -> int:
    return int(json.loads(record.body)["incident"]["incident_id"])


async def test_a_changed_policy_pages_along_the_new_one_at_once(
    client: httpx.AsyncClient, setup: Setup, engine: Engine, webhook_receiver: WebhookReceiver
) -> None:
    first = await alert(client, setup, "before")
    await engine.drain()
    assert paged(await webhook_receiver.expect_event(path="/alice")) == first

    await api(
        client,
        setup.admin,
        "PATCH",
        f"/api/v1/escalation-policies/{setup.policy['id']}",
        json={
            "steps": [{"delay_minutes": 5, "targets": [{"kind": "user", "user_id": setup.bob.id}]}]
        },
    )
    second = await alert(client, setup, "after")
    await engine.drain()
    assert paged(await webhook_receiver.expect_event(path="/bob")) == second
    webhook_receiver.assert_nothing_sent()
