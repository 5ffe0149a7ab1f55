"""PagerDuty change events as deploys: the official client over HTTP, PagerDuty's answers and
error shape, idempotence, the limits, and that a change event pages nobody."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pagerduty
import pytest

from app.core.clock import ManualClock
from tests.factories import Factory
from tests.fakes.webhook import WebhookReceiver
from tests.integrations.live_server import Served, served
from tests.paging import Engine, add_contact, api, fixture_json, integration
from tests.worlds import PaymentsWorld, build_payments_world

CHANGE = "/api/v1/integrations/pagerduty/v2/change/enqueue"
# The fixture's timestamp; the clock stands five minutes after it.
DEPLOYED_AT = datetime(2026, 3, 14, 9, 12, 7, tzinfo=UTC)
ACCEPTED = {"status": "success", "message": "Change event processed"}


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    factory: Factory,
    webhook_receiver: WebhookReceiver,
    clock: ManualClock,
) -> PaymentsWorld:
    """payments-api with Alice and Bob on webhook pagers: anything paged would show."""
    built = await build_payments_world(client, factory)
    for name, user in built.members.items():
        await add_contact(
            client, built.admin, user.id, "webhook", webhook_receiver.url_for(f"/{name.lower()}")
        )
    clock.set(DEPLOYED_AT + timedelta(minutes=5))
    return built


@pytest.fixture
async def routing_key(client: httpx.AsyncClient, world: PaymentsWorld) -> str:
    return str((await integration(client, world.admin, world.service["id"], "pagerduty"))["key"])


def change_event(routing_key: str, **payload: Any) -> dict[str, Any]:
    event = fixture_json("pagerduty/change_event.json")
    event["routing_key"] = routing_key
    event["payload"].update(payload)
    return event


async def deploys(client: httpx.AsyncClient, world: PaymentsWorld) -> list[dict[str, Any]]:
    page = await api(
        client,
        world.admin,
        "GET",
        "/api/v1/deployments",
        params={"service_id": world.service["id"]},
    )
    return page["items"]


async def nobody_paged(
    client: httpx.AsyncClient,
    world: PaymentsWorld,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
    page = await api(client, world.admin, "GET", "/api/v1/incidents")
    assert page["items"] == [], "a change event opens no incident"


@pytest.fixture
def engine(app, db, clock: ManualClock) -> Engine:
    return Engine(app, db, clock)


def pipeline_client(baton: Served, routing_key: str) -> pagerduty.EventsApiV2Client:
    """What a pipeline holds: the official client, its base URL Baton's instead of
    https://events.pagerduty.com (the client appends /v2/change/enqueue)."""
    return pagerduty.EventsApiV2Client(
        routing_key, base_url=f"{baton.url}/api/v1/integrations/pagerduty", verify=baton.trust
    )


async def test_the_official_client_reports_a_deploy_as_a_pipeline_would(
    app,
    tmp_path: Path,
    client: httpx.AsyncClient,
    world: PaymentsWorld,
    routing_key: str,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    sent = fixture_json("pagerduty/change_event.json")
    async with served(app, tmp_path) as baton:
        with pipeline_client(baton, routing_key) as pipeline:
            for _ in range(2):  # a retried step sends the same event again
                await asyncio.to_thread(
                    pipeline.send_change_event, payload=sent["payload"], links=sent["links"]
                )

    [deploy] = await deploys(client, world)
    assert deploy["source"] == "pagerduty"
    assert deploy["service_name"] == "payments-api"
    assert deploy["version"] == "v2.14.3"
    assert deploy["environment"] == "prod"
    assert deploy["commit_sha"] == "3f9c2ab71e0d4c58a6b2e91d07c4f5e8a1b2c3d4"
    assert deploy["deployer_name"] == "alice.nguyen"
    assert deploy["deployer_user_id"] is None, "no Baton user by that name"
    assert deploy["status"] == "succeeded"
    assert deploy["summary"] == sent["payload"]["summary"]
    assert datetime.fromisoformat(deploy["started_at"]) == DEPLOYED_AT
    assert datetime.fromisoformat(deploy["finished_at"]) == DEPLOYED_AT
    assert deploy["links"] == sent["links"]
    assert deploy["details"]["source"] == "deploy-pipeline/payments-api"
    assert deploy["details"]["custom_details"]["pipeline_run"] == "4711"
    assert deploy["external_id"].startswith("pagerduty:")
    await nobody_paged(client, world, engine, webhook_receiver)


async def test_the_official_client_is_told_what_was_wrong(
    app, tmp_path: Path, client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str
) -> None:
    tomorrow = (DEPLOYED_AT + timedelta(days=2)).isoformat()
    async with served(app, tmp_path) as baton:
        with (
            pipeline_client(baton, routing_key) as pipeline,
            pytest.raises(pagerduty.HttpError) as raised,
        ):
            await asyncio.to_thread(
                pipeline.send_change_event,
                payload={"summary": "Deploy v9", "timestamp": tomorrow},
            )
    assert raised.value.response.status_code == 400
    assert raised.value.response.json()["code"] == "timestamp_in_future"
    assert await deploys(client, world) == []


async def test_answers_as_pagerduty_does(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str
) -> None:
    answer = await client.post(CHANGE, json=change_event(routing_key))
    assert answer.status_code == 202
    assert answer.json() == ACCEPTED
    repeat = await client.post(CHANGE, json=change_event(routing_key))
    assert (repeat.status_code, repeat.json()) == (202, ACCEPTED), "a repeat is accepted too"
    assert len(await deploys(client, world)) == 1, "and changes nothing"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda e: e["payload"].pop("summary"), "'payload.summary' is missing or blank"),
        (
            lambda e: e["payload"].update(summary="x" * 1025),
            "'payload.summary' is longer than 1024 characters",
        ),
        (lambda e: e.pop("payload"), "'payload' is missing or not an object"),
        (lambda e: e.pop("routing_key"), "'routing_key' is missing or blank"),
        (
            lambda e: e["payload"].update(timestamp="yesterday"),
            "'payload.timestamp' payload.timestamp is not an RFC 3339 timestamp: 'yesterday'",
        ),
        (
            lambda e: e["payload"].update(custom_details=["v1"]),
            "'payload.custom_details' must be an object",
        ),
        (lambda e: e.update(links={"href": "https://x"}), "'links' must be a list"),
        (
            lambda e: e["payload"]["custom_details"].update(external_id="x" * 256),
            "'payload.custom_details.external_id' must be a string of 1 to 255 characters",
        ),
    ],
)
async def test_an_invalid_event_is_refused_in_pagerduty_s_shape(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str, change: Any, error: str
) -> None:
    event = change_event(routing_key)
    change(event)
    answer = await client.post(CHANGE, json=event)
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "invalid event"
    assert body["code"] == "invalid_event"
    assert body["message"] == "Event object is invalid"
    assert error in body["errors"]
    assert await deploys(client, world) == []


async def test_a_summary_of_exactly_1024_characters_is_accepted(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str
) -> None:
    answer = await client.post(CHANGE, json=change_event(routing_key, summary="s" * 1024))
    assert answer.status_code == 202
    [deploy] = await deploys(client, world)
    assert deploy["summary"] == "s" * 1024


async def test_an_unknown_or_heartbeat_key_is_refused_as_pagerduty_refuses_it(
    client: httpx.AsyncClient, world: PaymentsWorld
) -> None:
    heartbeat = await integration(
        client, world.admin, world.service["id"], "heartbeat", heartbeat_interval_seconds=60
    )
    for key in ("u" * 32, heartbeat["key"]):
        answer = await client.post(CHANGE, json=change_event(key))
        assert answer.status_code == 400
        assert answer.json()["errors"] == ["Invalid routing key"]
        assert answer.json()["code"] == "invalid_routing_key"
    assert await deploys(client, world) == []


async def test_any_other_key_of_the_service_reports_its_deploys(
    client: httpx.AsyncClient, world: PaymentsWorld
) -> None:
    # The world's generic alert key: a pipeline needs no second key for change events.
    answer = await client.post(CHANGE, json=change_event(world.key))
    assert answer.status_code == 202
    [deploy] = await deploys(client, world)
    assert deploy["service_id"] == world.service["id"]


async def test_a_timestamp_more_than_a_day_ahead_is_refused(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str, clock: ManualClock
) -> None:
    ahead = clock.now() + timedelta(days=1, minutes=1)
    answer = await client.post(CHANGE, json=change_event(routing_key, timestamp=ahead.isoformat()))
    assert answer.status_code == 400
    assert answer.json()["code"] == "timestamp_in_future"
    assert answer.json()["status"] == "invalid event"
    assert await deploys(client, world) == []
    # A CI runner's clock a few hours fast is not a mistake.
    hours = clock.now() + timedelta(hours=3)
    ok = await client.post(CHANGE, json=change_event(routing_key, timestamp=hours.isoformat()))
    assert ok.status_code == 202


async def test_custom_details_have_the_same_limits_as_alerts(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str
) -> None:
    deep: Any = "bottom"
    for _ in range(70):
        deep = {"d": deep}
    answer = await client.post(CHANGE, json=change_event(routing_key, custom_details=deep))
    assert answer.status_code == 400
    assert answer.json()["status"] == "invalid event"
    assert "nests deeper than 64 levels" in answer.json()["detail"]
    huge = change_event(routing_key, custom_details={"log": "x" * (1024 * 1024)})
    too_big = await client.post(CHANGE, content=json.dumps(huge))
    assert too_big.status_code == 413
    assert await deploys(client, world) == []


async def test_the_deploy_s_fields_come_from_common_custom_details_names(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str
) -> None:
    answer = await client.post(
        CHANGE,
        json={
            "routing_key": routing_key,
            "payload": {
                "summary": "Released payments",
                "timestamp": DEPLOYED_AT.isoformat(),
                "custom_details": {
                    "release": 42,
                    "sha": "ABCDEF1",
                    "env": "staging",
                    "deployer": "alice@example.com",
                    "repo": "https://git.example.com/payments",
                },
            },
            "links": [
                {"href": "javascript:alert(1)", "text": "never a link"},
                {"href": "https://ci.example.com/run/9"},
                "not a link",
            ],
        },
    )
    assert answer.status_code == 202
    [deploy] = await deploys(client, world)
    assert deploy["version"] == "42"
    assert deploy["commit_sha"] == "abcdef1"
    assert deploy["environment"] == "staging"
    assert deploy["deployer_user_id"] == world.alice.id, "a Baton user's e-mail is that user"
    assert deploy["repository_url"] == "https://git.example.com/payments"
    assert deploy["links"] == [{"href": "https://ci.example.com/run/9", "text": ""}]


@pytest.mark.parametrize(
    ("summary", "version"),
    [
        ("Deploy payments-api v1.4.2 to prod (canary 10%)", "v1.4.2"),
        ("payments 2.14.3-rc.1 rolled out", "2.14.3-rc.1"),
        ("Config update: raise pool size", "Config update: raise pool size"),
    ],
)
async def test_without_a_version_the_summary_gives_one(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str, summary: str, version: str
) -> None:
    event = change_event(routing_key, summary=summary)
    del event["payload"]["custom_details"]["version"]
    assert (await client.post(CHANGE, json=event)).status_code == 202
    [deploy] = await deploys(client, world)
    assert deploy["version"] == version


async def test_an_external_id_makes_one_deploy_of_a_start_and_its_outcome(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str
) -> None:
    started = change_event(routing_key, timestamp=DEPLOYED_AT.isoformat())
    started["payload"]["custom_details"].update(external_id="run-4711", status="started")
    assert (await client.post(CHANGE, json=started)).status_code == 202
    [deploy] = await deploys(client, world)
    assert (deploy["status"], deploy["finished_at"]) == ("started", None)
    assert deploy["external_id"] == "run-4711"

    finished = copy.deepcopy(started)
    finished["payload"]["timestamp"] = (DEPLOYED_AT + timedelta(minutes=4)).isoformat()
    finished["payload"]["custom_details"]["status"] = "success"
    assert (await client.post(CHANGE, json=finished)).status_code == 202
    [deploy] = await deploys(client, world)
    assert deploy["status"] == "succeeded"
    assert datetime.fromisoformat(deploy["started_at"]) == DEPLOYED_AT
    assert datetime.fromisoformat(deploy["finished_at"]) == DEPLOYED_AT + timedelta(minutes=4)


async def test_without_a_timestamp_each_event_is_a_deploy_of_its_own(
    client: httpx.AsyncClient, world: PaymentsWorld, routing_key: str, clock: ManualClock
) -> None:
    event = change_event(routing_key)
    del event["payload"]["timestamp"]
    assert (await client.post(CHANGE, json=event)).status_code == 202
    clock.advance(hours=2)
    assert (await client.post(CHANGE, json=event)).status_code == 202
    later, first = await deploys(client, world)
    assert datetime.fromisoformat(first["started_at"]) == clock.now() - timedelta(hours=2)
    assert datetime.fromisoformat(later["started_at"]) == clock.now()
    assert first["external_id"] is None
    assert later["previous_version"] == "v2.14.3", "the same version deployed again"
