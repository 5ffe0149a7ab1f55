from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from app.core.auth import Role
from app.core.clock import ManualClock
from app.notify.console import ConsoleProvider
from tests.factories import Actor, Factory


@pytest.fixture
async def alice(factory: Factory) -> Actor:
    return await factory.actor(Role.MEMBER, email="alice@example.com")


def _sent_code(console: ConsoleProvider, address: str) -> str:
    messages = [r.message for r in console.sent if r.message.address == address]
    assert messages, f"nothing was sent to {address}"
    match = re.search(r"code is (\d{6})", messages[-1].text)
    assert match, messages[-1].text
    return match.group(1)


async def _add(client: httpx.AsyncClient, actor: Actor, **body: str) -> dict[str, object]:
    response = await client.post(
        f"/api/v1/users/{actor.id}/contact-methods", headers=actor.headers, json=body
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_phone_numbers_are_unverified_until_the_code_comes_back(
    client: httpx.AsyncClient, alice: Actor, console: ConsoleProvider
) -> None:
    method = await _add(client, alice, type="sms", address="+1 (555) 555-0123", label="mobile")
    assert method["address"] == "+15555550123"
    assert method["verified"] is False and method["pageable"] is False

    base = f"/api/v1/users/{alice.id}/contact-methods/{method['id']}"
    sent = await client.post(f"{base}/send-verification", headers=alice.headers)
    assert sent.status_code == 202, sent.text
    code = _sent_code(console, "+15555550123")
    assert console.sent[-1].message.kind == "verification"

    confirmed = await client.post(f"{base}/verify", headers=alice.headers, json={"code": code})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["verified"] is True and confirmed.json()["pageable"] is True


async def test_email_slack_and_webhook_are_usable_at_once(
    client: httpx.AsyncClient, alice: Actor
) -> None:
    for kind, address in [
        ("email", "Alice@Example.com"),
        ("slack", "U0ALICE001"),
        ("webhook", "https://hooks.example.com/baton"),
    ]:
        method = await _add(client, alice, type=kind, address=address)
        assert method["verified"] is True


async def test_wrong_codes_count_and_run_out(
    client: httpx.AsyncClient, alice: Actor, console: ConsoleProvider
) -> None:
    method = await _add(client, alice, type="voice", address="+15555550123")
    base = f"/api/v1/users/{alice.id}/contact-methods/{method['id']}"
    await client.post(f"{base}/send-verification", headers=alice.headers)
    code = _sent_code(console, "+15555550123")
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        r = await client.post(f"{base}/verify", headers=alice.headers, json={"code": wrong})
        assert r.status_code == 422
        assert r.json()["attempts_left"] == left, "each wrong attempt is remembered"
    last = await client.post(f"{base}/verify", headers=alice.headers, json={"code": wrong})
    assert last.json()["attempts_left"] == 0
    # The code is burnt: even the right one no longer works.
    burnt = await client.post(f"{base}/verify", headers=alice.headers, json={"code": code})
    assert burnt.status_code == 422
    state = await client.get(f"/api/v1/users/{alice.id}/contact-methods", headers=alice.headers)
    assert state.json()[0]["verified"] is False


async def test_codes_expire_and_resends_are_paced(
    client: httpx.AsyncClient, alice: Actor, console: ConsoleProvider, clock: ManualClock
) -> None:
    method = await _add(client, alice, type="sms", address="+15555550123")
    base = f"/api/v1/users/{alice.id}/contact-methods/{method['id']}"
    await client.post(f"{base}/send-verification", headers=alice.headers)
    too_soon = await client.post(f"{base}/send-verification", headers=alice.headers)
    assert too_soon.status_code == 429
    assert int(too_soon.headers["retry-after"]) >= 1
    code = _sent_code(console, "+15555550123")

    clock.advance(timedelta(minutes=11))
    expired = await client.post(f"{base}/verify", headers=alice.headers, json={"code": code})
    assert expired.status_code == 422
    assert "expired" in expired.json()["detail"]

    again = await client.post(f"{base}/send-verification", headers=alice.headers)
    assert again.status_code == 202
    fresh = _sent_code(console, "+15555550123")
    ok = await client.post(f"{base}/verify", headers=alice.headers, json={"code": fresh})
    assert ok.json()["verified"] is True


async def test_changing_the_number_needs_a_new_verification(
    client: httpx.AsyncClient, alice: Actor, console: ConsoleProvider
) -> None:
    method = await _add(client, alice, type="sms", address="+15555550123")
    base = f"/api/v1/users/{alice.id}/contact-methods/{method['id']}"
    await client.post(f"{base}/send-verification", headers=alice.headers)
    code = _sent_code(console, "+15555550123")
    await client.post(f"{base}/verify", headers=alice.headers, json={"code": code})

    relabel = await client.patch(base, headers=alice.headers, json={"label": "work"})
    assert relabel.json()["verified"] is True, "a new label keeps the verification"
    moved = await client.patch(base, headers=alice.headers, json={"address": "+15555550199"})
    assert moved.json()["verified"] is False
    bad = await client.patch(base, headers=alice.headers, json={"address": "555-0199"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("kind", "address"),
    [
        ("sms", "5555550123"),
        ("sms", "+0123"),
        ("voice", "+1555"),
        ("email", "nobody"),
        ("slack", "alice"),
        ("webhook", "ftp://example.com/x"),
        ("pager", "123"),
    ],
)
async def test_bad_addresses_are_refused(
    client: httpx.AsyncClient, alice: Actor, kind: str, address: str
) -> None:
    r = await client.post(
        f"/api/v1/users/{alice.id}/contact-methods",
        headers=alice.headers,
        json={"type": kind, "address": address},
    )
    assert r.status_code == 422, r.text
    listed = await client.get(f"/api/v1/users/{alice.id}/contact-methods", headers=alice.headers)
    assert listed.json() == []


async def test_duplicates_and_foreign_methods(
    client: httpx.AsyncClient, alice: Actor, factory: Factory
) -> None:
    method = await _add(client, alice, type="email", address="alice@example.com")
    again = await client.post(
        f"/api/v1/users/{alice.id}/contact-methods",
        headers=alice.headers,
        json={"type": "email", "address": "ALICE@example.com"},
    )
    assert again.status_code == 409
    bob = await factory.actor(Role.MEMBER)
    foreign = await client.delete(
        f"/api/v1/users/{bob.id}/contact-methods/{method['id']}", headers=bob.headers
    )
    assert foreign.status_code == 404
    not_yours = await client.post(
        f"/api/v1/users/{alice.id}/contact-methods",
        headers=bob.headers,
        json={"type": "email", "address": "bob@example.com"},
    )
    assert not_yours.status_code == 403


async def test_email_needs_no_verification_request(client: httpx.AsyncClient, alice: Actor) -> None:
    method = await _add(client, alice, type="email", address="alice@example.com")
    r = await client.post(
        f"/api/v1/users/{alice.id}/contact-methods/{method['id']}/send-verification",
        headers=alice.headers,
    )
    assert r.status_code == 422


async def test_notification_rules(
    client: httpx.AsyncClient, alice: Actor, factory: Factory
) -> None:
    sms = await _add(client, alice, type="sms", address="+15555550123")
    email = await _add(client, alice, type="email", address="alice@example.com")
    base = f"/api/v1/users/{alice.id}/notification-rules"
    for cm, delay in ((email, 0), (sms, 2)):
        r = await client.post(
            base,
            headers=alice.headers,
            json={"contact_method_id": cm["id"], "delay_minutes": delay},
        )
        assert r.status_code == 201, r.text
    low = await client.post(
        base,
        headers=alice.headers,
        json={"contact_method_id": email["id"], "delay_minutes": 0, "urgency": "low"},
    )
    assert low.status_code == 201
    rules = (await client.get(base, headers=alice.headers)).json()
    assert [(r["contact_method_id"], r["delay_minutes"], r["urgency"]) for r in rules] == [
        (email["id"], 0, "high"),
        (sms["id"], 2, "high"),
        (email["id"], 0, "low"),
    ]
    duplicate = await client.post(
        base, headers=alice.headers, json={"contact_method_id": sms["id"], "delay_minutes": 2}
    )
    assert duplicate.status_code == 409
    too_late = await client.post(
        base, headers=alice.headers, json={"contact_method_id": sms["id"], "delay_minutes": 5000}
    )
    assert too_late.status_code == 422

    bob = await factory.actor(Role.MEMBER)
    bob_email = await _add(client, bob, type="email", address="bob@example.com")
    foreign = await client.post(
        base, headers=alice.headers, json={"contact_method_id": bob_email["id"], "delay_minutes": 0}
    )
    assert foreign.status_code == 422
    removed = await client.delete(f"{base}/{rules[0]['id']}", headers=alice.headers)
    assert removed.status_code == 204
    # Deleting a contact method removes its rules.
    await client.delete(
        f"/api/v1/users/{alice.id}/contact-methods/{sms['id']}", headers=alice.headers
    )
    remaining = (await client.get(base, headers=alice.headers)).json()
    assert [r["contact_method_id"] for r in remaining] == [email["id"]]
