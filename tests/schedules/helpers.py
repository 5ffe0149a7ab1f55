"""Shared setup for the schedule API tests: a team with writers, and a schedule built by API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from app.core.auth import Role
from app.people.models import TeamKind
from tests.factories import Actor, Factory


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)  # type: ignore[misc]


def iso(instant: datetime) -> str:
    return instant.isoformat()


@dataclass
class Crew:
    """A team whose member ``owner`` may change its schedules, plus bystanders."""

    team_id: int
    owner: Actor
    admin: Actor
    outsider: Actor
    viewer: Actor


async def crew(factory: Factory, *, kind: TeamKind = TeamKind.OPS) -> Crew:
    team = await factory.team(kind=kind)
    owner = await factory.actor(Role.MEMBER)
    await factory.member(team.id, owner.id)
    return Crew(
        team_id=team.id,
        owner=owner,
        admin=await factory.actor(Role.ADMIN),
        outsider=await factory.actor(Role.MEMBER),
        viewer=await factory.actor(Role.VIEWER),
    )


def weekly_layer(participants: list[int], **extra: Any) -> dict[str, Any]:
    return {
        "name": extra.pop("name", "primary"),
        "participants": participants,
        "shift_length": 1,
        "shift_unit": "weeks",
        "start": "2026-01-05T09:00:00Z",
        **extra,
    }


async def create_schedule(
    client: httpx.AsyncClient, actor: Actor, team_id: int, **body: Any
) -> dict[str, Any]:
    payload = {"name": body.pop("name", "payments"), "team_id": team_id, **body}
    response = await client.post("/api/v1/schedules", headers=actor.headers, json=payload)
    assert response.status_code == 201, response.text
    return response.json()


async def on_call(
    client: httpx.AsyncClient, actor: Actor, schedule_id: int, at: datetime
) -> list[int]:
    response = await client.get(
        f"/api/v1/schedules/{schedule_id}/oncall", headers=actor.headers, params={"at": iso(at)}
    )
    assert response.status_code == 200, response.text
    return [r["user_id"] for r in response.json()["responders"]]
