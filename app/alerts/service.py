"""Alert ingestion: one transaction per inbound request.

Upsert each alert by dedup key, attach new ones to the group's open incident (or open one, with
its first page), resolve alerts the source resolved and auto-resolve incidents whose alerts are
all resolved. Repeats change nothing but the "seen again" count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    any_,
    bindparam,
    func,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql
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
from app.core.db import insert_rows, session_clock, update_rows, written_together
from app.escalation.policy import PolicySnapshot
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


@dataclass(frozen=True, slots=True)
class Delivery:
    """One inbound request's alerts for one service."""

    service: Service
    integration_id: int | None
    batch: InboundBatch
    # The service's policy as the caller holds it cached; read in the transaction when absent.
    policy: PolicySnapshot | None = None


async def ingest(
    session: AsyncSession, service: Service, integration_id: int | None, batch: InboundBatch
) -> IngestResult:
    (result,) = await ingest_many(session, [Delivery(service, integration_id, batch)])
    return result


async def ingest_many(session: AsyncSession, deliveries: Sequence[Delivery]) -> list[IngestResult]:
    """Ingest requests that arrived together, in one transaction, as if one after the other;
    they must not name the same alert, nor the same group unless each of them only triggers.
    What they share is read once: the firing alerts they name, the open incidents of their
    groups, and the incidents they open are inserted together (``incidents.open_incidents``)."""
    now = session_clock(session).now()
    latest = [_last_per_key(d.batch.alerts) for d in deliveries]
    open_alerts = await _firing_alerts_of(session, deliveries, latest)
    results: list[IngestResult] = []
    pending: list[_Group] = []
    touched: list[set[int]] = []
    for delivery, alerts in zip(deliveries, latest, strict=True):
        result = IngestResult()
        result.dedup_keys = [a.dedup_key for a in alerts]
        # What sets an alert apart on the timeline is judged against those it arrived with.
        varying = varying_labels(alert_labels(a.details) for a in alerts)
        new_triggers: list[InboundAlert] = []
        changed: set[int] = set()
        for alert in alerts:
            current = open_alerts.get((delivery.service.id, alert.dedup_key))
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
                changed.add(current.incident_id)
                result.resolved += 1
                result.incident_ids.add(current.incident_id)
            else:
                await _acknowledge_from_source(session, current.incident_id)
                result.acknowledged += 1
                result.incident_ids.add(current.incident_id)
        pending += _groups(delivery, new_triggers, result, varying)
        result.triggered += len(new_triggers)
        results.append(result)
        touched.append(changed)

    await _open_or_join(session, pending, now)
    for delivery, result, changed in zip(deliveries, results, touched, strict=True):
        if delivery.batch.truncated_alerts and result.incident_ids:
            await _note_truncation(
                session, result.incident_ids, delivery.batch.truncated_alerts, now
            )
        for incident_id in sorted(changed):
            if await _after_alert_resolved(session, incident_id, now):
                result.resolved_incidents.append(incident_id)
    return results


async def _firing_alerts_of(
    session: AsyncSession, deliveries: Sequence[Delivery], latest: list[list[InboundAlert]]
) -> dict[tuple[int, str], Alert]:
    keys: dict[int, list[str]] = {}
    for delivery, alerts in zip(deliveries, latest, strict=True):
        keys.setdefault(delivery.service.id, []).extend(a.dedup_key for a in alerts)
    found: dict[tuple[int, str], Alert] = {}
    # Services in id order, as every batch locks them (``_open_or_join``).
    for service_id, service_keys in sorted(keys.items()):
        for dedup_key, alert in (await _firing_alerts(session, service_id, service_keys)).items():
            found[(service_id, dedup_key)] = alert
    return found


async def _firing_alerts(
    session: AsyncSession, service_id: int, keys: list[str]
) -> dict[str, Alert]:
    if not keys:
        return {}
    statement, named = _by_key(session, _FIRING_ALERTS, _FIRING_ALERTS_BY_KEY, keys)
    rows = await session.scalars(statement, {"service_id": service_id, "keys": named})
    return {a.dedup_key: a for a in rows if a.status is AlertStatus.FIRING}


def _by_key(
    session: AsyncSession, listed: Select[Any], one_by_one: Select[Any], keys: list[str]
) -> tuple[Select[Any], list[str]]:
    """The statement for the database, and the keys as it takes them."""
    if session.get_bind().dialect.name == "postgresql":
        return one_by_one, sorted(set(keys))
    return listed, keys


def _one_by_one(
    entity: type[Alert] | type[Incident],
    key_column: str,
    conditions: Callable[[FromClause], list[ColumnElement[bool]]],
    selected: Sequence[Any] = (),
) -> Select[Any]:
    """PostgreSQL: the rows of ``entity`` (or their ``selected`` columns) whose ``key_column``
    is one of the bound ``keys`` and that meet ``conditions``, each found on its own in a unique
    partial index, then locked in id order, the order every batch (and the dispatcher's
    timeline insert) locks them in. The caller checks ``conditions`` again on what comes back
    (see below).

    Asked as one ``key = ANY(...)``, the planner weighs those look-ups against scanning every
    row the index holds (every firing alert, every open incident of the service), and in a
    storm it misjudges how many that is: a table not analysed since it filled, or statistics
    from before the storm. The scan it then picks grows with each row the storm brings: 10 ms
    and more per batch at 35,000 firing alerts, 3 ms at 8,000 open incidents. Per key, with both
    of the unique index's columns given, no plan beats the index; the ids found are then one
    primary-key look-up each."""
    table = entity.__table__
    keyed = table.alias("keyed")
    named = (
        func.unnest(bindparam("keys", type_=postgresql.ARRAY(String)))
        .table_valued("key")
        .render_derived()
    )
    found = (
        select(keyed.c.id)
        .where(keyed.c[key_column] == named.c.key, *conditions(keyed))
        .limit(1)
        .lateral("found")
    )
    ids = select(found.c.id).select_from(named).join(found, true()).scalar_subquery()
    # By id alone: any other condition here would offer the planner its scan again. A row that
    # changed while this batch waited for its lock is left out by the caller.
    return (
        select(*(selected or (entity,)))
        .where(table.c.id == any_(func.array(ids)))
        .order_by(table.c.id)
        .with_for_update()
    )


# Built once: every inbound batch runs them, and building a statement costs about as much CPU
# as the driver's round trip.
_FIRING_ALERTS = (
    select(Alert)
    .where(
        Alert.service_id == bindparam("service_id"),
        Alert.dedup_key.in_(bindparam("keys", expanding=True)),
        Alert.status == FIRING_LITERAL,
    )
    # Locks in id order, the order every batch takes them in.
    .order_by(Alert.id)
    .with_for_update()
)
_FIRING_ALERTS_BY_KEY = _one_by_one(
    Alert,
    "dedup_key",
    lambda t: [t.c.service_id == bindparam("service_id"), t.c.status == FIRING_LITERAL],
)


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


@dataclass
class _Group:
    """New alerts that open an incident or join the open one of their group."""

    delivery: Delivery
    group_key: str | None
    title: str
    alerts: list[InboundAlert]
    result: IngestResult
    varying: frozenset[str]
    incident_id: int | None = None


def _groups(
    delivery: Delivery,
    triggers: list[InboundAlert],
    result: IngestResult,
    varying: frozenset[str],
) -> list[_Group]:
    if not triggers:
        return []
    batch = delivery.batch
    if batch.group_key is not None:
        title = incident_title(batch, triggers)
        return [_Group(delivery, batch.group_key, title, triggers, result, varying)]
    # Without a group, each dedup key is an incident of its own (PagerDuty's model).
    return [
        _Group(delivery, None, incident_title(InboundBatch(alerts=(a,)), [a]), [a], result, varying)
        for a in triggers
    ]


async def _open_or_join(session: AsyncSession, groups: list[_Group], now: datetime) -> None:
    if not groups:
        return
    by_service: dict[int, list[_Group]] = {}
    joined_by_service: list[dict[int, int]] = []
    for group in groups:
        by_service.setdefault(group.delivery.service.id, []).append(group)
    # Services in id order: two batches joining the same groups at once (the gateway lets
    # them) lock their incidents in one order, service by service and by id within each.
    for _, service_groups in sorted(by_service.items()):
        service = service_groups[0].delivery.service
        keys = [g.group_key for g in service_groups if g.group_key is not None]
        open_by_key = await _open_group_incidents(session, service.id, keys)
        opening: list[_Group] = []
        # Later requests of a group that an earlier one of this batch opens join its incident.
        opener: dict[str, _Group] = {}
        followers: list[tuple[_Group, _Group]] = []
        joined: dict[int, int] = {}
        for group in service_groups:
            open_id = open_by_key.get(group.group_key) if group.group_key is not None else None
            if open_id is not None:
                joined[open_id] = joined.get(open_id, 0) + len(group.alerts)
                group.incident_id = open_id
            elif group.group_key is not None and group.group_key in opener:
                followers.append((group, opener[group.group_key]))
            else:
                opening.append(group)
                if group.group_key is not None:
                    opener[group.group_key] = group
        joining: dict[int, int] = {}
        for group, first in followers:
            joining[id(first)] = joining.get(id(first), 0) + len(group.alerts)
        opened = await incidents.open_incidents(
            session,
            service,
            [
                incidents.Opening(
                    title=g.title,
                    urgency=Urgency(
                        urgency_for(service.urgency_rule, (a.severity for a in g.alerts))
                    ),
                    group_key=g.group_key,
                    alert_count=len(g.alerts) + joining.get(id(g), 0),
                )
                for g in opening
            ],
            actor=incidents.SOURCE,
            now=now,
            policy=service_groups[0].delivery.policy,
        )
        for group, incident in zip(opening, opened, strict=True):
            group.incident_id = incident.id
            group.result.created_incidents.append(incident.id)
        for group, first in followers:
            group.incident_id = first.incident_id
        joined_by_service.append(joined)
    # The counters, the alerts and their events: one round trip on PostgreSQL.
    async with written_together(session):
        for joined in joined_by_service:
            await _count_joined(session, joined, now)
        await _attach(session, groups, now)
    for group in groups:
        assert group.incident_id is not None
        group.result.incident_ids.add(group.incident_id)


async def _open_group_incidents(
    session: AsyncSession, service_id: int, group_keys: list[str]
) -> dict[str, int]:
    """The ids of the groups' open incidents, locked. Ids only: joining one changes its
    counters with one statement for all (``_count_joined``), no incident is loaded."""
    if not group_keys:
        return {}
    statement, named = _by_key(session, _OPEN_GROUPS, _OPEN_GROUPS_BY_KEY, group_keys)
    rows = await session.execute(statement, {"service_id": service_id, "keys": named})
    return {
        group_key: incident_id
        for incident_id, group_key, state in rows
        if group_key is not None and state is not IncidentState.RESOLVED
    }


async def _count_joined(session: AsyncSession, joined: dict[int, int], now: datetime) -> None:
    if not joined:
        return
    # Pending changes go first: an incident changed earlier in this transaction keeps them.
    await session.flush()
    await update_rows(
        session,
        Incident.__table__,
        [
            {"id": i, "alert_count": n, "last_alert_at": now, "updated_at": now}
            for i, n in sorted(joined.items())
        ],
        added=frozenset({"alert_count"}),
    )
    # A copy of the incident this session holds, if any, is read again when next used.
    for incident_id in joined:
        held = session.identity_map.get(session.identity_key(Incident, (incident_id,)))
        if held is not None:
            session.expire(held, ["alert_count", "last_alert_at", "updated_at"])


_OPEN_GROUP_COLUMNS = (Incident.id, Incident.group_key, Incident.state)
_OPEN_GROUPS = (
    select(*_OPEN_GROUP_COLUMNS)
    .where(
        Incident.service_id == bindparam("service_id"),
        Incident.group_key.in_(bindparam("keys", expanding=True)),
        Incident.state != RESOLVED_LITERAL,
    )
    # Locks in id order, the order every batch takes them in: two batches never wait on each
    # other in a circle.
    .order_by(Incident.id)
    .with_for_update()
)
_OPEN_GROUPS_BY_KEY = _one_by_one(
    Incident,
    "group_key",
    lambda t: [t.c.service_id == bindparam("service_id"), t.c.state != RESOLVED_LITERAL],
    _OPEN_GROUP_COLUMNS,
)


async def _attach(session: AsyncSession, groups: list[_Group], now: datetime) -> None:
    # A plain table insert, one for all: nothing needs alert objects afterwards, and a storm of
    # large groups must not pay for the ORM's bookkeeping row by row.
    await insert_rows(
        session,
        Alert.__table__,
        [
            {
                "service_id": group.delivery.service.id,
                "integration_id": group.delivery.integration_id,
                "incident_id": group.incident_id,
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
            for group in groups
            if group.incident_id is not None
            for alert in group.alerts
        ],
    )
    async with timeline.appended_together(session):
        for group in groups:
            _note_triggered(session, group, now)


def _note_triggered(session: AsyncSession, group: _Group, now: datetime) -> None:
    assert group.incident_id is not None
    triggers, varying = group.alerts, group.varying
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
    timeline.append(
        session, group.incident_id, triggered, at=now, channel=timeline.Channel.INTEGRATION
    )


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
