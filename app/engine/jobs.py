"""The engine's periodic work. Every job recomputes what is due from the database, so a missed
or late run (a restart, a slow host) never loses a page: the next run catches up."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import services_in_maintenance
from app.core.db import Database, session_clock
from app.core.metrics import (
    ENGINE_OVERDUE_ESCALATIONS,
    ENGINE_OVERDUE_NOTIFICATIONS,
    ESCALATIONS,
)
from app.incidents import events, timeline
from app.incidents import service as incidents
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.notify.models import Notification, NotificationStatus

log = logging.getLogger(__name__)

BATCH = 50
# An escalation this late means the engine is stuck or too slow: report it.
OVERDUE_GRACE = timedelta(seconds=30)
POISON_RETRY = timedelta(seconds=30)


async def escalation_tick(db: Database) -> int:
    """Escalate every triggered incident whose step timed out, and re-trigger acknowledged
    incidents whose acknowledgement expired. Safe on many replicas at once."""
    done = 0
    for _ in range(20):
        async with db.transaction() as session:
            now = db.clock.now()
            due = (
                await session.scalars(
                    select(Incident)
                    .where(
                        Incident.state == IncidentState.TRIGGERED,
                        Incident.next_escalation_at <= now,
                        Incident.held_for_maintenance.is_(False),
                    )
                    .order_by(Incident.next_escalation_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for incident in due:
                await _guarded(
                    session,
                    incident,
                    "escalate",
                    lambda i=incident, t=now: incidents.escalate_due(session, i, t),
                )
            expired = (
                await session.scalars(
                    select(Incident)
                    .where(
                        Incident.state == IncidentState.ACKNOWLEDGED,
                        Incident.ack_expires_at <= now,
                    )
                    .order_by(Incident.ack_expires_at)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for incident in expired:
                await _guarded(
                    session,
                    incident,
                    "re-trigger",
                    lambda i=incident, t=now: incidents.retrigger_after_ack_timeout(session, i, t),
                )
        ESCALATIONS.inc(len(due))
        done += len(due) + len(expired)
        if len(due) < BATCH and len(expired) < BATCH:
            break
    return done


async def _guarded(
    session: AsyncSession, incident: Incident, what: str, work: Callable[[], Awaitable[None]]
) -> None:
    """One incident's failure must not stall the others: undo just its work and retry later."""
    incident_id = incident.id
    try:
        async with session.begin_nested():
            await work()
    except Exception:
        log.exception("engine failed to %s incident", what, extra={"incident_id": incident_id})
        now = session_clock(session).now()
        refreshed = await session.get(Incident, incident_id, populate_existing=True)
        if refreshed is not None:
            refreshed.next_escalation_at = now + POISON_RETRY
            if refreshed.ack_expires_at is not None and refreshed.ack_expires_at <= now:
                refreshed.ack_expires_at = now + POISON_RETRY
            failed = events.EngineError(
                operation=what, retry_in_seconds=int(POISON_RETRY.total_seconds())
            )
            timeline.append(session, incident_id, failed, at=now)


async def release_maintenance(db: Database) -> int:
    """Incidents opened during a maintenance window start escalating when it closes."""
    async with db.transaction() as session:
        now = db.clock.now()
        held = (
            await session.scalars(
                select(Incident)
                .where(
                    Incident.held_for_maintenance.is_(True),
                    Incident.state != IncidentState.RESOLVED,
                )
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not held:
            return 0
        still_held = await services_in_maintenance(session, now)
        released = [i for i in held if i.service_id not in still_held]
        for incident in released:
            await _guarded(
                session,
                incident,
                "release from maintenance",
                lambda i=incident, t=now: incidents.release_from_maintenance(session, i, t),
            )
        return len(released)


async def self_check(db: Database) -> list[str]:
    """Find work the engine should have done by now; an empty list means it keeps up."""
    async with db.new_session() as session:
        now = db.clock.now()
        late = now - OVERDUE_GRACE
        overdue_escalations = await session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(
                Incident.state == IncidentState.TRIGGERED,
                Incident.held_for_maintenance.is_(False),
                Incident.next_escalation_at < late,
            )
        )
        overdue_notifications = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.status == NotificationStatus.PENDING, Notification.due_at < late)
        )
    ENGINE_OVERDUE_ESCALATIONS.set(overdue_escalations or 0)
    ENGINE_OVERDUE_NOTIFICATIONS.set(overdue_notifications or 0)
    problems = []
    if overdue_escalations:
        problems.append(
            f"{overdue_escalations} incidents are more than {int(OVERDUE_GRACE.total_seconds())}s "
            "past their next escalation"
        )
    if overdue_notifications:
        problems.append(
            f"{overdue_notifications} notifications are more than "
            f"{int(OVERDUE_GRACE.total_seconds())}s past due"
        )
    for problem in problems:
        log.warning("engine self-check: %s", problem)
    return problems
