"""``/baton incidents | ack | resolve | escalate | handoff | note | page``.

Each command acts as the caller's Baton user with that user's rights, in one transaction that
rolls back whole on a refusal: a refused command changes nothing. The incident's own Slack
messages are updated by ``announce`` (the incident service), so success answers are short.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.auth import Principal
from app.core.db import Database, session_clock
from app.core.errors import BatonError
from app.incidents import channel_actions as actions
from app.incidents import service as incidents
from app.incidents.channel_actions import Action
from app.incidents.models import Incident, IncidentState
from app.incidents.service import Actor
from app.integrations.slack import app_blocks
from app.integrations.slack.app_blocks import IncidentLine, Reply
from app.integrations.slack.client import SlackAppApi
from app.integrations.slack.command_context import (
    Call,
    Refusal,
    incident_meant,
    incident_title,
    mentioned_user,
    principal_of,
)
from app.integrations.slack.commands import UsageError, mention, optional_incident, split_first
from app.people import service as people
from app.people.models import TeamMembership, Urgency, User

OPEN_STATES = (IncidentState.TRIGGERED, IncidentState.ACKNOWLEDGED)


# ------------------------------------------------------------------------------ incidents


async def _lines(session: AsyncSession, found: list[Incident]) -> list[IncidentLine]:
    if not found:
        return []
    rows = await session.execute(
        select(Service.id, Service.name).where(Service.id.in_({i.service_id for i in found}))
    )
    names = dict(rows.all())
    return [
        IncidentLine(
            i.id,
            i.title,
            names.get(i.service_id, "?"),
            i.state.value,
            i.urgency.value,
            i.created_at,
        )
        for i in found
    ]


async def list_incidents(call: Call) -> Reply:
    """No argument: the caller's open incidents; a service or team name: theirs."""
    ref = call.invocation.text.strip()
    async with call.ctx.db.transaction() as session:
        await call.principal(session)
        if not ref:
            criteria = incidents.IncidentFilter(states=OPEN_STATES, assigned_to=call.user_id)
            heading = "Your open incidents"
        else:
            service_ids, heading = await _services_named(session, ref)
            criteria = incidents.IncidentFilter(states=OPEN_STATES)
        stmt = incidents.filtered(select(Incident), criteria)
        if ref:
            stmt = stmt.where(Incident.service_id.in_(service_ids))
        total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        shown = await session.scalars(
            stmt.order_by(Incident.id.desc()).limit(app_blocks.MAX_LISTED_INCIDENTS)
        )
        lines = await _lines(session, list(shown))
    reply = app_blocks.incidents_reply(heading, lines, call.ctx.public_url, total=total)
    return reply.publicly(call.invocation.here)


async def _services_named(session: AsyncSession, ref: str) -> tuple[list[int], str]:
    service = await catalog.get_service_by_name(session, ref)
    if service is not None:
        return [service.id], f"Open incidents of {service.name}"
    team = await people.get_team_by_name(session, ref)
    if team is not None:
        ids = list(await session.scalars(select(Service.id).where(Service.team_id == team.id)))
        return ids, f"Open incidents of team {team.name}"
    raise Refusal(f"No service or team is called `{ref}`.")


# ------------------------------------------------------------- acknowledge, resolve, escalate


async def _act(call: Call, verb: Action) -> Reply:
    explicit, _ = optional_incident(call.invocation.text)
    incident_id = await incident_meant(call, explicit)
    async with call.ctx.db.transaction() as session:
        outcome = await actions.act(session, await call.principal(session), incident_id, verb)
    return Reply(outcome.text)


async def acknowledge(call: Call) -> Reply:
    return await _act(call, Action.ACKNOWLEDGE)


async def escalate(call: Call) -> Reply:
    return await _act(call, Action.ESCALATE)


async def resolve(call: Call) -> Reply:
    """``resolve [#id] [note]``: the note goes on the timeline with the resolution."""
    explicit, note = optional_incident(call.invocation.text)
    if not note:
        return await _act(call, Action.RESOLVE)
    incident_id = await incident_meant(call, explicit)
    result = await resolve_with_note(call.ctx.db, call.user_id, incident_id, note)
    return Reply(result.text)


async def resolve_with_note(db: Database, user_id: int, incident_id: int, note: str) -> Attempt:
    return await attempt(
        db,
        user_id,
        "resolve",
        incident_id,
        lambda session, principal: incidents.resolve(session, principal, incident_id, note),
        done=lambda title: f"Resolved #{incident_id} {title}",
    )


Change = Callable[[AsyncSession, Principal], Awaitable[object]]


@dataclass(frozen=True)
class Attempt:
    ok: bool
    text: str


async def attempt(
    db: Database,
    user_id: int,
    verb: str,
    incident_id: int,
    change: Change,
    *,
    done: Callable[[str], str],
) -> Attempt:
    """Run ``change`` as the user; a refusal rolls the whole transaction back.

    ``done`` words the success from the incident's title.
    """
    try:
        async with db.transaction() as session:
            title = await incident_title(session, incident_id)
            await change(session, await principal_of(session, user_id))
    except BatonError as exc:
        return Attempt(False, f"Could not {verb} #{incident_id}: {exc.detail}")
    return Attempt(True, done(title))


# ------------------------------------------------------------------------ hand-off, notes


async def _open_modal(call: Call, incident_id: int, build: Callable[..., dict]) -> Reply:
    """Open a modal with the command's trigger (good for 3 seconds)."""
    api = call.ctx.api
    if api is None or not call.request.trigger_id:
        raise Refusal("Baton cannot open a dialog here; give everything on the command line.")
    async with call.ctx.db.transaction() as session:
        title = await incident_title(session, incident_id)
    meta = app_blocks.metadata(
        incident_id=incident_id,
        response_url=call.request.response_url,
        channel_id=call.request.channel_id,
    )
    await SlackAppApi(api).open_view(call.request.trigger_id, build(incident_id, title, meta))
    return app_blocks.SILENT


async def handoff(call: Call) -> Reply:
    """``handoff #id @user [note]``; without ``@user`` a dialog asks whom to."""
    explicit, rest = optional_incident(call.invocation.text)
    first, note = split_first(rest)
    target = mention(first) if first else None
    if first and target is None:
        raise UsageError(
            f"`{first}` is not a person: type @ and pick them from Slack's list", "handoff"
        )
    incident_id = await incident_meant(call, explicit)
    if target is None:
        return await _open_modal(call, incident_id, app_blocks.handoff_modal)
    user = await mentioned_user(call.ctx, call.request.team_id, target)
    return Reply((await hand_over(call.ctx.db, call.user_id, incident_id, user, note)).text)


async def hand_over(db: Database, user_id: int, incident_id: int, user: User, note: str) -> Attempt:
    return await attempt(
        db,
        user_id,
        "hand off",
        incident_id,
        lambda session, principal: incidents.reassign(
            session, principal, incident_id, user.id, note
        ),
        done=lambda title: f"Handed #{incident_id} {title} to {user.name}; they are being paged.",
    )


async def note(call: Call) -> Reply:
    """``note #id text``; without text a dialog asks for it."""
    explicit, text = optional_incident(call.invocation.text)
    incident_id = await incident_meant(call, explicit)
    if not text:
        return await _open_modal(call, incident_id, app_blocks.note_modal)
    return Reply((await add_note(call.ctx.db, call.user_id, incident_id, text)).text)


async def add_note(db: Database, user_id: int, incident_id: int, text: str) -> Attempt:
    return await attempt(
        db,
        user_id,
        "add a note to",
        incident_id,
        lambda session, principal: incidents.add_note(session, principal, incident_id, text),
        done=lambda title: f"Added your note to #{incident_id} {title}",
    )


# ----------------------------------------------------------------------------------- page


async def page(call: Call) -> Reply:
    """``page <service|team|@user> <message>``: open an incident by hand.

    A service is paged through its escalation policy. A team is paged through the service it
    owns (when it owns several, the caller names one). A person is paged directly, along their
    own notification rules and nobody else's; the incident is filed under a service of their
    team (or of the caller's), since every incident belongs to a service.
    """
    target, message = split_first(call.invocation.text)
    if not target:
        raise UsageError("say whom to page", "page")
    if not message:
        raise UsageError("add a message saying what is wrong", "page")
    person = mention(target)
    if person is not None:
        user = await mentioned_user(call.ctx, call.request.team_id, person)
        return await _page_person(call, user, message)
    try:
        async with call.ctx.db.transaction() as session:
            principal = await call.principal(session)
            principal.require_write()
            service = await _service_to_page(session, target)
            incident = await incidents.open_incident(
                session,
                service,
                title=message,
                urgency=Urgency.HIGH,
                group_key=None,
                actor=Actor.of(principal),
                now=session_clock(session).now(),
                details="paged by hand from Slack",
            )
    except BatonError as exc:
        return Reply(f"Could not page {target}: {exc.detail}")
    return Reply(f"Opened #{incident.id} on {service.name} and paged its escalation policy.")


async def _service_to_page(session: AsyncSession, name: str) -> Service:
    service = await catalog.get_service_by_name(session, name)
    if service is not None:
        return service
    team = await people.get_team_by_name(session, name)
    if team is None:
        raise Refusal(f"No service or team is called `{name}`; nobody was paged.")
    owned = list(
        await session.scalars(
            select(Service).where(Service.team_id == team.id).order_by(Service.name)
        )
    )
    if len(owned) == 1:
        return owned[0]
    if not owned:
        raise Refusal(f"Team {team.name} owns no service to page through; nobody was paged.")
    names = ", ".join(s.name for s in owned)
    raise Refusal(f"Team {team.name} owns several services ({names}): page one of them.")


async def _filing_service(session: AsyncSession, user_id: int, caller_id: int) -> Service:
    for person in (user_id, caller_id):
        found = await session.scalar(
            select(Service)
            .join(TeamMembership, TeamMembership.team_id == Service.team_id)
            .where(TeamMembership.user_id == person)
            .order_by(Service.name)
            .limit(1)
        )
        if found is not None:
            return found
    raise Refusal(
        "Neither of you belongs to a team with a service to file the page under; "
        "page a service instead."
    )


async def _page_person(call: Call, user: User, message: str) -> Reply:
    try:
        async with call.ctx.db.transaction() as session:
            principal = await call.principal(session)
            principal.require_write()
            service = await _filing_service(session, user.id, principal.user_id)
            incident = await open_direct_page(
                session, principal, user, service, message, session_clock(session).now()
            )
    except BatonError as exc:
        return Reply(f"Could not page {user.name}: {exc.detail}")
    return Reply(
        f"Opened #{incident.id} and paged {user.name} directly (filed under {service.name})."
    )


async def open_direct_page(
    session: AsyncSession,
    principal: Principal,
    user: User,
    service: Service,
    message: str,
    now: datetime,
) -> Incident:
    """An incident that pages one person along their own rules, with no escalation policy."""
    return await incidents.open_incident(
        session,
        service,
        title=message,
        urgency=Urgency.HIGH,
        group_key=None,
        actor=Actor.of(principal),
        now=now,
        details=f"a direct page to {user.name} via {principal.channel}",
        direct_to=user,
    )


HANDLERS: dict[str, Callable[[Call], Awaitable[Reply]]] = {
    "incidents": list_incidents,
    "ack": acknowledge,
    "resolve": resolve,
    "escalate": escalate,
    "handoff": handoff,
    "note": note,
    "page": page,
}
