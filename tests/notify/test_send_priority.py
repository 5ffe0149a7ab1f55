"""Under overload the dispatcher sends in priority order, not in the order pages fell due: a
high-urgency first page before repeats and low urgency, and among first pages the person paged
least recently first. The dispatcher here sends one notification per pass, so its choices are
the order in which the fake SMTP server receives the mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.settings import Settings
from tests.factories import Actor, Factory
from tests.fakes.smtp import FakeSMTP
from tests.paging import Engine, api

T0 = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0 - timedelta(hours=1))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"dispatch_batch_size": 1, "dispatch_concurrency": 1})


@pytest.fixture
def engine(app: Any, db: Any, clock: ManualClock) -> Engine:
    return Engine(app, db, clock)


async def _rule(
    client: httpx.AsyncClient,
    factory: Factory,
    admin: Actor,
    user: Actor,
    address: str,
    **rule: Any,
) -> None:
    method = await factory.contact_method(user.id, "email", address)
    await api(
        client,
        admin,
        "POST",
        f"/api/v1/users/{user.id}/notification-rules",
        json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": "high", **rule},
    )


async def _service_paging(
    client: httpx.AsyncClient, admin: Actor, team_id: int, user: Actor
) -> int:
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": f"page {user.id}",
            "team_id": team_id,
            "steps": [{"delay_minutes": 30, "targets": [{"kind": "user", "user_id": user.id}]}],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={
            "name": f"service {user.id}",
            "team_id": team_id,
            "escalation_policy_id": policy["id"],
        },
    )
    return int(service["id"])


async def _open(client: httpx.AsyncClient, admin: Actor, service_id: int, urgency: str) -> int:
    incident = await api(
        client,
        admin,
        "POST",
        "/api/v1/incidents",
        json={"service_id": service_id, "title": f"trouble on {service_id}", "urgency": urgency},
    )
    return int(incident["id"])


async def test_a_backlog_is_sent_first_pages_first_least_recently_paged_first(
    client: httpx.AsyncClient,
    factory: Factory,
    engine: Engine,
    clock: ManualClock,
    fake_smtp: FakeSMTP,
) -> None:
    admin = await factory.actor(Role.ADMIN)
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    alice, bob, carol = [await factory.actor(name=n) for n in ("Alice", "Bob", "Carol")]
    await _rule(client, factory, admin, alice, "alice@example.com")
    await _rule(client, factory, admin, alice, "alice-again@example.com", delay_minutes=1)
    await _rule(client, factory, admin, bob, "bob@example.com")
    await _rule(client, factory, admin, carol, "carol@example.com", urgency="low")
    services = {
        p.id: await _service_paging(client, admin, team["id"], p) for p in (alice, bob, carol)
    }

    # An hour before the storm Bob was paged (and answered).
    earlier = await _open(client, admin, services[bob.id], "high")
    await engine.drain()
    await api(client, admin, "POST", f"/api/v1/incidents/{earlier}/resolve")
    await fake_smtp.expect_mail("bob@example.com")
    fake_smtp.assert_nothing_sent()

    # The storm: pages fall due faster than they are sent (nothing runs until the end).
    clock.set(T0)
    await _open(client, admin, services[carol.id], "low")
    clock.advance(seconds=10)
    await _open(client, admin, services[alice.id], "high")
    clock.advance(seconds=10)
    await _open(client, admin, services[bob.id], "high")
    clock.advance(minutes=2)  # Alice's second rule is due too
    await engine.drain()

    order = [m.rcpt for m in fake_smtp.messages[1:]]
    for address in order:
        await fake_smtp.expect_mail(address)
    assert order == [
        "alice@example.com",  # a first page, to someone not paged today
        "bob@example.com",  # a first page, to someone paged an hour ago
        "alice-again@example.com",  # a repeat: Alice's second rule
        "carol@example.com",  # low urgency, due first of all
    ]
