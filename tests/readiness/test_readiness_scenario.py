"""Issue 16's whole path over simulated weeks, through the real API, the engine and the console.

A new service, checkout-api, is run by its developers (team checkout: Dana, a manager, and Dev).
It starts with nothing and gains a runbook, a policy paging the developers' rotation, an
integration, deploys, sign-offs and quiet weeks: its score goes from failing through needs
attention to passing, and the evidence follows the data. The Ops team (sre: Olga, a manager,
and Omar) accepts the hand-over at exactly six weeks (a minute earlier it was refused) and the
next alert pages the Ops rotation. Then a storm of night pages over two weeks: the nightly
review proposes nothing at 12 sleep-hour pages (the threshold) and proposes a handback at 13,
with that evidence. Olga accepts; the next alert pages the developers, and the readiness page
shows the exit criteria and what is left.

Every message goes to the console's inbox, and the test fails on any it did not expect.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Role
from app.core.clock import ManualClock
from app.core.db import Database
from app.notify.console import ConsoleProvider
from app.readiness.nightly import run_nightly
from tests.factories import Actor, Factory
from tests.paging import ConsoleInbox, Engine, api

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
GENERIC = "/api/v1/integrations/generic"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(app: Any, db: Database, clock: ManualClock) -> Engine:
    return Engine(app, db, clock)


class World:
    def __init__(self, client: httpx.AsyncClient, engine: Engine, inbox: ConsoleInbox) -> None:
        self.client = client
        self.engine = engine
        self.inbox = inbox
        self.people: dict[str, Actor] = {}
        self.ids: dict[str, int] = {}
        self.key = ""

    @property
    def admin(self) -> Actor:
        return self.people["admin"]

    async def call(self, actor: str, method: str, path: str, **kwargs: Any) -> Any:
        return await api(self.client, self.people[actor], method, path, **kwargs)

    async def at(self, when: datetime) -> None:
        self.engine.clock.advance(when - self.engine.clock.now())
        await self.engine.drain()

    async def readiness(self) -> dict[str, Any]:
        return await self.call("admin", "GET", f"/api/v1/services/{self.ids['service']}/readiness")

    async def evaluate(self) -> dict[str, Any]:
        return await self.call(
            "admin", "POST", f"/api/v1/services/{self.ids['service']}/readiness/evaluations"
        )

    async def fire(self, summary: str) -> int:
        response = await self.client.post(
            GENERIC, json={"summary": summary}, headers={"Authorization": f"Bearer {self.key}"}
        )
        assert response.status_code == 202, response.text
        await self.engine.drain()
        return int(response.json()["incidents"][0])

    async def page_resolved_by(self, person: str, summary: str, *, after: timedelta) -> int:
        """An alert that pages ``person`` (and nobody else), acknowledged and resolved."""
        incident = await self.fire(summary)
        self.inbox.expect(f"{person.lower()}@example.com", summary)
        self.inbox.assert_no_unexpected()
        await self.call(person, "POST", f"/api/v1/incidents/{incident}/acknowledge")
        await self.at(self.engine.clock.now() + after)
        await self.call(person, "POST", f"/api/v1/incidents/{incident}/resolve")
        await self.engine.drain()
        self.inbox.assert_no_unexpected()
        return incident


def results(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in view["current"]["results"]}


def unmet(view: dict[str, Any]) -> list[str]:
    return [r["key"] for r in view["current"]["results"] if not r["met"]]


@pytest.fixture
async def world(
    client: httpx.AsyncClient, factory: Factory, engine: Engine, console: ConsoleProvider
) -> World:
    built = World(client, engine, ConsoleInbox(console))
    built.people["admin"] = await factory.actor(Role.ADMIN, name="Ada", email="ada@example.com")
    for name in ("Dana", "Dev", "Olga", "Omar"):
        built.people[name] = await factory.actor(
            Role.MEMBER, name=name, email=f"{name.lower()}@example.com", time_zone="UTC"
        )
        person = built.people[name]
        method = await factory.contact_method(person.id, "email", f"{name.lower()}@example.com")
        await built.call(
            "admin",
            "POST",
            f"/api/v1/users/{person.id}/notification-rules",
            json={"contact_method_id": method.id, "delay_minutes": 0, "urgency": "high"},
        )
    for team, kind, manager, member in (
        ("checkout", "dev", "Dana", "Dev"),
        ("sre", "ops", "Olga", "Omar"),
    ):
        created = await built.call(
            "admin", "POST", "/api/v1/teams", json={"name": team, "kind": kind}
        )
        built.ids[team] = created["id"]
        for person, role in ((manager, "manager"), (member, "member")):
            await built.call(
                "admin",
                "POST",
                f"/api/v1/teams/{created['id']}/members",
                json={"user_id": built.people[person].id, "role": role},
            )
    service = await built.call(
        "Dana",
        "POST",
        "/api/v1/services",
        json={"name": "checkout-api", "team_id": built.ids["checkout"]},
    )
    built.ids["service"] = service["id"]
    return built


async def _rotation(world: World, team: str, people: tuple[str, str]) -> int:
    schedule = await world.call(
        "admin",
        "POST",
        "/api/v1/schedules",
        json={
            "name": f"{team}-primary",
            "team_id": world.ids[team],
            "time_zone": "UTC",
            "layers": [
                {
                    "name": "primary",
                    # One person holds the pager throughout: the test knows who is paged.
                    "participants": [world.people[people[0]].id],
                    "shift_unit": "weeks",
                    "shift_length": 1,
                    "handoff_time": "09:00",
                    "start": "2026-03-02",
                }
            ],
        },
    )
    policy = await world.call(
        "admin",
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": team,
            "team_id": world.ids[team],
            "steps": [
                {
                    "delay_minutes": 5,
                    "targets": [{"kind": "schedule", "schedule_id": schedule["id"]}],
                },
                {
                    "delay_minutes": 10,
                    "targets": [{"kind": "user", "user_id": world.people[people[1]].id}],
                },
            ],
        },
    )
    return int(policy["id"])


async def test_a_service_earns_its_hand_over_and_a_night_storm_hands_it_back(
    world: World, db: Database
) -> None:
    service = world.ids["service"]
    # -- Day 0: nothing but an owner team.
    first = await world.evaluate()
    assert (first["score"], first["band"]) == (25, "failing")
    view = await world.readiness()
    assert results(view)["escalation_policy"]["evidence"] == "no escalation policy"
    assert results(view)["runbook"]["evidence"] == "no runbook URL"
    assert results(view)["owner_team"]["evidence"] == "owned by checkout (2 members)"
    assert not view["handover_allowed"]

    # -- The developers set it up: a runbook, a policy paging their rotation, an integration.
    dev_policy = await _rotation(world, "checkout", ("Dana", "Dev"))
    await world.call(
        "Dana",
        "PATCH",
        f"/api/v1/services/{service}",
        json={
            "runbook_url": "https://runbooks.example/checkout",
            "escalation_policy_id": dev_policy,
        },
    )
    integration = await world.call(
        "Dana",
        "POST",
        f"/api/v1/services/{service}/integrations",
        json={"kind": "generic", "name": "ci"},
    )
    world.key = integration["key"]
    second = await world.evaluate()
    assert (second["score"], second["band"]) == (55, "needs_attention")
    assert {c["key"]: (c["was_met"], c["met"]) for c in second["changes"]} == {
        "runbook": (False, True),
        "escalation_policy": (False, True),
        "schedule_coverage": (False, True),
        "developer_on_rotation": (False, True),
    }
    view = await world.readiness()
    assert results(view)["developer_on_rotation"]["evidence"] == "on the rotation: Dana"
    assert results(view)["schedule_coverage"]["evidence"] == (
        "checkout-primary cover the next 14 days with no gap"
    )
    assert results(view)["integration_alerts"]["evidence"] == (
        "0 alerts through an integration in the last 30 days"
    )

    # -- Week 1: the first real alert pages Dana; a deploy is reported; sign-offs.
    await world.at(START + timedelta(days=7))
    await world.page_resolved_by("Dana", "checkout latency high", after=timedelta(minutes=10))
    await world.call(
        "admin",
        "POST",
        "/api/v1/deployments",
        json={"service": "checkout-api", "environment": "production", "version": "v1.0.0"},
    )
    for key, person in (("monitoring", "Dana"), ("rollback", "Dev"), ("data", "Dana")):
        await world.call(
            person,
            "PUT",
            f"/api/v1/services/{service}/readiness/sign-offs/{key}",
            json={"comment": f"{key} reviewed"},
        )
    for key in ("capacity", "dependencies"):
        await world.call(
            "Olga", "PUT", f"/api/v1/services/{service}/readiness/sign-offs/{key}", json={}
        )
    view = await world.readiness()
    assert view["current"]["score"] == 90
    assert unmet(view) == ["self_managed"]
    assert results(view)["integration_alerts"]["evidence"] == (
        "1 alert through an integration in the last 30 days"
    )
    assert results(view)["pager_load"]["evidence"].startswith(
        "0.1 pages per shift over the last 28 days: 1 page in 14 shifts"
    )
    assert results(view)["rollback"]["evidence"] == (
        "signed off by Dev on 2026-03-09: rollback reviewed"
    )

    # -- 30 days after the first alert (day 7, 10:00) it still counts; a minute later it does
    # not (the deploy, reported ten minutes after it, still does).
    first_alert = START + timedelta(days=7)
    await world.at(first_alert + timedelta(days=30))
    view = await world.readiness()
    assert results(view)["integration_alerts"]["met"]
    assert view["current"]["score"] == 90
    await world.at(first_alert + timedelta(days=30, minutes=1))
    view = await world.readiness()
    assert results(view)["integration_alerts"]["evidence"] == (
        "0 alerts through an integration in the last 30 days"
    )
    assert results(view)["deploy_events"]["evidence"] == "1 deploy reported in the last 30 days"
    assert (view["current"]["score"], view["current"]["band"]) == (85, "needs_attention")
    # -- Day 38: another alert and deploy bring them back.
    await world.at(START + timedelta(days=38))
    await world.page_resolved_by("Dana", "checkout errors", after=timedelta(minutes=10))
    await world.call(
        "admin",
        "POST",
        "/api/v1/deployments",
        json={"service": "checkout-api", "environment": "production", "version": "v1.1.0"},
    )
    # -- The team asks Ops; a minute before six weeks of running it, Ops cannot accept.
    request = await world.call(
        "Dana",
        "POST",
        f"/api/v1/services/{service}/handover",
        json={"ops_team_id": world.ids["sre"], "note": "quiet for a month"},
    )
    await world.engine.drain()
    for manager in ("dana", "olga"):
        told = world.inbox.expect(f"{manager}@example.com", "asks sre to take on checkout-api")
        assert "Run by its developers for at least 6 weeks (required, NOT met)" in told.text
    world.inbox.assert_no_unexpected()
    ops_policy = await _rotation(world, "sre", ("Olga", "Omar"))
    await world.at(START + timedelta(weeks=6) - timedelta(minutes=1))
    early = await world.client.post(
        f"/api/v1/handover-requests/{request['id']}/accept",
        json={"escalation_policy_id": ops_policy},
        headers=world.people["Olga"].headers,
    )
    assert early.status_code == 409
    assert early.json()["failing_items"] == ["self_managed"]
    assert "run by its developers for 6.0 weeks" in early.json()["detail"]

    await world.at(START + timedelta(weeks=6))
    view = await world.readiness()
    assert (view["current"]["score"], view["current"]["band"]) == (100, "passing")
    assert view["handover_allowed"]
    accepted = await world.call(
        "Olga",
        "POST",
        f"/api/v1/handover-requests/{request['id']}/accept",
        json={"escalation_policy_id": ops_policy},
    )
    await world.engine.drain()
    assert (accepted["direction"], accepted["score"], accepted["decided_by_name"]) == (
        "handover",
        100,
        "Olga",
    )
    for manager in ("dana", "olga"):
        world.inbox.expect(f"{manager}@example.com", "sre now supports checkout-api")
    moved = await world.call("admin", "GET", f"/api/v1/services/{service}")
    assert (moved["support_model"], moved["escalation_policy_id"]) == ("ops", ops_policy)
    assert moved["developer_policy_id"] == dev_policy
    handover_at = world.engine.clock.now()
    # The next alert pages the Ops rotation, not the developers.
    await world.page_resolved_by("Olga", "checkout timeouts", after=timedelta(minutes=10))

    # -- The organisation tolerates up to 12 sleep-hour pages in two weeks.
    limits = await world.call(
        "admin", "PATCH", "/api/v1/readiness/thresholds", json={"max_sleep_pages": 12}
    )
    assert (limits["window_days"], limits["max_sleep_pages"]) == (14, 12)
    # -- Two weeks of night pages: one at 01:00 each night, resolved in 10 minutes.
    for night in range(1, 14):
        await world.at(handover_at.replace(hour=1) + timedelta(days=night))
        await world.page_resolved_by("Olga", f"night storm {night}", after=timedelta(minutes=10))
        await world.at(handover_at.replace(hour=3) + timedelta(days=night))
        await run_nightly(world.engine.db)
        await world.engine.drain()
        proposals = (await world.readiness())["open_proposal"]
        if night < 13:
            # At most 12 sleep-hour pages in the window is within the criteria.
            assert proposals is None, f"night {night}"
            world.inbox.assert_no_unexpected()
    proposal = (await world.readiness())["open_proposal"]
    assert proposal is not None
    assert [b["key"] for b in proposal["breaches"]] == ["sleep_pages"]
    assert proposal["breaches"][0]["evidence"] == (
        "13 pages in sleep hours (22:00-09:00 on the responder's clock) over the last 14 days"
    )
    for manager in ("dana", "olga"):
        told = world.inbox.expect(f"{manager}@example.com", "Handback proposed: checkout-api")
        assert "13 pages in sleep hours" in told.text
    world.inbox.assert_no_unexpected()

    # -- Ops accepts: the developers get the pager back.
    back = await world.call(
        "Olga",
        "POST",
        f"/api/v1/handback-proposals/{proposal['id']}/accept",
        json={"reason": "too noisy at night"},
    )
    await world.engine.drain()
    assert back["direction"] == "handback" and back["to_policy_id"] == dev_policy
    assert [e["key"] for e in back["evidence"]] == ["sleep_pages"]
    for manager in ("dana", "olga"):
        world.inbox.expect(f"{manager}@example.com", "checkout-api is back with checkout")
    await world.page_resolved_by("Dana", "checkout latency again", after=timedelta(minutes=10))
    view = await world.readiness()
    assert view["support_model"] == "dev" and view["handed_back"]
    # The exit criteria: the same checklist; what is left is running it for six weeks again.
    assert view["failing_required"] == ["self_managed"]
    assert results(view)["self_managed"]["evidence"].startswith(
        "run by its developers for 0.0 weeks"
    )
    assert [t["direction"] for t in view["transitions"]] == ["handback", "handover"]
    world.inbox.assert_no_unexpected()
    # The history kept each evaluation and what changed between them.
    assert [h["trigger"] for h in view["history"]][-2:] == ["on_demand", "on_demand"]
