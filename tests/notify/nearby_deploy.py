"""A deploy of payments-api shortly before an incident, for the channel tests of issue 14.

``deploy_before_incident`` records v1.4.1 two hours back and v1.4.2 by "dina" (free text: no
Baton user of that name) 12 minutes back, as the deploy senders would, so an incident opened
now falls in v1.4.2's watch and every page names it: "after deploy v1.4.2 by dina 12 min ago
(previous v1.4.1)".
"""

from __future__ import annotations

from datetime import timedelta

from app.catalog.models import Service
from app.core.auth import Principal
from app.core.clock import ManualClock
from app.core.db import Database
from app.deploys import service as deploys
from app.deploys.models import DeploySource
from app.deploys.schemas import DeployReport
from app.people import service as people

DEPLOY_WORDS = "after deploy v1.4.2 by dina 12 min ago (previous v1.4.1)"


async def deploy_before_incident(
    db: Database, clock: ManualClock, service_id: int, *, minutes: int = 12, deployer: str = "dina"
) -> int:
    """The id of v1.4.2 by ``deployer``, finished ``minutes`` before the clock's now."""
    now = clock.now()
    async with db.transaction() as session:
        service = await session.get(Service, service_id)
        assert service is not None
        for version, at, by in (
            ("v1.4.1", now - timedelta(hours=2), "ci"),
            ("v1.4.2", now - timedelta(minutes=minutes), deployer),
        ):
            recorded = await deploys.record(
                session,
                service,
                DeployReport(
                    version=version,
                    environment="production",
                    deployer=by,
                    started_at=at - timedelta(minutes=1),
                    finished_at=at,
                ),
                DeploySource.API,
            )
        return recorded.deployment.id


async def judge(
    db: Database, user_id: int, incident_id: int, deployment_id: int, *, caused: bool
) -> None:
    """A responder's verdict through the deploys' service, as the API gives it."""
    async with db.transaction() as session:
        principal: Principal | None = await people.principal_for_user(session, user_id)
        assert principal is not None
        await deploys.judge(session, principal, incident_id, deployment_id, caused=caused)
