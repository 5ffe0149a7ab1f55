"""Alert ingestion: one transaction per inbound request.

Upsert each alert by dedup key, attach new ones to the group's open incident (or open one, with
its first page), resolve alerts the source resolved and auto-resolve incidents whose alerts are
all resolved. Repeats change nothing but the "seen again" count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.grouping import (
    AlertAction,
    InboundAlert,
    InboundBatch,
    alert_labels,
    distinguishing_labels,
    incident_title,
    urgency_for,
    varying_labels,
)
from app.alerts.models import FIRING_LITERAL, Alert, AlertStatus
from app.catalog.models import Service
from app.core.db import session_clock
from app.incidents import events, timeline
from app.incidents import service as incidents
from app.incidents.lifecycle import IncidentState
from app.incidents.models import RESOLVED_LITERAL, Incident
from app.incidents.subscribers import Applied
from app.people.models import Urgency

# A storm's trigger event keeps the first alerts and the count; the alerts themselves are rows.
ALERTS_PER_EVENT = 20


@dataclass
class IngestResult:
    created_incidents: list[int] = field(default_factory=list)
    triggered: int = 0
    repeated: int = 0
    resolved: int = 0
    acknowledged: int = 0
    ignored: int = 0
    resolved_incidents: list[int] = field(default_factory=list)
    incident_ids: set[int] = field(default_factory=set)
    dedup_keys: list[str] = field(default_factory=list)


def _last_per_key(alerts: Sequence[InboundAlert]) -> list[InboundAlert]:
    """A request naming the same alert twice means its last state."""
    latest: dict[str, InboundAlert] = {}
    for alert in alerts:
        latest.pop(alert.dedup_key, None)
        latest[alert.dedup_key] = alert
    return list(latest.values())


async def ingest(
    session: AsyncSession, service: Service, integration_id: int | None, batch: InboundBatch
) -> IngestResult:
    now = session_clock(session).now()
    result = IngestResult()
    alerts = _last_per_key(batch.alerts)
    result.dedup_keys = [a.dedup_key for a in alerts]
    open_alerts = await _firing_alerts(session, service.id, [a.dedup_key for a in alerts])
    # What sets an alert apart on the timeline is judged against those it arrived with.
    varying = varying_labels(alert_labels(a.details) for a in alerts)

    new_triggers: list[InboundAlert] = []
    touched: set[int] = set()
    for alert in alerts:
        current = open_alerts.get(alert.dedup_key)
        if alert.action is AlertAction.TRIGGER:
            if current is None:
                new_triggers.append(alert)
            else:
                _seen_again(current, alert, now)
                result.repeated += 1
                result.incident_ids.add(current.incident_id)
        elif current is None:
            # Resolving or acknowledging something not open: already handled, or never seen.
            result.ignored += 1
        elif alert.action is AlertAction.RESOLVE:
            _resolve_alert(session, current, alert, now, varying)
            touched.add(current.incident_id)
            result.resolved += 1
            result.incident_ids.add(current.incident_id)
        else:
            await _acknowledge_from_source(session, current.incident_id)
            result.acknowledged += 1
            result.incident_ids.add(current.incident_id)

    if new_triggers:
        await _open_or_join(
            session, service, integration_id, batch, new_triggers, now, result, varying
        )
    if batch.truncated_alerts and result.incident_ids:
        await _note_truncation(session, result.incident_ids, batch.truncated_alerts, now)
    for incident_id in sorted(touched):
        if await _after_alert_resolved(session, incident_id, now):
            result.resolved_incidents.append(incident_id)
    return result


async def _firing_alerts(
    session: AsyncSession, service_id: int, keys: list[str]
) -> dict[str, Alert]:
    if not keys:
        return {}
    rows = await session.scalars(
        select(Alert)
        .where(
            Alert.service_id == service_id,
            Alert.dedup_key.in_(keys),
            Alert.status == FIRING_LITERAL,
        )
        .with_for_update()
    )
    return {a.dedup_key: a for a in rows}


def _seen_again(current: Alert, alert: InboundAlert, now: datetime) -> None:
    current.seen_count += 1
    current.last_seen_at = now
    # Annotations may carry a live value (the current error ratio); keep the latest.
    if alert.summary and alert.summary != current.summary:
        current.summary = alert.summary[:1024]
    if alert.details and alert.details != current.details:
        current.details = alert.details


def _resolve_alert(
    session: AsyncSession,
    alert: Alert,
    resolution: InboundAlert,
    now: datetime,
    varying: frozenset[str],
) -> None:
    alert.status = AlertStatus.RESOLVED
    alert.resolved_at = _ended_at(alert, resolution, now)
    alert.last_seen_at = now
    if resolution.details:
        # The resolved message carries the real end (endsAt) and the final annotations.
        alert.details = resolution.details
    ref = events.AlertRef(
        alert_id=alert.id,
        dedup_key=alert.dedup_key,
        summary=alert.summary,
        severity=alert.severity,
        labels=distinguishing_labels(alert_labels(alert.details), varying, alert.summary),
    )
    timeline.append(
        session,
        alert.incident_id,
        events.AlertResolved(alert=ref, ended_at=alert.resolved_at),
        at=now,
        channel=timeline.Channel.INTEGRATION,
    )


def _ended_at(alert: Alert, resolution: InboundAlert, now: datetime) -> datetime:
    """When the source says the alert ended, kept between its start and now: a sender's
    clock running ahead must not put a resolution in the future."""
    if resolution.ends_at is None:
        return now
    ended = resolution.ends_at
    if alert.starts_at is not None:
        ended = max(ended, alert.starts_at)
    return min(ended, now)


async def _acknowledge_from_source(session: AsyncSession, incident_id: int) -> None:
    incident = await incidents.lock_incident(session, incident_id)
    if incident.state is IncidentState.TRIGGERED:
        await incidents.acknowledge_locked(session, incident, incidents.SOURCE)


async def _open_or_join(
    session: AsyncSession,
    service: Service,
    integration_id: int | None,
    batch: InboundBatch,
    triggers: list[InboundAlert],
    now: datetime,
    result: IngestResult,
    varying: frozenset[str],
) -> None:
    groups: list[tuple[str | None, str, list[InboundAlert]]]
    if batch.group_key is not None:
        groups = [(batch.group_key, incident_title(batch, triggers), triggers)]
    else:
        # Without a group, each dedup key is an incident of its own (PagerDuty's model).
        groups = [(None, incident_title(InboundBatch(alerts=(a,)), [a]), [a]) for a in triggers]
    for group_key, title, alerts in groups:
        incident = None
        if group_key is not None:
            incident = await _open_group_incident(session, service.id, group_key)
        if incident is None:
            incident = await incidents.open_incident(
                session,
                service,
                title=title,
                urgency=Urgency(urgency_for(service.urgency_rule, (a.severity for a in alerts))),
                group_key=group_key,
                actor=incidents.SOURCE,
                now=now,
                alert_count=len(alerts),
            )
            result.created_incidents.append(incident.id)
        else:
            incident.alert_count += len(alerts)
            incident.last_alert_at = now
            incident.updated_at = now
        await _attach(session, service, integration_id, incident, alerts, now, varying)
        result.incident_ids.add(incident.id)
    result.triggered += len(triggers)


async def _open_group_incident(
    session: AsyncSession, service_id: int, group_key: str
) -> Incident | None:
    return await session.scalar(
        select(Incident)
        .where(
            Incident.service_id == service_id,
            Incident.group_key == group_key,
            Incident.state != RESOLVED_LITERAL,
        )
        .with_for_update()
    )


async def _attach(
    session: AsyncSession,
    service: Service,
    integration_id: int | None,
    incident: Incident,
    triggers: list[InboundAlert],
    now: datetime,
    varying: frozenset[str],
) -> None:
    # A plain table insert: nothing needs alert objects afterwards, and a storm of large groups
    # must not pay for the ORM's bookkeeping row by row.
    connection = await session.connection()
    await connection.execute(
        insert(Alert.__table__),
        [
            {
                "service_id": service.id,
                "integration_id": integration_id,
                "incident_id": incident.id,
                "dedup_key": alert.dedup_key,
                "status": AlertStatus.FIRING,
                "summary": alert.summary[:1024],
                "severity": alert.severity,
                "source": alert.source[:512],
                "details": alert.details,
                "links": list(alert.links),
                "starts_at": alert.starts_at,
                "first_seen_at": now,
                "last_seen_at": now,
                "seen_count": 1,
            }
            for alert in triggers
        ],
    )
    triggered = events.AlertTriggered(
        count=len(triggers),
        alerts=tuple(
            events.AlertRef(
                alert_id=None,
                dedup_key=alert.dedup_key,
                summary=alert.summary[:1024],
                severity=alert.severity,
                labels=distinguishing_labels(alert_labels(alert.details), varying, alert.summary),
            )
            for alert in triggers[:ALERTS_PER_EVENT]
        ),
        sources=tuple(sorted({a.source for a in triggers if a.source})[:20]),
    )
    timeline.append(session, incident.id, triggered, at=now, channel=timeline.Channel.INTEGRATION)


async def _note_truncation(
    session: AsyncSession, incident_ids: set[int], truncated: int, now: datetime
) -> None:
    for incident_id in sorted(incident_ids):
        incident = await session.get(Incident, incident_id)
        if incident is not None and incident.truncated_alerts != truncated:
            incident.truncated_alerts = truncated
            timeline.append(
                session,
                incident_id,
                events.AlertsTruncated(truncated=truncated),
                at=now,
                channel=timeline.Channel.INTEGRATION,
            )


async def _after_alert_resolved(session: AsyncSession, incident_id: int, now: datetime) -> bool:
    """The incident changed: it resolves when no alert of it still fires. True if it did."""
    await session.flush()
    firing = await session.scalar(
        select(func.count())
        .select_from(Alert)
        .where(Alert.incident_id == incident_id, Alert.status == FIRING_LITERAL)
    )
    incident = await incidents.lock_incident(session, incident_id)
    if incident.state is IncidentState.RESOLVED:
        return False
    if firing:
        incident.updated_at = now
        return False
    await incidents.resolve_locked(
        session, incident, incidents.SOURCE, note="every alert resolved at the source"
    )
    return True


async def alerts_by_incident(session: AsyncSession, incident_id: int) -> Sequence[Alert]:
    return (
        await session.scalars(
            select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.id)
        )
    ).all()


async def close_alerts_of_resolved(session: AsyncSession, applied: Applied) -> events.Event | None:
    """A resolved incident has no firing alerts: those still firing at the source are closed.
    A person's resolve says how many it closed; the source resolving them needs no count."""
    event = applied.event
    if not isinstance(event, events.Resolved):
        return None
    still_firing = await session.execute(
        update(Alert)
        .where(Alert.incident_id == applied.incident.id, Alert.status == AlertStatus.FIRING)
        .values(status=AlertStatus.RESOLVED, resolved_at=applied.at)
        .execution_options(synchronize_session=False)
    )
    if event.automatic:
        return None
    return replace(event, closed_alerts=still_firing.rowcount or 0)
