"""The deploy watch through the API: a deploy reported, an incident opened in its window names
it (timeline, pages), the deployer hears of it, a responder judges it, the verdict follows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.clock import ManualClock
from app.core.db import Database
from app.notify.models import Notification
from app.people.models import ContactType
from tests.factories import Actor, Factory
from tests.paging import Engine, api
from tests.worlds import PaymentsWorld, build_payments_world

DEPLOYS = "/api/v1/deployments"


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> PaymentsWorld:
    built = await build_payments_world(client, factory, members=("Alice", "Bob", "Dina"))
    for name, person in built.members.items():
        method = await factory.contact_method(
            person.id, ContactType.EMAIL, f"{name.lower()}@example.com"
        )
        for urgency in ("high", "low"):
            await api(
                client,
                built.admin,
                "POST",
                f"/api/v1/users/{person.id}/notification-rules",
                json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": urgency},
            )
    return built


async def _deploy(world: PaymentsWorld, by: Actor | None = None, **body: Any) -> dict[str, Any]:
    actor = by or world.admin
    answer = await world.client.post(
        DEPLOYS,
        headers=actor.headers,
        json={"service": "payments-api", "environment": "production", **body},
    )
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


async def _verdict(world: PaymentsWorld, deployment_id: int) -> dict[str, Any]:
    return await api(world.client, world.admin, "GET", f"{DEPLOYS}/{deployment_id}/verdict")


async def _outbox(db: Database, incident_id: int) -> list[Notification]:
    async with db.new_session() as session:
        rows = await session.scalars(
            select(Notification)
            .where(Notification.incident_id == incident_id)
            .order_by(Notification.id)
        )
        return list(rows)


async def test_an_incident_in_the_watch_names_the_deploy_and_tells_the_deployer(
    world: PaymentsWorld, clock: ManualClock, db: Database
) -> None:
    await _deploy(world, version="v1.4.1", deployer="dina@example.com")
    clock.advance(timedelta(hours=2))
    deploy = await _deploy(
        world, version="v1.4.2", deployer="dina@example.com", commit_sha="3F9C2AB"
    )
    assert deploy["previous_version"] == "v1.4.1"
    assert deploy["deployer_user_id"] == world.members["Dina"].id
    assert deploy["commit_sha"] == "3f9c2ab"
    assert (await _verdict(world, deploy["id"]))["verdict"] == "clean"

    clock.advance(timedelta(minutes=12))
    incident_id = await world.fire()

    kinds = [e["kind"] for e in await world.timeline(incident_id)]
    assert kinds[:3] == ["opened", "deploy_nearby", "escalated"]
    nearby = (await world.timeline(incident_id, "deploy_nearby"))[0]
    assert nearby["event"]["version"] == "v1.4.2"
    assert nearby["event"]["previous_version"] == "v1.4.1"
    assert nearby["event"]["minutes_before"] == 12
    assert nearby["event"]["deployer_told"] == "notify"
    assert nearby["message"] == (
        "Opened after deploy v1.4.2 to production by Dina 12 min before (previous v1.4.1); "
        "Dina told"
    )

    outbox = await _outbox(db, incident_id)
    alice_page = next(n for n in outbox if n.user_id == world.alice.id)
    assert "after deploy v1.4.2 by Dina 12 min ago (previous v1.4.1)" in alice_page.body
    assert alice_page.context["deploy"]["deployment_id"] == deploy["id"]
    fyi = [n for n in outbox if n.user_id == world.members["Dina"].id]
    assert [(n.kind, n.contact_type) for n in fyi] == [("info", ContactType.EMAIL)]
    assert "opened after your deploy v1.4.2" in fyi[0].subject

    verdict = await _verdict(world, deploy["id"])
    assert verdict["verdict"] == "suspect"
    assert [i["incident_id"] for i in verdict["incidents"]] == [incident_id]
    incident = await world.incident(incident_id)
    assert incident["nearby_deploy"]["version"] == "v1.4.2"


async def test_confirming_the_cause_fails_the_deploy_and_rejecting_clears_it(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    deploy = await _deploy(world, version="v2.0.0")
    clock.advance(timedelta(minutes=3))
    incident_id = await world.fire()
    path = f"/api/v1/incidents/{incident_id}/deploys/{deploy['id']}"

    confirmed = await world.client.post(
        f"{path}/confirm", headers=world.alice.headers, json={"note": "the migration"}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["nearby_deploy"]["verdict"] == "confirmed"
    verdict = await _verdict(world, deploy["id"])
    assert (verdict["verdict"], verdict["failed_change"]) == ("failed", True)
    assert verdict["incidents"][0]["judged_by_id"] == world.alice.id
    # The same judgement again is not news; the other one corrects it.
    await api(world.client, world.alice, "POST", f"{path}/confirm")
    assert len(await world.timeline(incident_id, "deploy_confirmed")) == 1
    await api(world.client, world.alice, "POST", f"{path}/reject")
    verdict = await _verdict(world, deploy["id"])
    assert (verdict["verdict"], verdict["failed_change"]) == ("clean", False)
    rejected = (await world.timeline(incident_id, "deploy_rejected"))[0]
    assert rejected["message"] == "Alice judged deploy v2.0.0 not related via api"


async def test_recovery_ends_when_the_caused_incident_resolves(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    deploy = await _deploy(world, version="v3.0.0")
    clock.advance(timedelta(minutes=5))
    incident_id = await world.fire()
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/incidents/{incident_id}/deploys/{deploy['id']}/confirm",
    )
    assert (await _verdict(world, deploy["id"]))["recovered_at"] is None
    clock.advance(timedelta(minutes=20))
    resolved_at = clock.now()
    await api(world.client, world.alice, "POST", f"/api/v1/incidents/{incident_id}/resolve")
    # Judging after the incident is resolved is still allowed (reviews come later).
    verdict = await _verdict(world, deploy["id"])
    assert verdict["recovered_at"] == resolved_at.isoformat().replace("+00:00", "Z")


async def test_a_later_successful_deploy_ends_recovery_first(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    deploy = await _deploy(world, version="v3.0.0")
    clock.advance(timedelta(minutes=5))
    incident_id = await world.fire()
    await api(
        world.client,
        world.alice,
        "POST",
        f"/api/v1/incidents/{incident_id}/deploys/{deploy['id']}/confirm",
    )
    clock.advance(timedelta(minutes=7))
    fixed_at = clock.now()
    await _deploy(world, version="v3.0.1")
    verdict = await _verdict(world, deploy["id"])
    assert verdict["recovered_at"] == fixed_at.isoformat().replace("+00:00", "Z")


async def test_outside_the_window_nothing_is_linked(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    deploy = await _deploy(world, version="v1.0.0")
    clock.advance(timedelta(minutes=31))
    incident_id = await world.fire()
    assert await world.timeline(incident_id, "deploy_nearby") == []
    verdict = await _verdict(world, deploy["id"])
    assert (verdict["verdict"], verdict["watching"]) == ("clean", False)


async def test_the_window_includes_its_last_minute_and_a_running_deploy(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    started = await _deploy(world, version="v5.0.0", status="started", external_id="run-9")
    clock.advance(timedelta(hours=2))
    first = await world.fire(dedup_key="a")
    assert len(await world.timeline(first, "deploy_nearby")) == 1  # still running
    finished = await api(
        world.client,
        world.admin,
        "PATCH",
        f"{DEPLOYS}/{started['id']}",
        json={"status": "succeeded"},
    )
    assert finished["status"] == "succeeded"
    clock.advance(timedelta(minutes=30))
    second = await world.fire(dedup_key="b")
    assert len(await world.timeline(second, "deploy_nearby")) == 1  # exactly 30 min after


async def test_the_deployer_is_paged_when_the_service_says_page(
    world: PaymentsWorld, clock: ManualClock, db: Database
) -> None:
    await api(
        world.client,
        world.admin,
        "PATCH",
        f"/api/v1/services/{world.service['id']}",
        json={"deployer_notice": "page"},
    )
    await _deploy(world, version="v6.0.0", deployer="dina@example.com")
    clock.advance(timedelta(minutes=1))
    incident_id = await world.fire()
    paged = await world.timeline(incident_id, "paged")
    assert [e["event"]["user_id"] for e in paged] == [world.members["Dina"].id]
    outbox = await _outbox(db, incident_id)
    dina = [n for n in outbox if n.user_id == world.members["Dina"].id]
    assert [n.kind for n in dina] == ["page"]


async def test_the_deployer_on_call_is_not_told_twice(
    world: PaymentsWorld, clock: ManualClock, db: Database
) -> None:
    await _deploy(world, version="v7.0.0", deployer="alice@example.com")
    clock.advance(timedelta(minutes=1))
    incident_id = await world.fire()
    nearby = (await world.timeline(incident_id, "deploy_nearby"))[0]
    assert nearby["event"]["deployer_told"] == "responder"
    outbox = await _outbox(db, incident_id)
    assert [n.kind for n in outbox if n.user_id == world.alice.id] == ["page"]


async def test_repeats_change_nothing_and_outcomes_move_forward_only(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    first = await world.client.post(
        DEPLOYS,
        headers=world.admin.headers,
        json={
            "service": "payments-api",
            "version": "v1",
            "external_id": "ci-1",
            "status": "started",
        },
    )
    assert first.status_code == 201
    again = await world.client.post(
        DEPLOYS,
        headers=world.admin.headers,
        json={
            "service": "payments-api",
            "version": "v1",
            "external_id": "ci-1",
            "status": "started",
        },
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    page = await api(
        world.client, world.admin, "GET", DEPLOYS, params={"service_id": world.service["id"]}
    )
    assert len(page["items"]) == 1
    path = f"{DEPLOYS}/{first.json()['id']}"
    assert (await api(world.client, world.admin, "PATCH", path, json={"status": "failed"}))[
        "status"
    ] == "failed"
    refused = await world.client.patch(
        path, headers=world.admin.headers, json={"status": "succeeded"}
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"
    verdict = await _verdict(world, first.json()["id"])
    assert (verdict["verdict"], verdict["failed_change"]) == ("failed", True)


async def test_bad_reports_are_refused_with_clear_errors(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    future = (clock.now() + timedelta(days=2)).isoformat()
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            {"service": "payments-api", "version": "v1", "started_at": future},
            400,
            "timestamp_in_future",
        ),
        ({"service": "nope", "version": "v1"}, 404, "not_found"),
        ({"service": "payments-api"}, 422, "validation_error"),
        ({"service": "payments-api", "version": "v1\u202e"}, 422, "validation_error"),
        (
            {"service": "payments-api", "version": "v1", "status": "exploded"},
            422,
            "validation_error",
        ),
        ({"service": 10**30, "version": "v1"}, 422, "validation_error"),
        (
            {"service": "payments-api", "version": "v1", "commit_sha": "not-hex"},
            422,
            "validation_error",
        ),
    ]
    cases.append(
        (
            {"service": "payments-api", "version": "v1", "details": {"a": ["\u0007"]}},
            422,
            "validation_error",
        )
    )
    for body, status_code, code in cases:
        answer = await world.client.post(DEPLOYS, headers=world.admin.headers, json=body)
        assert (answer.status_code, answer.json()["code"]) == (status_code, code), body
    for number in ("NaN", "-Infinity", "1e400"):
        # Python's json module (and so many scripts) writes NaN; JSON itself has no such number.
        text = f'{{"service": "payments-api", "version": "v1", "details": {{"gauge": [{number}]}}}}'
        answer = await world.client.post(
            DEPLOYS,
            headers=world.admin.headers | {"Content-Type": "application/json"},
            content=text,
        )
        assert (answer.status_code, answer.json()["code"]) == (422, "validation_error"), text
    nothing = await api(world.client, world.admin, "GET", DEPLOYS)
    assert nothing["items"] == []


async def test_an_integration_key_reports_its_own_services_deploys_only(
    world: PaymentsWorld, client: httpx.AsyncClient, factory: Factory
) -> None:
    key = {"Authorization": f"Bearer {world.key}"}
    own = await client.post(DEPLOYS, headers=key, json={"service": "payments-api", "version": "k1"})
    assert own.status_code == 201, own.text
    assert own.json()["source"] == "api"
    nameless = await client.post(DEPLOYS, headers=key, json={"version": "k2"})
    assert nameless.status_code == 201, nameless.text
    other = await api(
        client,
        world.admin,
        "POST",
        "/api/v1/services",
        json={"name": "ledger", "team_id": world.team["id"]},
    )
    refused = await client.post(
        DEPLOYS, headers=key, json={"service": other["id"], "version": "k3"}
    )
    assert refused.status_code == 403
    unknown = await client.post(
        DEPLOYS, headers={"Authorization": "Bearer nope"}, json={"version": "k4"}
    )
    assert unknown.status_code == 401
    outsider = await factory.actor(email="outsider@example.com")
    forbidden = await client.post(
        DEPLOYS, headers=outsider.headers, json={"service": "payments-api", "version": "k5"}
    )
    assert forbidden.status_code == 403


async def test_a_deploy_report_never_pages(
    world: PaymentsWorld, engine: Engine, db: Database
) -> None:
    await _deploy(world, version="v9", status="failed")
    await engine.drain()
    async with db.new_session() as session:
        assert (await session.scalars(select(Notification))).all() == []


async def test_incidents_opening_together_after_one_deploy_all_link_to_it(
    world: PaymentsWorld, clock: ManualClock
) -> None:
    """Every new incident links to the deploy and marks it suspect in the same transaction;
    several at once must not deadlock on the deploy's row (they did, on PostgreSQL, when the
    flags were refreshed by locking the row after the link's foreign key had share-locked it)."""
    import asyncio

    deploy = await _deploy(world, version="v8.0.0")
    clock.advance(timedelta(minutes=2))
    opened = await asyncio.gather(
        *(world.fire(f"storm {n}", dedup_key=f"storm-{n}", group_key=f"g{n}") for n in range(6))
    )
    assert len(set(opened)) == 6
    verdict = await _verdict(world, deploy["id"])
    assert sorted(i["incident_id"] for i in verdict["incidents"]) == sorted(opened)
    assert verdict["verdict"] == "suspect"
