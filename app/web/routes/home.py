"""Who is on call now (``/``), the home page: every schedule and every service, responder and
shadow, until when and who is next, optionally for one team; and a banner for the viewer
("You are on call until ...", "Your next shift starts ...").

The answers are the API's: ``oncall_queries.who_is_on_call`` (``GET /api/v1/oncall``) and
``oncall_queries.next_shift`` (``GET /api/v1/users/{id}/next-shift``). A service reaches whom
its escalation policy's first step pages: the people on call for the schedules it names, and
the people it names directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog_service
from app.catalog.models import Service
from app.core.errors import InvalidInput
from app.core.session import ClockDep, DbSession
from app.escalation import service as escalation_service
from app.escalation.policy import PolicySnapshot
from app.schedules import oncall_queries
from app.schedules import service as schedules_service
from app.schedules.schemas import NextShiftOut, OnCallOut
from app.web.auth import Viewer, WebReader
from app.web.listing import all_teams, every_page
from app.web.templating import render

router = APIRouter()

T = TypeVar("T")

TeamQuery = Annotated[str | None, Query(max_length=20, description="A team's id; empty: all")]


def team_filter(value: str | None) -> int | None:
    """The ``team`` query parameter: empty (the "All teams" choice) or a team's id."""
    if value is None or not value.strip():
        return None
    if not value.strip().isdigit():
        raise InvalidInput("team must be a team's id", field="query.team")
    return int(value.strip())


@dataclass(frozen=True)
class Reach:
    """One target of a service's first escalation step, and whom it reaches now."""

    kind: str  # "schedule" | "user" | "slack_channel" | "webhook"
    label: str
    on_call: OnCallOut | None = None


@dataclass(frozen=True)
class ServiceRow:
    service: Service
    policy_name: str | None
    reaches: list[Reach]


async def _service_rows(
    session: AsyncSession, services: Sequence[Service], answers: dict[int, OnCallOut]
) -> list[ServiceRow]:
    policies: dict[int, PolicySnapshot | None] = {}
    for policy_id in {s.escalation_policy_id for s in services} - {None}:
        assert policy_id is not None
        policies[policy_id] = await escalation_service.load_snapshot(session, policy_id)
    first_steps = {
        policy_id: policy.steps[0] if policy is not None and policy.steps else None
        for policy_id, policy in policies.items()
    }
    user_ids = {
        target.user_id
        for step in first_steps.values()
        if step is not None
        for target in step.targets
        if target.user_id is not None
    }
    users = await schedules_service.people(session, user_ids)
    rows = []
    for svc in sorted(services, key=lambda s: s.name.lower()):
        policy = policies.get(svc.escalation_policy_id) if svc.escalation_policy_id else None
        step = first_steps.get(svc.escalation_policy_id) if svc.escalation_policy_id else None
        reaches: list[Reach] = []
        for target in step.targets if step is not None else ():
            if target.schedule_id is not None:
                answer = answers.get(target.schedule_id)
                label = answer.schedule_name if answer else f"schedule {target.schedule_id}"
                reaches.append(Reach("schedule", label, answer))
            elif target.user_id is not None:
                user = users.get(target.user_id)
                reaches.append(Reach("user", user.name if user else f"user {target.user_id}"))
            else:
                reaches.append(Reach(target.kind, target.address or target.kind))
        rows.append(ServiceRow(svc, policy.name if policy else None, reaches))
    return rows


@dataclass(frozen=True)
class Banner:
    """What the viewer's own on-call looks like: on call (or shadowing) now, or next."""

    on_call: list[OnCallOut]
    shadowing: list[OnCallOut]
    next_shift: NextShiftOut | None


async def viewer_banner(
    session: AsyncSession, viewer: Viewer, answers: Sequence[OnCallOut], clock: ClockDep
) -> Banner:
    on_call = [a for a in answers if any(r.user_id == viewer.id for r in a.responders)]
    shadowing = [a for a in answers if any(s.user_id == viewer.id for s in a.shadows)]
    upcoming = None
    if not on_call:
        found = await oncall_queries.next_shift(session, viewer.id, clock.now())
        upcoming = found if found.shift is not None else None
    return Banner(on_call, shadowing, upcoming)


@router.get("/")
async def on_call_now(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    team: TeamQuery = None,
) -> HTMLResponse:
    team_id = team_filter(team)
    answers = await oncall_queries.who_is_on_call(session, None, clock.now())
    by_schedule = {answer.schedule_id: answer for answer in answers}
    services = await every_page(
        lambda page: catalog_service.list_services(session, page, team_id=team_id)
    )
    teams = await all_teams(session)
    return render(
        request,
        "oncall/now.html",
        {
            "schedules": [a for a in answers if team_id is None or a.team_id == team_id],
            "services": await _service_rows(session, services, by_schedule),
            "teams": teams,
            "team_names": {t.id: t.name for t in teams},
            "team_id": team_id,
            "banner": await viewer_banner(session, signed_in.viewer, answers, clock),
        },
    )
