"""The payments-api world that the engine, channel and Slack scenarios share.

Team ``sre`` owns the service ``payments-api``. Its policy pages a first step (Alice, or a
daily rotation) and, 5 minutes later, Bob; 10 minutes after Bob nobody is left. One
integration takes the service's alerts. Each suite's conftest builds it through the API with
the parameters that differ (who else is on the team and in which time zone, whether a
schedule pages first, which integration) and then adds what only it needs: contact methods,
fake devices, people outside the team.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import httpx

from app.core.auth import Role
from tests.factories import Actor, Factory
from tests.paging import api

GENERIC = "/api/v1/integrations/generic"
RUNBOOK_URL = "https://runbooks.example.internal/payments-api"
FIRST_STEP_MINUTES = 5
SECOND_STEP_MINUTES = 10


@dataclass(frozen=True)
class Rotation:
    """A daily rotation that the first step pages instead of Alice alone (by member name)."""

    participants: Sequence[str]
    shadows: Sequence[str] = ()
    name: str = "Payments"
    handoff_time: str = "09:00"
    start: str = "2026-03-02"


@dataclass
class PaymentsWorld:
    client: httpx.AsyncClient
    admin: Actor
    members: dict[str, Actor]
    """The team's members by name; Alice and Bob are always among them."""
    team: dict[str, Any]
    schedule: dict[str, Any] | None
    """The rotation the first step pages, if the world was built with one."""
    policy: dict[str, Any]
    service: dict[str, Any]
    integration: dict[str, Any]

    @property
    def alice(self) -> Actor:
        return self.members["Alice"]

    @property
    def bob(self) -> Actor:
        return self.members["Bob"]

    @property
    def key(self) -> str:
        """The integration's secret key."""
        return str(self.integration["key"])

    def parts(self) -> dict[str, Any]:
        """The world's fields, to build a suite's richer world from this one."""
        return {f.name: getattr(self, f.name) for f in fields(PaymentsWorld)}

    async def fire(self, summary: str = "p99 latency above 2s", **extra: Any) -> int:
        """Trigger an alert through the generic integration; the incident it opened or joined."""
        assert self.integration["kind"] == "generic", "this world's integration is not generic"
        response = await self.client.post(
            GENERIC,
            json={"summary": summary, **extra},
            headers={"Authorization": f"Bearer {self.key}"},
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

    async def notifications(self, incident_id: int) -> list[dict[str, Any]]:
        return await api(
            self.client, self.admin, "GET", f"/api/v1/incidents/{incident_id}/notifications"
        )


async def build_payments_world(
    client: httpx.AsyncClient,
    factory: Factory,
    *,
    members: Sequence[str] = ("Alice", "Bob"),
    time_zone: str = "UTC",
    admin_name: str | None = None,
    rotation: Rotation | None = None,
    runbook_url: str | None = RUNBOOK_URL,
    integration_kind: str = "generic",
    integration_name: str = "scripts",
) -> PaymentsWorld:
    """Build the world; ``members`` are created in order (so their ids are predictable), each
    with ``<name>@example.com`` and ``time_zone``."""
    assert {"Alice", "Bob"} <= set(members), "the policy pages Alice (or a rotation) and Bob"
    admin = await factory.actor(Role.ADMIN, name=admin_name, email="admin@example.com")
    people = {
        name: await factory.actor(
            Role.MEMBER, name=name, email=f"{name.lower()}@example.com", time_zone=time_zone
        )
        for name in members
    }
    team = await api(client, admin, "POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    for person in people.values():
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/teams/{team['id']}/members",
            json={"user_id": person.id},
        )
    schedule = None
    first_target: dict[str, Any] = {"kind": "user", "user_id": people["Alice"].id}
    if rotation is not None:
        schedule = await _rotation_schedule(client, admin, team, people, rotation, time_zone)
        first_target = {"kind": "schedule", "schedule_id": schedule["id"]}
    policy = await api(
        client,
        admin,
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "payments",
            "team_id": team["id"],
            "steps": [
                {"delay_minutes": FIRST_STEP_MINUTES, "targets": [first_target]},
                {
                    "delay_minutes": SECOND_STEP_MINUTES,
                    "targets": [{"kind": "user", "user_id": people["Bob"].id}],
                },
            ],
        },
    )
    service_body: dict[str, Any] = {
        "name": "payments-api",
        "team_id": team["id"],
        "escalation_policy_id": policy["id"],
    }
    if runbook_url is not None:
        service_body["runbook_url"] = runbook_url
    service = await api(client, admin, "POST", "/api/v1/services", json=service_body)
    integration = await api(
        client,
        admin,
        "POST",
        f"/api/v1/services/{service['id']}/integrations",
        json={"kind": integration_kind, "name": integration_name},
    )
    return PaymentsWorld(
        client=client,
        admin=admin,
        members=people,
        team=team,
        schedule=schedule,
        policy=policy,
        service=service,
        integration=integration,
    )


async def _rotation_schedule(
    client: httpx.AsyncClient,
    admin: Actor,
    team: dict[str, Any],
    people: dict[str, Actor],
    rotation: Rotation,
    time_zone: str,
) -> dict[str, Any]:
    return await api(
        client,
        admin,
        "POST",
        "/api/v1/schedules",
        json={
            "name": rotation.name,
            "team_id": team["id"],
            "time_zone": time_zone,
            "layers": [
                {
                    "name": "primary",
                    "participants": [people[n].id for n in rotation.participants],
                    "shadows": [people[n].id for n in rotation.shadows],
                    "shift_unit": "days",
                    "shift_length": 1,
                    "handoff_time": rotation.handoff_time,
                    "start": rotation.start,
                }
            ],
        },
    )
