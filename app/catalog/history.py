"""Whether a service has incidents. A service with incidents is never deleted, through the API or
by ``baton apply --prune``: their history stays readable.

The incidents sit above the catalog (each belongs to a service and follows its settings), so the
catalog asks through this hook and ``app.wiring.wire`` installs the incidents' answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.hooks import Hook

IncidentCount = Callable[[AsyncSession, int], Awaitable[int]]

INCIDENT_COUNT: Hook[IncidentCount] = Hook("the incident count of a service")


async def incident_count(session: AsyncSession, service_id: int) -> int:
    return await INCIDENT_COUNT.call(session, service_id)
