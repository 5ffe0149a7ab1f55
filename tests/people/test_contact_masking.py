"""Contact addresses are the owner's: others see them masked, the owner and admins whole."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from app.core.auth import Role
from app.people.masking import mask_address
from app.people.models import ContactType
from tests.factories import Actor, Factory
from tests.paging import Engine, api

PHONE = "+15555550123"
EMAIL = "alice.liddell@example.com"
WEBHOOK = "https://hooks.example.com/services/T000/B000/s3cr3tpath?token=abc"
SLACK = "U0ALICE001"

MASKED = {
    "sms": "+…0123",
    "email": "a***@example.com",
    "webhook": "https://hooks.example.com/…",
    "slack": SLACK,
}
WHOLE = {"sms": PHONE, "email": EMAIL, "webhook": WEBHOOK, "slack": SLACK}


@dataclass
class People:
    admin: Actor
    alice: Actor
    bob: Actor
    viewer: Actor
    methods: dict[str, int]


@pytest.fixture
async def people(factory: Factory) -> People:
    admin = await factory.actor(Role.ADMIN)
    alice = await factory.actor(Role.MEMBER, name="Alice", email=EMAIL)
    bob = await factory.actor(Role.MEMBER)
    viewer = await factory.actor(Role.VIEWER)
    methods = {}
    for kind, address in WHOLE.items():
        method = await factory.contact_method(alice.id, ContactType(kind), address)
        methods[kind] = method.id
    return People(admin, alice, bob, viewer, methods)


async def _addresses(client: httpx.AsyncClient, reader: Actor, owner: Actor) -> dict[str, str]:
    path = f"/api/v1/users/{owner.id}/contact-methods"
    return {m["type"]: m["address"] for m in await api(client, reader, "GET", path)}


async def test_others_see_contact_methods_masked(client: httpx.AsyncClient, people: People) -> None:
    assert await _addresses(client, people.viewer, people.alice) == MASKED
    assert await _addresses(client, people.bob, people.alice) == MASKED
    assert await _addresses(client, people.alice, people.alice) == WHOLE
    assert await _addresses(client, people.admin, people.alice) == WHOLE


async def test_notifications_show_the_address_to_its_owner_and_admins_only(
    client: httpx.AsyncClient, people: People, app, db, clock
) -> None:
    alice, admin = people.alice, people.admin
    for kind in ("email", "sms"):
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/users/{alice.id}/notification-rules",
            json={"contact_method_id": people.methods[kind], "delay_minutes": 0},
        )
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "t", "kind": "ops"})
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "p",
            "team_id": team["id"],
            "steps": [{"delay_minutes": 5, "targets": [{"kind": "user", "user_id": alice.id}]}],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={"name": "s", "team_id": team["id"], "escalation_policy_id": policy["id"]},
    )
    incident = await api(
        client,
        admin,
        "POST",
        "/api/v1/incidents",
        json={"service_id": service["id"], "title": "checkout down"},
    )
    path = f"/api/v1/incidents/{incident['id']}/notifications"

    async def seen_by(reader: Actor) -> dict[str, str]:
        return {n["contact_type"]: n["address"] for n in await api(client, reader, "GET", path)}

    whole = {"email": EMAIL, "sms": PHONE}
    assert await seen_by(people.viewer) == {"email": MASKED["email"], "sms": MASKED["sms"]}
    assert await seen_by(people.bob) == {"email": MASKED["email"], "sms": MASKED["sms"]}
    assert await seen_by(alice) == whole
    assert await seen_by(admin) == whole

    [row] = [n for n in await api(client, admin, "GET", path) if n["contact_type"] == "email"]
    one = f"/api/v1/users/{alice.id}/notifications/{row['id']}"
    assert (await api(client, people.viewer, "GET", one))["address"] == MASKED["email"]
    assert (await api(client, alice, "GET", one))["address"] == EMAIL

    # The timeline is read by everyone, so it names addresses masked for all.
    await Engine(app, db, clock).tick()
    events = await api(client, alice, "GET", f"/api/v1/incidents/{incident['id']}/timeline")
    messages = " | ".join(e["message"] for e in events)
    assert f"Page by email to {MASKED['email']}" in messages
    assert EMAIL not in messages and PHONE not in messages


@pytest.mark.parametrize(
    ("kind", "address", "masked"),
    [
        ("sms", "+447700900123", "+…0123"),
        ("voice", "+4930901820", "+…1820"),
        ("email", "x@example.org", "x***@example.org"),
        ("webhook", "http://user:pw@10.0.0.5:8443/hook/secret", "http://10.0.0.5:8443/…"),
        ("webhook", "https://[2001:db8::1]/x", "https://[2001:db8::1]/…"),
        ("webhook", "not a url", "…"),
        ("slack", "W0123ABCD", "W0123ABCD"),
    ],
)
def test_masking_keeps_just_enough_to_tell_addresses_apart(
    kind: str, address: str, masked: str
) -> None:
    assert mask_address(kind, address) == masked
