"""Webhooks that arrive together share one transaction (group commit), and each is answered
with its own incidents only after that commit."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.alerts import service as alerts_service
from app.integrations.formats.alertmanager import fingerprint
from tests.engine.conftest import Setup
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine, api, integration

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
    # Twelve new groups, and three more alerts of group g0 that must join its one incident,
    # whichever of g0's four requests comes first.
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
    # At most two lone ones go at once (the idle database's first, and one beside it); the rest
    # gathered while those were held, g0's later requests with the one that opens g0.
    assert together.batches <= 4, "requests that came together shared a commit"

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
    timeline = await api(client, setup.admin, "GET", f"/api/v1/incidents/{g0}/timeline")
    triggered = [e for e in timeline if e["kind"] == "alert_triggered"]
    assert len(triggered) == 4, "each request's alert is on g0's timeline, as if one by one"
    assert [e["kind"] for e in timeline].count("opened") == 1
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


class HeldIngest:
    """The gateway's ingest transactions ``in_flight`` at a time (one unless told), each held
    before it begins until ``release`` is set; ``batches`` notes how many requests each
    carried."""

    def __init__(self, app: Any, in_flight: int = 1) -> None:
        self.together = app.state.gateway._together
        self.together._max_in_flight = in_flight
        self.release = asyncio.Event()
        self.batches: list[int] = []
        commit = self.together._run

        async def held(items: Any) -> Any:
            await self.release.wait()
            self.batches.append(len(items))
            return await commit(items)

        self.together._run = held

    async def until(self, reached: Callable[[Any], bool]) -> None:
        """Wait (the requests reach the queue after their key check) until ``reached``."""
        for _ in range(1_000):
            if reached(self.together):
                return
            await asyncio.sleep(0.005)
        raise AssertionError("the requests did not reach the group commit's queue")

    async def blocker(self, client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
        """A request of another group, in flight and held: what comes next waits behind it."""
        first = asyncio.create_task(client.post(AM, json=webhook("other", "a"), headers=headers))
        await self.until(lambda together: together.in_flight_items == 1)
        return first


async def test_new_alerts_of_one_group_that_share_a_transaction_open_one_incident(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    await setup.only_alice(client)
    headers = {"Authorization": f"Bearer {setup.key}"}
    # One transaction at a time, so that all four wait behind the first and go as one.
    held = HeldIngest(app)
    first = await held.blocker(client, headers)
    bodies = [webhook("g0", f"a{i}") for i in range(4)]
    sending = asyncio.gather(*(client.post(AM, json=b, headers=headers) for b in bodies))
    await held.until(lambda together: together.waiting == len(bodies))
    held.release.set()
    answers = [await first, *await sending]
    assert [a.status_code for a in answers] == [200] * 5
    assert held.batches == [1, 4], "the four requests of g0 shared one transaction"

    created = [a.json()["created_incidents"] for a in answers[1:]]
    assert sorted(len(c) for c in created) == [0, 0, 0, 1], "one of them opened g0's incident"
    (g0,) = next(c for c in created if c)
    assert all(a.json()["incidents"] == [g0] for a in answers[1:]), "the others joined it"
    incident = await api(client, setup.admin, "GET", f"/api/v1/incidents/{g0}")
    assert incident["alert_count"] == 4
    timeline = await api(client, setup.admin, "GET", f"/api/v1/incidents/{g0}/timeline")
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("opened") == 1
    assert kinds.count("alert_triggered") == 4

    await engine.tick()
    for _ in range(2):  # g0 and "other", once each
        await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    paged = sorted(r.json["incident"]["incident_id"] for r in webhook_receiver.events)
    assert paged == sorted([g0, answers[0].json()["created_incidents"][0]])


async def test_a_trigger_after_a_resolve_of_its_group_waits_for_it(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    """A request that resolves shares no transaction with its group's triggers: whether the
    group's incident is still open for a trigger depends on which of the two came first."""
    await setup.only_alice(client)
    headers = {"Authorization": f"Bearer {setup.key}"}
    opened = await client.post(AM, json=webhook("g1", "a"), headers=headers)
    (incident_id,) = opened.json()["created_incidents"]
    held = HeldIngest(app)
    first = await held.blocker(client, headers)
    resolved = webhook("g1", "a")
    resolved["status"] = "resolved"
    resolved["alerts"][0]["status"] = "resolved"
    resolved["alerts"][0]["endsAt"] = "2026-03-14T09:30:00Z"
    resolving = asyncio.create_task(client.post(AM, json=resolved, headers=headers))
    await held.until(lambda together: together.waiting == 1)
    again = asyncio.create_task(client.post(AM, json=webhook("g1", "b"), headers=headers))
    await held.until(lambda together: together.waiting == 2)
    held.release.set()
    answers = [await first, await resolving, await again]
    assert [a.status_code for a in answers] == [200] * 3
    assert held.batches == [1, 1, 1], "the resolve went alone, and the trigger after it"
    assert answers[1].json()["alerts"]["resolved"] == 1
    incident = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    assert incident["state"] == "resolved", "its last alert resolved at the source"
    (reopened,) = answers[2].json()["created_incidents"]
    assert reopened != incident_id, "the trigger after the resolve opened a new incident"

    await engine.tick()
    for _ in range(2):  # "other" and g1's second; the first resolved before its page went
        await webhook_receiver.expect_event(path="/alice")
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    paged = sorted(r.json["incident"]["incident_id"] for r in webhook_receiver.events)
    assert paged == sorted([answers[0].json()["created_incidents"][0], reopened])


async def test_an_acknowledgement_and_a_join_of_one_incident_in_one_transaction_both_hold(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    """A source's acknowledgement (which loads the incident) and a new alert joining the same
    incident (which counts it with a statement of its own) share a transaction: the incident
    ends acknowledged, counting both alerts, with both on its timeline."""
    await setup.only_alice(client)
    headers = {"Authorization": f"Bearer {setup.key}"}
    generic = await integration(client, setup.admin, setup.service["id"], "generic")
    first_alert = webhook("g2", "a")
    opened = await client.post(AM, json=first_alert, headers=headers)
    (incident_id,) = opened.json()["created_incidents"]
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")

    held = HeldIngest(app)
    first = await held.blocker(client, headers)
    acknowledging = asyncio.create_task(
        client.post(
            "/api/v1/integrations/generic",
            json={"action": "acknowledge", "dedup_key": first_alert["alerts"][0]["fingerprint"]},
            headers={"Authorization": f"Bearer {generic['key']}"},
        )
    )
    await held.until(lambda together: together.waiting == 1)
    joining = asyncio.create_task(client.post(AM, json=webhook("g2", "b"), headers=headers))
    await held.until(lambda together: together.waiting == 2)
    held.release.set()
    answers = [await first, await acknowledging, await joining]
    assert [a.status_code for a in answers] == [200, 202, 200]
    assert held.batches == [1, 2], "the acknowledgement and the join shared a transaction"
    assert answers[1].json()["alerts"]["acknowledged"] == 1
    assert answers[2].json()["incidents"] == [incident_id]

    incident = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    assert (incident["state"], incident["alert_count"]) == ("acknowledged", 2)
    timeline = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}/timeline")
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("alert_triggered") == 2 and kinds.count("acknowledged") == 1

    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")  # "other"'s page; g2 is acknowledged
    await engine.drain()
    webhook_receiver.assert_nothing_sent()


async def test_joins_of_an_open_group_run_in_two_transactions_at_once_and_both_count(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    """Two requests joining a group whose incident is open go in two transactions at once (the
    incident's row lock orders them in the database): both alerts count, both are on the
    timeline, and nobody is paged again."""
    await setup.only_alice(client)
    headers = {"Authorization": f"Bearer {setup.key}"}
    opened = await client.post(AM, json=webhook("g3", "a"), headers=headers)
    (incident_id,) = opened.json()["created_incidents"]
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")

    held = HeldIngest(app, in_flight=2)
    joining = [
        asyncio.create_task(client.post(AM, json=webhook("g3", alert), headers=headers))
        for alert in ("b", "c")
    ]
    await held.until(lambda together: together.in_flight_items == 2)
    assert held.together.waiting == 0, "the second did not wait for the first's commit"
    held.release.set()
    answers = [await t for t in joining]
    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["incidents"] for a in answers] == [[incident_id]] * 2
    assert [a.json()["created_incidents"] for a in answers] == [[], []]

    incident = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}")
    assert incident["alert_count"] == 3
    timeline = await api(client, setup.admin, "GET", f"/api/v1/incidents/{incident_id}/timeline")
    kinds = [e["kind"] for e in timeline]
    assert kinds.count("alert_triggered") == 3 and kinds.count("opened") == 1
    await engine.tick()
    await engine.drain()
    webhook_receiver.assert_nothing_sent()


async def test_joins_of_a_group_closed_elsewhere_at_once_open_one_incident(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The gateway took the group for open, but someone resolved its incident in the web UI:
    the two transactions at once both find no open incident, the one that opens it wins and
    the other goes again alone and joins it. One incident, both alerts, one page."""
    await setup.only_alice(client)
    headers = {"Authorization": f"Bearer {setup.key}"}
    opened = await client.post(AM, json=webhook("g4", "a"), headers=headers)
    (closed,) = opened.json()["created_incidents"]
    await engine.tick()
    await webhook_receiver.expect_event(path="/alice")
    await api(client, setup.alice, "POST", f"/api/v1/incidents/{closed}/resolve", json={})

    held = HeldIngest(app, in_flight=2)
    gateway = app.state.gateway
    transactions = 0
    one_transaction = gateway._ingest_in_one_transaction

    async def counted(items: Any) -> Any:
        nonlocal transactions
        transactions += 1
        return await one_transaction(items)

    gateway._ingest_in_one_transaction = counted
    postgresql = app.state.db.dialect == "postgresql"
    if postgresql:
        # Both look the group up before either opens it (else the second might start after
        # the first's commit and simply join). SQLite's writers take turns: no such moment.
        looked_up, both = 0, asyncio.Event()
        look_up = alerts_service._open_group_incidents

        async def in_step(*args: Any) -> Any:
            nonlocal looked_up
            found = await look_up(*args)
            looked_up += 1
            if looked_up == 2:
                both.set()
            if looked_up <= 2:
                await asyncio.wait_for(both.wait(), timeout=10)
            return found

        monkeypatch.setattr(alerts_service, "_open_group_incidents", in_step)
    joining = [
        asyncio.create_task(client.post(AM, json=webhook("g4", alert), headers=headers))
        for alert in ("b", "c")
    ]
    await held.until(lambda together: together.in_flight_items == 2)
    held.release.set()
    answers = [await t for t in joining]
    # On PostgreSQL the loser's insert met the winner's incident in the unique index and went
    # again alone; on SQLite the second found the incident open.
    assert transactions == (3 if postgresql else 2)
    assert [a.status_code for a in answers] == [200, 200]
    created = [a.json()["created_incidents"] for a in answers]
    assert sorted(len(c) for c in created) == [0, 1], "one of them opened the group's incident"
    (reopened,) = next(c for c in created if c)
    assert reopened != closed
    assert [a.json()["incidents"] for a in answers] == [[reopened]] * 2

    incident = await api(client, setup.admin, "GET", f"/api/v1/incidents/{reopened}")
    assert (incident["state"], incident["alert_count"]) == ("triggered", 2)
    await engine.tick()
    page = await webhook_receiver.expect_event(path="/alice")
    assert page.json["incident"]["incident_id"] == reopened
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
