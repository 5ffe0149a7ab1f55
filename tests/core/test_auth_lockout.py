"""Failed authentication is slowed down per source address (issue 10, item 6).

Three wrong API tokens, integration keys or feed tokens from one address in five minutes (the
limit these tests set) and that address gets 429 with Retry-After, even with a correct token,
until the window has passed. Other addresses are not affected; the failures are counted in
/metrics and logged without the token.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from prometheus_client import REGISTRY

from app.core.auth import Role
from app.core.authguard import AuthFailureGuard, Credential
from app.core.clock import ManualClock
from app.core.errors import RateLimited
from app.core.settings import Settings
from tests.conftest import PUBLIC_URL
from tests.factories import Factory
from tests.paging import integration

ATTACKER = "203.0.113.66"
NEIGHBOUR = "198.51.100.7"
WRONG_TOKEN = "baton_this-is-not-a-real-token-but-close-to-one"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth_failure_limit": "3/5m"})


ClientFor = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_from(app) -> AsyncIterator[ClientFor]:
    """HTTP clients whose requests come from a given source address."""
    opened: list[httpx.AsyncClient] = []

    async def make(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL)
        opened.append(http)
        return http

    yield make
    for http in opened:
        await http.aclose()


def _count(name: str, credential: str) -> float:
    return REGISTRY.get_sample_value(name, {"credential": credential}) or 0.0


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_wrong_api_tokens_lock_out_their_address_only(
    client_from: ClientFor,
    factory: Factory,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = await factory.actor(Role.MEMBER)
    attacker, neighbour = await client_from(ATTACKER), await client_from(NEIGHBOUR)
    failures_before = _count("baton_auth_failures_total", "api-token")
    lockouts_before = _count("baton_auth_lockouts_total", "api-token")

    caplog.set_level(logging.WARNING, logger="app.core.authguard")
    for _ in range(3):
        wrong = await attacker.get("/api/v1/users/me", headers=_bearer(WRONG_TOKEN))
        assert wrong.status_code == 401
    locked = await attacker.get("/api/v1/users/me", headers=_bearer(WRONG_TOKEN))
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    assert int(locked.headers["Retry-After"]) == 300
    # Once locked, a correct token is refused too: answering it differently would tell a
    # guesser when they are right.
    right_but_locked = await attacker.get("/api/v1/users/me", headers=alice.headers)
    assert right_but_locked.status_code == 429
    # Another address is not affected, with a correct token or a wrong one.
    assert (await neighbour.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
    assert (await neighbour.get("/api/v1/users/me", headers=_bearer("x"))).status_code == 401
    # No credential guesses nothing: it is a plain 401, not counted.
    assert (await neighbour.get("/api/v1/users/me")).status_code == 401

    assert _count("baton_auth_failures_total", "api-token") == failures_before + 4
    assert _count("baton_auth_lockouts_total", "api-token") == lockouts_before + 1
    lines = [r for r in caplog.records if r.name == "app.core.authguard"]
    assert [r.getMessage() for r in lines if getattr(r, "source_address", None) == ATTACKER] == [
        "authentication failed"
    ] * 3 + ["address locked out after failed authentication"]
    for record in lines:
        assert WRONG_TOKEN not in str(record.__dict__), "the token never reaches the log"
        assert "this-is-not" not in str(record.__dict__)

    clock.advance(minutes=4, seconds=59)
    still = await attacker.get("/api/v1/users/me", headers=alice.headers)
    assert still.status_code == 429 and still.headers["Retry-After"] == "1"
    clock.advance(seconds=1)
    assert (await attacker.get("/api/v1/users/me", headers=alice.headers)).status_code == 200


async def test_failures_outside_the_window_do_not_add_up(
    client_from: ClientFor, factory: Factory, clock: ManualClock
) -> None:
    alice = await factory.actor(Role.MEMBER)
    attacker = await client_from(ATTACKER)
    for _ in range(5):
        for _ in range(2):
            wrong = await attacker.get("/api/v1/whoami", headers=_bearer(WRONG_TOKEN))
            assert wrong.status_code == 401
        clock.advance(minutes=5)
    assert (await attacker.get("/api/v1/whoami", headers=alice.headers)).status_code == 200


async def test_a_success_does_not_reset_the_count(client_from: ClientFor, factory: Factory) -> None:
    alice = await factory.actor(Role.MEMBER)
    attacker = await client_from(ATTACKER)
    for _ in range(3):
        assert (await attacker.get("/api/v1/whoami", headers=alice.headers)).status_code == 200
        wrong = await attacker.get("/api/v1/whoami", headers=_bearer(WRONG_TOKEN))
        assert wrong.status_code == 401
    assert (await attacker.get("/api/v1/whoami", headers=alice.headers)).status_code == 429


async def test_wrong_integration_keys_lock_out_their_address(
    client: httpx.AsyncClient, client_from: ClientFor, factory: Factory
) -> None:
    admin = await factory.actor(Role.ADMIN)
    team = (
        await client.post(
            "/api/v1/teams", headers=admin.headers, json={"name": "ops", "kind": "ops"}
        )
    ).json()
    service = (
        await client.post(
            "/api/v1/services", headers=admin.headers, json={"name": "db", "team_id": team["id"]}
        )
    ).json()
    generic = await integration(client, admin, service["id"], "generic")
    beat = await integration(
        client, admin, service["id"], "heartbeat", heartbeat_interval_seconds=300
    )
    attacker, sender = await client_from(ATTACKER), await client_from(NEIGHBOUR)
    before = _count("baton_auth_failures_total", "integration-key")
    event = {"summary": "disk full"}

    wrong = [
        attacker.post("/api/v1/integrations/generic", json=event, headers=_bearer("k" * 32)),
        attacker.post(f"/api/v1/integrations/generic/{'k' * 32}", json=event),
        attacker.get(f"/api/v1/heartbeat/{'k' * 32}"),
    ]
    for attempt in wrong:
        assert (await attempt).status_code == 401
    for locked in (
        await attacker.post(
            "/api/v1/integrations/generic", json=event, headers=_bearer(generic["key"])
        ),
        await attacker.get(f"/api/v1/heartbeat/{beat['key']}"),
        await attacker.post(
            "/api/v1/integrations/pagerduty/v2/enqueue",
            json={
                "routing_key": "p" * 32,
                "event_action": "trigger",
                "payload": {"summary": "x", "source": "y", "severity": "critical"},
            },
        ),
    ):
        assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert _count("baton_auth_failures_total", "integration-key") == before + 3

    sent = await sender.post(
        "/api/v1/integrations/generic", json=event, headers=_bearer(generic["key"])
    )
    assert sent.status_code == 202, "a sender at another address is not locked out"
    assert (await sender.get(f"/api/v1/heartbeat/{beat['key']}")).status_code == 200


async def test_wrong_calendar_feed_tokens_lock_out_their_address(
    client: httpx.AsyncClient, client_from: ClientFor, factory: Factory
) -> None:
    alice = await factory.actor(Role.MEMBER)
    feed = await client.post(
        "/api/v1/calendar-feeds", headers=alice.headers, json={"user_id": alice.id}
    )
    assert feed.status_code == 201, feed.text
    path = feed.json()["url"].removeprefix(PUBLIC_URL)
    attacker, subscriber = await client_from(ATTACKER), await client_from(NEIGHBOUR)
    before = _count("baton_auth_failures_total", "feed-token")
    for guess in ("batoncal_a", "batoncal_b", "batoncal_c"):
        assert (await attacker.get(f"/api/v1/calendars/{guess}.ics")).status_code == 404
    locked = await attacker.get(path)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    assert _count("baton_auth_failures_total", "feed-token") == before + 3
    assert (await subscriber.get(path)).status_code == 200


def test_the_guard_remembers_a_bounded_number_of_addresses(clock: ManualClock) -> None:
    guard = AuthFailureGuard(clock, max_failures=2, window=timedelta(minutes=5), max_addresses=3)
    for n in range(10):
        guard.failed(f"192.0.2.{n}", Credential.API_TOKEN)
    assert len(guard) == 3
    guard.failed("192.0.2.9", Credential.API_TOKEN)
    with pytest.raises(RateLimited):
        guard.check("192.0.2.9", Credential.API_TOKEN)
    guard.check("192.0.2.0", Credential.API_TOKEN)  # forgotten, so not locked
