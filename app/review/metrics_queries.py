"""The metrics' facts read from the database, handed to the pure ``metrics`` module.

Read-only. A window's incidents are the ones opened in it; only the event kinds the figures
fold over are read (acknowledgements, resolutions, escalations, alerts), decoded as typed
events; the opening is the incident row's. Interruptions are the notifications that reached
someone (sent or delivered); shifts come from the compiled schedules' final schedule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, or_, select, type_coerce, union
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.errors import InvalidInput, NotFound
from app.deploys.models import CauseVerdict, Deployment, IncidentDeploy
from app.incidents.events import (
    Acknowledged,
    EventKind,
    Resolved,
)
from app.incidents.models import Incident, Page
from app.notify.models import Notification, NotificationStatus
from app.people.models import Team, TeamMembership, User
from app.review import metrics
from app.schedules import repository
from app.schedules.models import Schedule
from app.schedules.oncall import MAX_WINDOW as MAX_SCHEDULE_WINDOW
from app.schedules.oncall import ScheduleSpec, Shift, final_schedule
from app.schedules.oncall_queries import person_kinds

__all__ = [
    "MAX_WINDOW",
    "check_window",
    "person_report",
    "service_report",
    "team_report",
]

# "Longer than two years" is refused: two years and a leap day is the longest allowed.
MAX_WINDOW = timedelta(days=731)
_KINDS = (
    EventKind.ACKNOWLEDGED.value,
    EventKind.RESOLVED.value,
    EventKind.ESCALATED.value,
    EventKind.ALERT_TRIGGERED.value,
)
_FAST: dict[str, type[Acknowledged] | type[Resolved]] = {
    EventKind.ACKNOWLEDGED.value: Acknowledged,
    EventKind.RESOLVED.value: Resolved,
}
_REACHED = (NotificationStatus.SENT, NotificationStatus.DELIVERED)
_INTERRUPTING = tuple(metrics.INTERRUPTING_KINDS)


def check_window(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """422 when the window ends before (or when) it starts, or lasts more than two years."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("since and until need a UTC offset", field="query.since")
    if until <= since:
        raise InvalidInput("until must be after since", field="query.until")
    if until - since > MAX_WINDOW:
        raise InvalidInput("a window lasts at most two years", field="query.until")
    return since.astimezone(UTC), until.astimezone(UTC)


# ------------------------------------------------------------------------------------- reports


async def service_report(
    session: AsyncSession, service_id: int, since: datetime, until: datetime
) -> metrics.ServiceReport:
    since, until = check_window(since, until)
    service = await catalog.get_service(session, service_id)
    team = await session.get(Team, service.team_id)
    zone = _zone(team)
    incidents = await _incidents(session, Incident.service_id == service_id, since, until)
    return metrics.build_service_report(
        service_id=service.id,
        service_name=service.name,
        team_id=service.team_id,
        time_zone=zone,
        since=since,
        until=until,
        incidents=incidents,
        deploys=await _deploys(session, [service], since),
    )


async def team_report(
    session: AsyncSession, team_id: int, since: datetime, until: datetime
) -> metrics.TeamReport:
    since, until = check_window(since, until)
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound(f"team {team_id} not found")
    services = list(await session.scalars(select(Service).where(Service.team_id == team_id)))
    service_ids = [s.id for s in services]
    incidents = await _incidents(session, Incident.service_id.in_(service_ids), since, until)
    shifts = await _shifts(
        session, select(Schedule.id).where(Schedule.team_id == team_id), since, until
    )
    members = set(
        await session.scalars(
            select(TeamMembership.user_id).where(TeamMembership.team_id == team_id)
        )
    )
    people_ids = members | {s.user_id for s in shifts if not s.shadow}
    # The team's load is the pager its services rang: interruptions for its incidents.
    interruptions = await _interruptions(
        session,
        people_ids,
        since,
        until,
        incident_filter=Notification.incident_id.in_(
            select(Incident.id).where(Incident.service_id.in_(service_ids))
        ),
    )
    people_ids |= {i.user_id for i in interruptions}
    people = await _people(session, people_ids, fallback_kind=team.kind.value)
    return metrics.build_team_report(
        team_id=team.id,
        team_name=team.name,
        time_zone=_zone(team),
        since=since,
        until=until,
        services={s.id: s.name for s in services},
        incidents=incidents,
        deploys=await _deploys(session, services, since),
        people=people,
        interruptions=interruptions,
        shifts=shifts,
    )


async def person_report(
    session: AsyncSession, user_id: int, since: datetime, until: datetime
) -> metrics.PersonReport:
    since, until = check_window(since, until)
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    teams = list(
        await session.scalars(
            select(TeamMembership.team_id).where(TeamMembership.user_id == user_id)
        )
    )
    paged = union(
        select(Page.incident_id).where(Page.user_id == user_id),
        select(Incident.id).where(Incident.acknowledged_by_id == user_id),
    ).subquery()
    incidents = await _incidents(session, Incident.id.in_(select(paged.c[0])), since, until)
    shifts = [
        s
        for s in await _shifts(session, select(Schedule.id), since, until, user_id=user_id)
        if s.user_id == user_id
    ]
    interruptions = await _interruptions(session, {user_id}, since, until)
    (name, zone, kind) = (await _people(session, {user_id}, fallback_kind=None))[user_id]
    return metrics.build_person_report(
        user_id=user_id,
        name=name,
        time_zone=zone,
        kind=kind,
        since=since,
        until=until,
        incidents=incidents,
        interruptions=interruptions,
        shifts=shifts,
        teams=teams,
    )


# --------------------------------------------------------------------------------------- facts


def _zone(team: Team | None) -> str:
    return team.time_zone if team is not None and team.time_zone else "UTC"


async def _incidents(
    session: AsyncSession, which: ColumnElement[bool], since: datetime, until: datetime
) -> list[metrics.IncidentFacts]:
    """The incidents ``which`` picks opened in the window, as their rows and alerts record them.

    The row holds what the incident's events decided (``decide.evolve`` writes both): its first
    acknowledgement, its resolution and by whom, and whether escalation went past step 1. So a
    window costs two queries and no timeline is read; ``metrics.fold_incident`` is the same
    reading of the events themselves (the tests hold the two to each other).
    """
    in_window = (which, Incident.created_at >= since, Incident.created_at < until)
    # Through the connection: plain rows, without the ORM's per-row loading (a window can hold
    # tens of thousands).
    conn = await session.connection()
    rows = (
        await conn.execute(
            select(
                Incident.id,
                Incident.service_id,
                _raw(Incident.created_at),
                _raw(Incident.first_acknowledged_at),
                _raw(Incident.resolved_at),
                Incident.resolved_by_id,
                Incident.escalated_past_first_step,
            ).where(*in_window)
        )
    ).all()
    alerts: dict[int, list[tuple[str, str]]] = {row[0]: [] for row in rows}
    found = await conn.execute(
        select(
            Alert.incident_id,
            Alert.dedup_key,
            Alert.summary,
            Alert.details["labels"]["alertname"].as_string(),
        )
        .join(Incident, Incident.id == Alert.incident_id)
        .where(*in_window)
    )
    for incident_id, dedup_key, summary, alert_name in found:
        # At READ COMMITTED an incident committed between the two reads has alerts here but no
        # row above: it is left for the next window, as if it had come a moment later.
        if (of_incident := alerts.get(incident_id)) is not None:
            of_incident.append((alert_name or summary, dedup_key))
    facts = []
    instant = _instant
    for incident_id, service_id, opened, acknowledged, resolved, resolver, escalated in rows:
        resolved_at = instant(resolved) if resolved is not None else None
        facts.append(
            metrics.incident_facts(
                incident_id=incident_id,
                service_id=service_id,
                opened_at=instant(opened),
                first_acknowledged_at=instant(acknowledged) if acknowledged is not None else None,
                resolved_at=resolved_at,
                resolved_automatically=resolved_at is not None and resolver is None,
                escalated=bool(escalated),
                alerts=alerts[incident_id],
            )
        )
    return facts


def _raw(column: Any) -> Any:
    """An instant column as the driver gives it: SQLite's text is read by ``_instant`` with
    ``datetime.fromisoformat`` (C), ten times cheaper than the generic type's parsing, which for
    a window of ten thousand incidents is most of the query's cost."""
    return type_coerce(column, String).label(column.key)


def _instant(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)  # stored as naive UTC
    return value.astimezone(UTC)


async def _deploys(
    session: AsyncSession, services: Sequence[Service], since: datetime
) -> list[metrics.DeployFacts]:
    """Deploys of the services that reached their environment since ``since`` (later ones too:
    a failed change ends at the next success), in the environments each service watches."""
    if not services:
        return []
    conditions = []
    for service in services:
        condition = Deployment.service_id == service.id
        if service.deploy_watch_environments:
            condition = condition & Deployment.environment.in_(
                list(service.deploy_watch_environments)
            )
        conditions.append(condition)
    rows = list(
        await session.scalars(
            select(Deployment).where(
                or_(*conditions),
                func.coalesce(Deployment.finished_at, Deployment.started_at) >= since,
            )
        )
    )
    caused: dict[int, list[datetime | None]] = {}
    failed_ids = [d.id for d in rows if d.caused_incident]
    if failed_ids:
        links = await session.execute(
            select(IncidentDeploy.deployment_id, Incident.resolved_at)
            .join(Incident, Incident.id == IncidentDeploy.incident_id)
            .where(
                IncidentDeploy.deployment_id.in_(failed_ids),
                IncidentDeploy.verdict == CauseVerdict.CONFIRMED,
            )
        )
        for deployment_id, resolved_at in links:
            caused.setdefault(deployment_id, []).append(resolved_at)
    return [
        metrics.DeployFacts(
            deployment_id=d.id,
            service_id=d.service_id,
            environment=d.environment,
            status=d.status.value,
            started_at=d.started_at,
            finished_at=d.finished_at,
            committed_at=d.committed_at,
            caused_incident=d.caused_incident,
            caused_resolved=tuple(caused.get(d.id, ())),
        )
        for d in rows
    ]


async def _shifts(
    session: AsyncSession,
    schedule_ids: Select[Any],
    since: datetime,
    until: datetime,
    *,
    user_id: int | None = None,
) -> list[Shift]:
    """The final schedule of the schedules over the window (``user_id``: only schedules that
    ever name them are computed)."""
    ids = list(await session.scalars(schedule_ids))
    loaded = await repository.loaded_schedules(session, ids)
    shifts: list[Shift] = []
    for entry in loaded.values():
        if user_id is not None and not _names(entry.compiled.spec, user_id):
            continue
        start = since
        while start < until:
            # The calculator computes at most MAX_SCHEDULE_WINDOW at once; a shift cut at a
            # chunk's edge is joined again by the load's union of intervals.
            end = min(until, start + MAX_SCHEDULE_WINDOW)
            shifts += final_schedule(entry.compiled, start, end)
            start = end
    return shifts


def _names(spec: ScheduleSpec, user_id: int) -> bool:
    """Whether a schedule's layers or overrides ever put ``user_id`` on call (cheap to ask
    before computing a long final schedule)."""
    in_layers = any(user_id in (*x.participants, *x.shadows) for x in spec.layers)
    return in_layers or any(o.user_id == user_id for o in spec.overrides)


async def _interruptions(
    session: AsyncSession,
    user_ids: Iterable[int],
    since: datetime,
    until: datetime,
    *,
    incident_filter: Any = None,
) -> list[metrics.Interruption]:
    ids = set(user_ids)
    if not ids:
        return []
    stmt = select(
        Notification.user_id,
        Notification.incident_id,
        type_coerce(Notification.contact_type, String),
        _raw(Notification.sent_at),
        type_coerce(Notification.kind, String),
    ).where(
        Notification.user_id.in_(ids),
        Notification.status.in_(_REACHED),
        Notification.kind.in_(_INTERRUPTING),
        Notification.sent_at >= since,
        Notification.sent_at < until,
    )
    if incident_filter is not None:
        stmt = stmt.where(incident_filter)
    return [
        metrics.Interruption(
            user_id=user_id,
            incident_id=incident_id,
            contact_type=contact_type,
            at=_instant(sent_at),
            message_kind=kind,
        )
        for user_id, incident_id, contact_type, sent_at, kind in await (
            await session.connection()
        ).execute(stmt)
    ]


async def _people(
    session: AsyncSession, user_ids: set[int], *, fallback_kind: str | None
) -> dict[int, tuple[str, str, str]]:
    """id -> (name, time zone, dev/ops/mixed) of each existing user among ``user_ids``."""
    if not user_ids:
        return {}
    users = list(await session.scalars(select(User).where(User.id.in_(user_ids))))
    fallback = {u.id: fallback_kind for u in users if fallback_kind is not None}
    kinds = await person_kinds(session, [u.id for u in users], fallback=fallback)
    return {u.id: (u.name, u.time_zone or "UTC", kinds[u.id]) for u in users}
