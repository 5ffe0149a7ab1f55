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
from tests.factories import Actor, Factory
from tests.fakes.slack import FakeSlack, FakeSlackChannel, FakeSlackUser
from tests.notify.conftest import engine, oncall, settings, slack, twilio  # noqa: F401
from tests.paging import Engine
from tests.worlds import PaymentsWorld, Rotation, build_payments_world

ALICE_SLACK = "U0ALICE001"
BOB_SLACK = "U0BOB00002"
DAN_SLACK = "U0DAN00003"
VIC_SLACK = "U0VIC00004"
OLGA_SLACK = "U0OLGA0005"
STRANGER_SLACK = "U0STRANGE6"
ONCALL_CHANNEL = "C0ONCALL01"


@dataclass
class World(PaymentsWorld):
    vic: Actor
    olga: Actor
    slack: FakeSlack
    engine: Engine
    clock: ManualClock

    @property
    def dan(self) -> Actor:
        return self.members["Dan"]

    @property
    def carol(self) -> Actor:
        return self.members["Carol"]

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
    base = await build_payments_world(
        client,
        factory,
        members=("Alice", "Bob", "Dan", "Carol"),
        time_zone="Europe/Berlin",
        admin_name="Ada Admin",
        rotation=Rotation(participants=("Alice", "Bob", "Dan"), shadows=("Carol",)),
        runbook_url=None,
    )
    vic = await factory.actor(Role.VIEWER, name="Vic", email="vic@example.com")
    olga = await factory.actor(Role.MEMBER, name="Olga", email="olga@example.com")
    alice, bob, dan = base.alice, base.bob, base.members["Dan"]
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
    return World(**base.parts(), vic=vic, olga=olga, slack=slack, engine=engine, clock=clock)
