from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.core.auth import Reader, Writer
from app.core.hooks import Hook
from app.core.pagination import PageQuery, paginate
from app.core.schemas import Id, Page
from app.core.session import ClockDep, DbSession
from app.incidents import events, schemas, service, timeline
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident, IncidentAssignee, IncidentEvent
from app.incidents.service import Actor
from app.people.models import Urgency

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])

# The incident detail lists its alerts; the alerts sit above the incidents (they open them), so
# the detail asks through this hook and app.wiring installs alerts.service.alerts_by_incident.
IncidentAlerts = Callable[[AsyncSession, int], Awaitable[Sequence[object]]]
INCIDENT_ALERTS: Hook[IncidentAlerts] = Hook("the alerts of an incident")


def _out(incident: Incident) -> schemas.IncidentOut:
    return schemas.IncidentOut.model_validate(incident)


def _event_out(row: IncidentEvent) -> schemas.EventOut:
    """A timeline entry: its words rendered now from the typed event it holds."""
    event = timeline.typed(row)
    return schemas.EventOut.model_validate(
        {
            "id": row.id,
            "at": row.at,
            "kind": row.kind,
            "actor_user_id": row.actor_user_id,
            "channel": row.channel,
            "message": timeline.message_of(row, event),
            "data": row.data,
            "event": None if event is None else {"kind": row.kind, **events.as_json(event)},
        }
    )


@router.get("", response_model=Page[schemas.IncidentOut])
async def list_incidents(
    session: DbSession,
    principal: Reader,
    page: PageQuery,
    service_id: Id | None = None,
    team_id: Id | None = None,
    state: Annotated[list[IncidentState] | None, Query()] = None,
    urgency: Urgency | None = None,
    since: Annotated[datetime | None, Query(description="Opened at or after")] = None,
    until: Annotated[datetime | None, Query(description="Opened before")] = None,
    assigned_to_me: bool = False,
) -> Page[schemas.IncidentOut]:
    criteria = service.IncidentFilter(
        service_id=service_id,
        team_id=team_id,
        states=state or (),
        urgency=urgency,
        since=since,
        until=until,
        assigned_to=principal.user_id if assigned_to_me else None,
    )
    stmt = service.filtered(select(Incident), criteria)
    rows, cursor = await paginate(session, stmt, Incident.id, page, descending=True)
    return Page(items=[_out(i) for i in rows], next_cursor=cursor)


@router.post("", response_model=schemas.IncidentOut, status_code=status.HTTP_201_CREATED)
async def create_incident(
    session: DbSession, clock: ClockDep, principal: Writer, body: schemas.IncidentCreate
) -> schemas.IncidentOut:
    """Open an incident by hand and page the service's escalation policy.

    Any member may raise the alarm on any service: reaching another team is what paging is for.
    """
    svc = await catalog.get_service(session, body.service_id)
    incident = await service.open_incident(
        session,
        svc,
        title=body.title,
        urgency=body.urgency,
        group_key=None,
        actor=Actor.of(principal),
        now=clock.now(),
        details=body.details,
    )
    return _out(incident)


@router.get("/{incident_id}", response_model=schemas.IncidentDetail)
async def get_incident(session: DbSession, _: Reader, incident_id: Id) -> schemas.IncidentDetail:
    incident = await service.get_incident(session, incident_id)
    svc = await catalog.get_service(session, incident.service_id)
    assignees = (
        await session.scalars(
            select(IncidentAssignee)
            .where(IncidentAssignee.incident_id == incident_id)
            .order_by(IncidentAssignee.id)
        )
    ).all()
    return schemas.IncidentDetail.model_validate(
        {
            **_out(incident).model_dump(),
            "service_name": svc.name,
            "policy_snapshot": incident.policy_snapshot,
            "alerts": await INCIDENT_ALERTS.call(session, incident_id),
            "assignees": assignees,
            "timeline": [_event_out(e) for e in await timeline.events_for(session, incident_id)],
        }
    )


@router.get("/{incident_id}/timeline", response_model=list[schemas.EventOut])
async def get_timeline(
    session: DbSession,
    _: Reader,
    incident_id: Id,
    after_id: Annotated[Id | None, Query(description="Only events after this id")] = None,
) -> list[schemas.EventOut]:
    await service.get_incident(session, incident_id)
    rows = await timeline.events_for(session, incident_id, after_id=after_id)
    return [_event_out(e) for e in rows]


@router.post("/{incident_id}/acknowledge", response_model=schemas.IncidentOut)
async def acknowledge(
    session: DbSession, principal: Writer, incident_id: Id
) -> schemas.IncidentOut:
    """Stop escalation. Acknowledging an acknowledged incident changes nothing."""
    return _out(await service.acknowledge(session, principal, incident_id))


@router.post("/{incident_id}/unacknowledge", response_model=schemas.IncidentOut)
async def unacknowledge(
    session: DbSession, principal: Writer, incident_id: Id
) -> schemas.IncidentOut:
    return _out(await service.unacknowledge(session, principal, incident_id))


@router.post("/{incident_id}/resolve", response_model=schemas.IncidentOut)
async def resolve(
    session: DbSession, principal: Writer, incident_id: Id, body: schemas.ResolveBody | None = None
) -> schemas.IncidentOut:
    note = body.note if body else ""
    return _out(await service.resolve(session, principal, incident_id, note))


@router.post("/{incident_id}/escalate", response_model=schemas.IncidentOut)
async def escalate(session: DbSession, principal: Writer, incident_id: Id) -> schemas.IncidentOut:
    return _out(await service.escalate(session, principal, incident_id))


@router.post("/{incident_id}/reassign", response_model=schemas.IncidentOut)
async def reassign(
    session: DbSession, principal: Writer, incident_id: Id, body: schemas.ReassignBody
) -> schemas.IncidentOut:
    """Hand the incident to someone else; they are paged at once."""
    return _out(await service.reassign(session, principal, incident_id, body.user_id, body.note))


@router.post(
    "/{incident_id}/notes", response_model=schemas.IncidentOut, status_code=status.HTTP_201_CREATED
)
async def add_note(
    session: DbSession, principal: Writer, incident_id: Id, body: schemas.NoteBody
) -> schemas.IncidentOut:
    return _out(await service.add_note(session, principal, incident_id, body.text))


@router.post("/{incident_id}/urgency", response_model=schemas.IncidentOut)
async def set_urgency(
    session: DbSession, principal: Writer, incident_id: Id, body: schemas.UrgencyBody
) -> schemas.IncidentOut:
    return _out(await service.set_urgency(session, principal, incident_id, body.urgency))
