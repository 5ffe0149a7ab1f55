"""What other packages ask of the incidents' history (installed by ``app.wiring.wire``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident


async def count_for_service(session: AsyncSession, service_id: int) -> int:
    """How many incidents ``service_id`` has had, open or resolved."""
    count = await session.scalar(
        select(func.count()).select_from(Incident).where(Incident.service_id == service_id)
    )
    return count or 0


async def open_counts_by_service(session: AsyncSession) -> dict[int, int]:
    """How many incidents each service has open (triggered or acknowledged); absent: none."""
    rows = await session.execute(
        select(Incident.service_id, func.count())
        .where(Incident.state != IncidentState.RESOLVED)
        .group_by(Incident.service_id)
    )
    return {service_id: count for service_id, count in rows.all()}
