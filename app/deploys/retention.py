"""Deploys are kept as long as incidents are (``BATON_INCIDENT_RETENTION_DAYS``): the engine
deletes older ones, except a deploy an unresolved incident still names (a responder may be
about to judge it)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete, exists, select

from app.core.db import Database
from app.deploys.models import Deployment, IncidentDeploy
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident

log = logging.getLogger(__name__)

PRUNE_BATCH = 500


async def prune(db: Database, retention: timedelta, *, batch: int = PRUNE_BATCH) -> int:
    """Delete deploys that started longer than ``retention`` ago, a batch per transaction so a
    long backlog never holds locks for long. Any replica may run it at the same time as
    another: rows one has locked the other skips, and deleting twice deletes nothing."""
    cutoff = db.clock.now() - retention
    still_open = exists().where(
        IncidentDeploy.deployment_id == Deployment.id,
        Incident.id == IncidentDeploy.incident_id,
        Incident.state != IncidentState.RESOLVED,
    )
    deleted = 0
    while True:
        async with db.transaction() as session:
            ids = list(
                await session.scalars(
                    select(Deployment.id)
                    .where(Deployment.started_at < cutoff, ~still_open)
                    .order_by(Deployment.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True, of=Deployment)
                )
            )
            if ids:
                # The links go with their deploy. The foreign key cascades as well, but SQLite
                # only with its foreign keys switched on: this does not depend on it.
                await session.execute(
                    delete(IncidentDeploy)
                    .where(IncidentDeploy.deployment_id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
                await session.execute(
                    delete(Deployment)
                    .where(Deployment.id.in_(ids))
                    .execution_options(synchronize_session=False)
                )
        deleted += len(ids)
        if len(ids) < batch:
            break
    if deleted:
        log.info("deploys pruned", extra={"deleted": deleted, "before": cutoff.isoformat()})
    return deleted
