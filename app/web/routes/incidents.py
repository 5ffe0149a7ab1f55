"""The incident pages: the list (``/incidents``, filtered, live) and one incident
(``/incidents/{id}``, where the links in SMS, Slack and e-mail pages land) with its actions.

Every read and every action calls what the API's routes call (``app/incidents/api.py``), with
the signed-in principal, so a page may do exactly what that person's token may. The parts that
change on their own (the list's rows, an incident's status and timeline) are fragments that
htmx polls; the actions are forms that htmx posts, and that work as plain forms without it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.grouping import alert_labels
from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.errors import Forbidden, InvalidInput
from app.core.pagination import PageParams, decode_cursor, paginate
from app.core.schemas import Id
from app.core.session import DbSession
from app.deploys import service as deploys
from app.escalation.policy import Position, next_position
from app.incidents import api as incidents_api
from app.incidents import service as incidents
from app.incidents import timeline
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.people import service as people
from app.people.models import Urgency, User
from app.web import deploy_views
from app.web.auth import SignedIn, WebReader, WebWriter
from app.web.templating import is_htmx, render

router = APIRouter()

PAGE_SIZE = 50
# Services and people offered in the filters and the reassign list: one page of each, as big
# as the API's pages go.
CHOICES_LIMIT = 500
NOTE_MAX = 2000


# ----------------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class ListFilters:
    """The list's filters, read from and written back to the address (a filtered view can be
    shared by its URL)."""

    states: tuple[IncidentState, ...] = ()
    service_id: int | None = None
    urgency: Urgency | None = None
    mine: bool = False
    cursor: str | None = None

    def query(self, *, cursor: str | None = None) -> str:
        """The query string of this view (``cursor`` for another page of it)."""
        pairs: list[tuple[str, str]] = [("state", s.value) for s in self.states]
        if self.service_id is not None:
            pairs.append(("service_id", str(self.service_id)))
        if self.urgency is not None:
            pairs.append(("urgency", self.urgency.value))
        if self.mine:
            pairs.append(("mine", "1"))
        if cursor:
            pairs.append(("cursor", cursor))
        return urlencode(pairs)

    @property
    def is_filtered(self) -> bool:
        return bool(self.states or self.service_id is not None or self.urgency or self.mine)

    def summary(self, service_names: dict[int, str]) -> str:
        """The filters in words, for the folded filter form: "triggered, high urgency, mine"."""
        said: list[str] = []
        if self.states:
            said.append(" or ".join(s.value for s in self.states))
        if self.service_id is not None:
            said.append(service_names.get(self.service_id, f"service {self.service_id}"))
        if self.urgency is not None:
            said.append(f"{self.urgency.value} urgency")
        if self.mine:
            said.append("assigned to me")
        return ", ".join(said)

    def criteria(self, signed_in: SignedIn) -> incidents.IncidentFilter:
        return incidents.IncidentFilter(
            service_id=self.service_id,
            states=self.states,
            urgency=self.urgency,
            assigned_to=signed_in.principal.user_id if self.mine else None,
        )


def _choice(value: str, allowed: type[IncidentState] | type[Urgency], name: str) -> Any:
    try:
        return allowed(value)
    except ValueError:
        options = ", ".join(v.value for v in allowed)
        raise InvalidInput(f"{name} must be one of {options}", field=f"query.{name}") from None


def list_filters(request: Request) -> ListFilters:
    """Read leniently: the filter form sends empty values for "any"."""
    params = request.query_params
    states = tuple(
        dict.fromkeys(_choice(v, IncidentState, "state") for v in params.getlist("state") if v)
    )
    raw_service = params.get("service_id") or ""
    service_id: int | None = None
    if raw_service:
        if not raw_service.isdigit() or len(raw_service) > 18:
            raise InvalidInput("service_id must be a service's id", field="query.service_id")
        service_id = int(raw_service)
    raw_urgency = params.get("urgency") or ""
    urgency = _choice(raw_urgency, Urgency, "urgency") if raw_urgency else None
    mine = params.get("mine", "") not in ("", "0", "false")
    cursor = params.get("cursor") or None
    return ListFilters(states, service_id, urgency, mine, cursor)


Filters = Annotated[ListFilters, Depends(list_filters)]


async def _services(session: AsyncSession) -> Sequence[Service]:
    services, _ = await catalog.list_services(
        session, PageParams(limit=CHOICES_LIMIT, after_id=None)
    )
    return sorted(services, key=lambda s: s.name.casefold())


async def _list_context(
    session: AsyncSession, signed_in: SignedIn, filters: ListFilters
) -> dict[str, Any]:
    """What the list and its rows fragment show: as the API's ``GET /incidents`` lists them."""
    page = PageParams(
        limit=PAGE_SIZE, after_id=decode_cursor(filters.cursor) if filters.cursor else None
    )
    stmt = incidents.filtered(select(Incident), filters.criteria(signed_in))
    rows, next_cursor = await paginate(session, stmt, Incident.id, page, descending=True)
    services = await _services(session)
    service_names = {s.id: s.name for s in services}
    return {
        "incidents": rows,
        "assignees": await incidents.assignees_of(session, [i.id for i in rows]),
        "services": services,
        "service_names": service_names,
        "filters": filters,
        "filter_summary": filters.summary(service_names),
        "next_query": filters.query(cursor=next_cursor) if next_cursor else None,
        "rows_url": "/incidents/rows?" + filters.query(cursor=filters.cursor),
        "states": list(IncidentState),
        "urgencies": list(Urgency),
    }


@router.get("/incidents")
async def incident_list(
    request: Request, signed_in: WebReader, session: DbSession, filters: Filters
) -> HTMLResponse:
    context = await _list_context(session, signed_in, filters)
    return render(request, "incidents/list.html", context)


@router.get("/incidents/rows")
async def incident_rows(
    request: Request, signed_in: WebReader, session: DbSession, filters: Filters
) -> HTMLResponse:
    """The list region alone, for htmx to poll."""
    context = await _list_context(session, signed_in, filters)
    return render(request, "incidents/_rows.html", context)


# ------------------------------------------------------------------------------ one incident


@dataclass(frozen=True)
class TimelineEntry:
    id: int
    at: Any
    kind: str
    channel: str
    message: str


async def _actions(
    session: AsyncSession, incident: Incident, signed_in: SignedIn
) -> frozenset[str]:
    """The buttons that make sense now, for this person; the services still refuse whatever
    is not allowed."""
    try:
        await incidents.require_can_act(session, signed_in.principal, incident)
    except Forbidden:
        return frozenset()
    if incident.state is IncidentState.RESOLVED:
        # The API takes notes on a resolved incident (what was found afterwards); nothing else.
        return frozenset({"note"})
    shown = {"resolve", "reassign", "note", "urgency"}
    shown.add("acknowledge" if incident.state is IncidentState.TRIGGERED else "unacknowledge")
    policy = incidents.policy_of(incident)
    position = Position(incident.escalation_loop, incident.escalation_step)
    if policy is not None and policy.steps and next_position(policy, position) is not None:
        shown.add("escalate")
    return frozenset(shown)


async def _timeline(session: AsyncSession, incident_id: int) -> list[TimelineEntry]:
    rows = await timeline.events_for(session, incident_id)
    return [
        TimelineEntry(row.id, row.at, row.kind, row.channel, timeline.message_of(row, typed))
        for row in rows
        for typed in (timeline.typed(row),)
    ]


async def _reassign_choices(session: AsyncSession, actions: frozenset[str]) -> Sequence[User]:
    if "reassign" not in actions:
        return []
    users, _ = await people.list_users(session, PageParams(limit=CHOICES_LIMIT, after_id=None))
    return sorted(users, key=lambda u: u.name.casefold())


async def _incident_context(
    session: AsyncSession, signed_in: SignedIn, incident_id: int, *, with_choices: bool = True
) -> dict[str, Any]:
    """What the API's ``GET /incidents/{id}`` composes, in the page's terms; ``with_choices``
    adds the people the incident can be handed to (only the forms need them)."""
    incident = await incidents.get_incident(session, incident_id)
    service = await catalog.get_service(session, incident.service_id)
    alerts = await incidents_api.INCIDENT_ALERTS.call(session, incident_id)
    assigned = (await incidents.assignees_of(session, [incident_id]))[incident_id]
    actions = await _actions(session, incident, signed_in)
    panels = await deploy_views.nearby_panels(session, incident)
    return {
        "incident": incident,
        "service": service,
        "alerts": [(alert, alert_labels(getattr(alert, "details", {}))) for alert in alerts],
        "responders": [user for a, user in assigned if not a.shadow],
        "shadows": [user for a, user in assigned if a.shadow],
        "responder_ids": {user.id for a, user in assigned if not a.shadow},
        "timeline": await _timeline(session, incident_id),
        "actions": actions,
        "people": await _reassign_choices(session, actions) if with_choices else [],
        "urgencies": list(Urgency),
        "deploys": panels,
        "shown_deploys": deploy_views.shown_verdicts(panels),
        # Judging is an action like the others (an empty set: this person may not act); the API
        # takes it on a resolved incident too.
        "can_judge": bool(actions),
        "done": None,
    }


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, signed_in: WebReader, session: DbSession, incident_id: Id
) -> HTMLResponse:
    context = await _incident_context(session, signed_in, incident_id)
    return render(request, "incidents/incident.html", context)


@router.get("/incidents/{incident_id}/live")
async def incident_live(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    incident_id: Id,
    shown_state: str = "",
    shown_urgency: str = "",
    shown_deploys: str = "",
) -> HTMLResponse:
    """What htmx polls on the incident page: the timeline, the status beside it (out of band)
    and, when someone else changed the state or urgency, the buttons too. The buttons are not
    redrawn otherwise: a note being typed would be lost."""
    context = await _incident_context(session, signed_in, incident_id, with_choices=False)
    incident: Incident = context["incident"]
    redraw = (shown_state, shown_urgency) != (incident.state.value, incident.urgency.value)
    if redraw:
        context["people"] = await _reassign_choices(session, context["actions"])
    context["redraw_actions"] = redraw
    # A judgement made elsewhere (Slack, the API) redraws the deploy panel; nothing else does,
    # so a focused button is not replaced under the keyboard every few seconds.
    context["redraw_deploys"] = redraw or shown_deploys != context["shown_deploys"]
    return render(request, "incidents/_live.html", context)


# ---------------------------------------------------------------------------------- actions


async def _after_action(
    request: Request, session: AsyncSession, signed_in: SignedIn, incident_id: int, done: str
) -> Response:
    """htmx gets the incident's region redrawn (and a word in #flash); a plain form goes back
    to the incident's page."""
    if not is_htmx(request):
        return RedirectResponse(f"/incidents/{incident_id}", status_code=303)
    await session.flush()
    context = await _incident_context(session, signed_in, incident_id)
    context["done"] = done
    return render(request, "incidents/_incident.html", context)


def _note(value: str, *, required: bool = False, name: str = "note") -> str:
    text = value.strip()
    if required and not text:
        raise InvalidInput("write something first", field=f"body.{name}")
    if len(text) > NOTE_MAX:
        raise InvalidInput(f"at most {NOTE_MAX} characters", field=f"body.{name}")
    return text


@router.post("/incidents/{incident_id}/acknowledge")
async def acknowledge(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: Id
) -> Response:
    await incidents.acknowledge(session, signed_in.principal, incident_id)
    return await _after_action(request, session, signed_in, incident_id, "Acknowledged.")


@router.post("/incidents/{incident_id}/unacknowledge")
async def unacknowledge(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: Id
) -> Response:
    await incidents.unacknowledge(session, signed_in.principal, incident_id)
    return await _after_action(
        request, session, signed_in, incident_id, "Unacknowledged: escalation starts again."
    )


@router.post("/incidents/{incident_id}/resolve")
async def resolve(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    incident_id: Id,
    note: Annotated[str, Form()] = "",
) -> Response:
    await incidents.resolve(session, signed_in.principal, incident_id, _note(note))
    return await _after_action(request, session, signed_in, incident_id, "Resolved.")


@router.post("/incidents/{incident_id}/escalate")
async def escalate(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: Id
) -> Response:
    await incidents.escalate(session, signed_in.principal, incident_id)
    return await _after_action(
        request, session, signed_in, incident_id, "Escalated to the next step."
    )


@router.post("/incidents/{incident_id}/reassign")
async def reassign(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    incident_id: Id,
    user_id: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    if not user_id.isdigit() or len(user_id) > 18:
        raise InvalidInput("choose a person to hand the incident to", field="body.user_id")
    await incidents.reassign(session, signed_in.principal, incident_id, int(user_id), _note(note))
    target = await people.get_user(session, int(user_id))
    return await _after_action(
        request, session, signed_in, incident_id, f"Handed to {target.name}; they are paged now."
    )


@router.post("/incidents/{incident_id}/notes")
async def add_note(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    incident_id: Id,
    text: Annotated[str, Form()] = "",
) -> Response:
    body = _note(text, required=True, name="text")
    await incidents.add_note(session, signed_in.principal, incident_id, body)
    return await _after_action(request, session, signed_in, incident_id, "Note added.")


@router.post("/incidents/{incident_id}/urgency")
async def set_urgency(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    incident_id: Id,
    urgency: Annotated[str, Form()] = "",
) -> Response:
    chosen: Urgency = _choice(urgency, Urgency, "urgency")
    await incidents.set_urgency(session, signed_in.principal, incident_id, chosen)
    return await _after_action(
        request, session, signed_in, incident_id, f"Urgency is now {chosen.value}."
    )


async def _judge(
    request: Request,
    signed_in: SignedIn,
    session: AsyncSession,
    incident_id: int,
    deployment_id: int,
    *,
    caused: bool,
) -> Response:
    await deploys.judge(session, signed_in.principal, incident_id, deployment_id, caused=caused)
    done = "Marked as caused by this deploy." if caused else "Marked as not related to the deploy."
    return await _after_action(request, session, signed_in, incident_id, done)


@router.post("/incidents/{incident_id}/deploys/{deployment_id}/confirm")
async def confirm_deploy(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: Id, deployment_id: Id
) -> Response:
    """ "Caused by this deploy", as the API's ``.../deploys/{deployment_id}/confirm``."""
    return await _judge(request, signed_in, session, incident_id, deployment_id, caused=True)


@router.post("/incidents/{incident_id}/deploys/{deployment_id}/reject")
async def reject_deploy(
    request: Request, signed_in: WebWriter, session: DbSession, incident_id: Id, deployment_id: Id
) -> Response:
    """ "Not related", as the API's ``.../deploys/{deployment_id}/reject``."""
    return await _judge(request, signed_in, session, incident_id, deployment_id, caused=False)
