"""Resolved incidents are kept for ``BATON_INCIDENT_RETENTION_DAYS`` (2 years) after they were
resolved; the engine job ``incident-prune`` deletes older ones with everything that belongs to
them (their events, alerts, pages, notifications, assignees, review and deploy links go by the
foreign keys' ``ON DELETE CASCADE``). An incident that is not resolved is never deleted."""

from __future__ import annotations

import logging
from datetime import timedelta

from app.core.db import Database
from app.core.retention import delete_in_batches
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident

log = logging.getLogger(__name__)

# An incident takes its alerts and timeline with it: a smaller batch than flat tables.
INCIDENT_BATCH = 100


async def prune(db: Database, retention: timedelta, *, batch: int = INCIDENT_BATCH) -> int:
    cutoff = db.clock.now() - retention
    deleted = await delete_in_batches(
        db,
        Incident,
        (Incident.state == IncidentState.RESOLVED) & (Incident.resolved_at < cutoff),
        batch=batch,
    )
    if deleted:
        log.info("incidents pruned", extra={"deleted": deleted, "before": cutoff.isoformat()})
    return deleted
