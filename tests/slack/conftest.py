"""Slack app scenarios: signed slash commands and interactions from the fake Slack, against Baton.

The world: team ``sre`` (Alice, Bob, Dan; Carol shadows) runs the ``Payments`` schedule in
Europe/Berlin, a daily rotation Alice → Bob → Dan handing off at 09:00, and the service
``payments-api`` whose policy pages the schedule, then Bob after 5 minutes. Alice, Bob and Dan
get pages as Slack DMs. The clock starts on Monday 2 March 2026, 10:00 UTC (11:00 in Berlin):
Alice is on call until Tuesday 08:00 UTC. Vic is a viewer; Olga a member of no team.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from app.core.clock import ManualClock
from app.people.models import ContactType
from tests.channels.conftest import GENERIC, engine, settings, slack  # noqa: F401
from tests.factories import Actor, Factory
from tests.fakes.slack import FakeSlack, FakeSlackChannel, FakeSlackUser
from tests.paging import Engine, api

ALICE_SLACK = "U0ALICE001"
BOB_SLACK = "U0BOB00002"
DAN_SLACK = "U0DAN00003"
VIC_SLACK = "U0VIC00004"
OLGA_SLACK = "U0OLGA0005"
STRANGER_SLACK = "U0STRANGE6"
ONCALL_CHANNEL = "C0ONCALL01"


@dataclass
class World:
    admin: Actor
    alice: Actor
    bob: Actor
    dan: Actor
    carol: Actor
    vic: Actor
    olga: Actor
    team: dict[str, Any]
    schedule: dict[str, Any]
    policy: dict[str, Any]
    service: dict[str, Any]
    generic_key: str
    slack: FakeSlack
    client: httpx.AsyncClient
    engine: Engine
    clock: ManualClock

    def device(self, slack_id: str) -> FakeSlackUser:
        return self.slack.users[slack_id]

    @property
    def alice_s(self) -> FakeSlackUser:
        return self.device(ALICE_SLACK)

    @property
    def bob_s(self) -> FakeSlackUser:
        return self.device(BOB_SLACK)

    @property
    def dan_s(self) -> FakeSlackUser:
        return self.device(DAN_SLACK)

    @property
    def channel(self) -> FakeSlackChannel:
        return self.slack.channel(ONCALL_CHANNEL)

    def dm(self, who: FakeSlackUser) -> FakeSlackChannel:
        return self.slack.channel(who.dm_channel)

    async def fire(self, summary: str = "p99 latency above 2s") -> int:
        response = await self.client.post(
            GENERIC,
            json={"summary": summary},
            headers={"Authorization": f"Bearer {self.generic_key}"},
        )
        assert response.status_code == 202, response.text
        return int(response.json()["incidents"][0])

    async def incident(self, incident_id: int) -> dict[str, Any]:
        return await api(self.client, self.admin, "GET", f"/api/v1/incidents/{incident_id}")

    async def timeline(self, incident_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        events = await api(
            self.client, self.admin, "GET", f"/api/v1/incidents/{incident_id}/timeline"
        )
        return [e for e in events if kind is None or e["kind"] == kind]


def answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON a slash command answered inline (200, as Slack requires)."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()


def text_of(response: httpx.Response) -> str:
    body = answer(response)
    texts = [body.get("text", "")]
    for block in body.get("blocks", []):
        texts.append(str((block.get("text") or {}).get("text", "")))
    return "\n".join(texts)


@pytest.fixture
async def world(
    client: httpx.AsyncClient,
    factory: Factory,
    slack: FakeSlack,  # noqa: F811
    engine: Engine,  # noqa: F811
    clock: ManualClock,
) -> World:
    admin = await factory.actor(Role.ADMIN, name="Ada Admin", email="admin@example.com")
    people = {
        name: await factory.actor(
            Role.MEMBER, name=name, email=f"{name.lower()}@example.com", time_zone="Europe/Berlin"
        )
        for name in ("Alice", "Bob", "Dan", "Carol")
    }
    vic = await factory.actor(Role.VIEWER, name="Vic", email="vic@example.com")
    olga = await factory.actor(Role.MEMBER, name="Olga", email="olga@example.com")
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    for person in people.values():
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/teams/{team['id']}/members",
            json={"user_id": person.id},
        )
    alice, bob, dan, carol = (people[n] for n in ("Alice", "Bob", "Dan", "Carol"))
    schedule = await api(
        client,
        admin,
        "POST",
        "/api/v1/schedules",
        json={
            "name": "Payments",
            "team_id": team["id"],
            "time_zone": "Europe/Berlin",
            "layers": [
                {
                    "name": "primary",
                    "participants": [alice.id, bob.id, dan.id],
                    "shadows": [carol.id],
                    "shift_unit": "days",
                    "shift_length": 1,
                    "handoff_time": "09:00",
                    "start": "2026-03-02",
                }
            ],
        },
    )
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "payments",
            "team_id": team["id"],
            "steps": [
                {
                    "delay_minutes": 5,
                    "targets": [{"kind": "schedule", "schedule_id": schedule["id"]}],
                },
                {"delay_minutes": 10, "targets": [{"kind": "user", "user_id": bob.id}]},
            ],
        },
    )
    service = await api(
        client,
        admin,
        "POST",
        "/api/v1/services",
        json={
            "name": "payments-api",
            "team_id": team["id"],
            "escalation_policy_id": policy["id"],
        },
    )
    integration = await api(
        client,
        admin,
        "POST",
        f"/api/v1/services/{service['id']}/integrations",
        json={"kind": "generic", "name": "scripts"},
    )
    for actor, slack_id in ((alice, ALICE_SLACK), (bob, BOB_SLACK), (dan, DAN_SLACK)):
        await factory.contact_method(actor.id, ContactType.SLACK, slack_id)
    for name, slack_id, email in (
        ("alice", ALICE_SLACK, alice.email),
        ("bob", BOB_SLACK, bob.email),
        ("dan", DAN_SLACK, dan.email),
        ("vic", VIC_SLACK, vic.email),
        ("olga", OLGA_SLACK, olga.email),
        ("stranger", STRANGER_SLACK, "stranger@elsewhere.test"),
    ):
        slack.user(slack_id, email=email, name=name, tz="Europe/Berlin")
    slack.channel(ONCALL_CHANNEL, name="inc-payments")
    return World(
        admin=admin,
        alice=alice,
        bob=bob,
        dan=dan,
        carol=carol,
        vic=vic,
        olga=olga,
        team=team,
        schedule=schedule,
        policy=policy,
        service=service,
        generic_key=integration["key"],
        slack=slack,
        client=client,
        engine=engine,
        clock=clock,
    )
