"""``apply``: a process that did not wire its subscribers records nothing and pages nobody."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.catalog.models import Service
from app.core.db import Database
from app.incidents import service as incidents
from app.incidents import subscribers
from app.incidents.models import Incident, IncidentEvent
from app.people.models import Urgency
from tests.factories import Factory


async def test_applying_without_subscribers_is_refused_and_writes_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    team = await Factory(db).team(name="payments")
    async with db.transaction() as session:
        service = Service(name="payments-api", team_id=team.id)
        session.add(service)
        await session.flush()
        service_id = service.id
    monkeypatch.setattr(subscribers, "_SUBSCRIBERS", {})
    with pytest.raises(subscribers.NotWired):
        async with db.transaction() as session:
            service = await session.get(Service, service_id)
            assert service is not None
            await incidents.open_incident(
                session,
                service,
                title="5xx",
                urgency=Urgency.HIGH,
                group_key=None,
                actor=incidents.SOURCE,
                now=db.clock.now(),
            )
    async with db.new_session() as session:
        assert await session.scalar(select(func.count()).select_from(Incident)) == 0
        assert await session.scalar(select(func.count()).select_from(IncidentEvent)) == 0


def test_start_up_wires_the_subscribers_in_their_order() -> None:
    assert subscribers.subscribed() == [
        "notify.pages",
        "notify.cancellations",
        "alerts.close_on_resolve",
        "slack.message_updates",
        "notify.webhook_updates",
        "notify.exhausted",
        "deploys.judgements",
        "incidents.counters",
    ]
