"""People and teams (``/people``, ``/teams/{id}``): who is who, in which teams, and who is on
call now. Admins change site roles and team memberships here, through the same services as the
API; everyone else reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role, TeamRole
from app.core.session import ClockDep, DbSession
from app.people import schemas as people_schemas
from app.people import service as people_service
from app.people.models import Team, TeamMembership, User
from app.schedules import oncall_queries
from app.web.auth import WebAdmin, WebReader
from app.web.forms import form_text, validated
from app.web.listing import all_teams, everyone
from app.web.templating import render

router = APIRouter()


@dataclass
class OnCallStatus:
    """Someone's place on the schedules at one instant."""

    responding: list[str] = field(default_factory=list)  # schedule names
    shadowing: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        if self.responding:
            return "on call"
        return "shadow" if self.shadowing else "off"


async def on_call_now(session: AsyncSession, at: datetime) -> dict[int, OnCallStatus]:
    """Everyone on a schedule at ``at`` (responder or shadow); whoever is missing is off."""
    statuses: dict[int, OnCallStatus] = {}
    for answer in await oncall_queries.who_is_on_call(session, None, at):
        for person in answer.responders:
            statuses.setdefault(person.user_id, OnCallStatus()).responding.append(
                answer.schedule_name
            )
        for person in answer.shadows:
            statuses.setdefault(person.user_id, OnCallStatus()).shadowing.append(
                answer.schedule_name
            )
    return statuses


@dataclass(frozen=True)
class Membership:
    team: Team
    user: User
    role: TeamRole


def _memberships(
    rows: Iterable[TeamMembership], teams: dict[int, Team], users: dict[int, User]
) -> list[Membership]:
    return [
        Membership(teams[m.team_id], users[m.user_id], TeamRole(m.role))
        for m in rows
        if m.team_id in teams and m.user_id in users
    ]


@router.get("/people")
async def people_page(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep
) -> HTMLResponse:
    users = await everyone(session)
    teams = await all_teams(session)
    memberships = _memberships(
        await people_service.all_memberships(session),
        {t.id: t for t in teams},
        {u.id: u for u in users},
    )
    teams_of: dict[int, list[Membership]] = {}
    members_of: dict[int, int] = {}
    for membership in memberships:
        teams_of.setdefault(membership.user.id, []).append(membership)
        members_of[membership.team.id] = members_of.get(membership.team.id, 0) + 1
    return render(
        request,
        "people/people.html",
        {
            "users": users,
            "teams": teams,
            "teams_of": teams_of,
            "members_of": members_of,
            "status": await on_call_now(session, clock.now()),
            "off": OnCallStatus(),
            "is_admin": signed_in.principal.is_admin,
            "roles": list(Role),
        },
    )


@router.post("/people/{user_id}/role")
async def change_role(
    request: Request, signed_in: WebAdmin, session: DbSession, user_id: int
) -> Response:
    form = await request.form()
    change = validated(people_schemas.UserUpdate, {"role": form_text(form, "role")})
    await people_service.update_user(session, signed_in.principal, user_id, change)
    return RedirectResponse(f"/people#person-{user_id}", status_code=303)


@router.get("/teams/{team_id}")
async def team_page(
    request: Request, signed_in: WebReader, session: DbSession, clock: ClockDep, team_id: int
) -> HTMLResponse:
    team = await people_service.get_team(session, team_id)
    rows: Sequence[TeamMembership] = await people_service.list_members(session, team_id)
    users = await everyone(session)
    by_id = {u.id: u for u in users}
    members = sorted(
        _memberships(rows, {team.id: team}, by_id),
        key=lambda m: (m.role is not TeamRole.MANAGER, m.user.name.lower()),
    )
    in_team = {m.user.id for m in members}
    return render(
        request,
        "people/team.html",
        {
            "team": team,
            "members": members,
            "status": await on_call_now(session, clock.now()),
            "off": OnCallStatus(),
            "is_admin": signed_in.principal.is_admin,
            "team_roles": list(TeamRole),
            "candidates": [u for u in users if u.id not in in_team],
        },
    )


@router.post("/teams/{team_id}/members")
async def add_member(
    request: Request, signed_in: WebAdmin, session: DbSession, team_id: int
) -> Response:
    form = await request.form()
    membership = validated(
        people_schemas.MembershipCreate,
        {"user_id": form_text(form, "user_id"), "role": form_text(form, "role") or "member"},
    )
    await people_service.add_member(session, signed_in.principal, team_id, membership)
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


@router.post("/teams/{team_id}/members/{user_id}/role")
async def change_member_role(
    request: Request, signed_in: WebAdmin, session: DbSession, team_id: int, user_id: int
) -> Response:
    form = await request.form()
    change = validated(people_schemas.MembershipUpdate, {"role": form_text(form, "role")})
    await people_service.update_member(session, signed_in.principal, team_id, user_id, change)
    return RedirectResponse(f"/teams/{team_id}", status_code=303)


@router.post("/teams/{team_id}/members/{user_id}/remove")
async def remove_member(
    request: Request, signed_in: WebAdmin, session: DbSession, team_id: int, user_id: int
) -> Response:
    await people_service.remove_member(session, signed_in.principal, team_id, user_id)
    return RedirectResponse(f"/teams/{team_id}", status_code=303)
