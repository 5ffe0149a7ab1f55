"""Telling this process that a service's settings changed, once the change is committed.

The inbound gateway (app/integrations) keeps each integration key's service in memory, so a
burst of alerts costs no service lookup. A committed change to the service (its escalation
policy above all: a hand-over to Ops switches it) must reach the next alert at once in this
process, not after the cache's few seconds; other replicas see it within ``CACHE_SECONDS``.
The integrations sit above the catalog, so it asks through this hook.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_commit
from app.core.hooks import Hook

ServiceChanged = Callable[[int], None]

SERVICE_CHANGED: Hook[ServiceChanged] = Hook("forget a changed service's cached settings")


def after_commit(session: AsyncSession, service_id: int) -> None:
    """Once the surrounding transaction commits, drop this process's cached copy."""
    on_commit(session, lambda: SERVICE_CHANGED.call(service_id))
