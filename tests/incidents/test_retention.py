"""Resolved incidents past retention go with everything that belongs to them, a batch at a
time; unresolved ones never do, and one resolved a minute less long ago stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.alerts.models import Alert
from app.core.clock import ManualClock
from app.core.db import Database
from app.incidents import retention
from app.incidents.models import Incident, IncidentEvent, Page
from app.notify.models import Notification
from tests.factories import Factory
from tests.paging import Engine, api
from tests.worlds import build_payments_world

RETENTION = timedelta(days=730)
T0 = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def _count(db: Database, model: type, incident_ids: list[int]) -> int:
    async with db.new_session() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(model).where(model.incident_id.in_(incident_ids))
            )
            or 0
        )


async def test_old_resolved_incidents_go_with_their_history(
    client: httpx.AsyncClient, factory: Factory, db: Database, clock: ManualClock, app: object
) -> None:
    world = await build_payments_world(client, factory)
    method = await factory.contact_method(world.alice.id, "email", "alice@example.com")
    await api(
        client,
        world.admin,
        "POST",
        f"/api/v1/users/{world.alice.id}/notification-rules",
        json={"contact_method_id": method.id, "delay_minutes": 0},
    )
    engine = Engine(app, db, clock)  # type: ignore[arg-type]
    old = []
    for n in range(5):
        incident = await world.fire(f"old trouble {n}")
        await engine.drain()
        await api(client, world.admin, "POST", f"/api/v1/incidents/{incident}/resolve")
        old.append(incident)
    clock.advance(minutes=1)
    recent = await world.fire("resolved a minute later")
    await api(client, world.admin, "POST", f"/api/v1/incidents/{recent}/resolve")
    still_open = await world.fire("never resolved")
    await engine.drain()
    assert await _count(db, Notification, old) == 5  # Alice's e-mail for each

    # Exactly the retention after the first five resolved: they go, in batches of two; the one
    # resolved a minute later and the open one stay.
    clock.set(T0 + RETENTION + timedelta(seconds=1))
    assert await retention.prune(db, RETENTION, batch=2) == 5
    async with db.new_session() as session:
        left = set(await session.scalars(select(Incident.id)))
    assert left == {recent, still_open}
    for model in (IncidentEvent, Alert, Page, Notification):
        assert await _count(db, model, old) == 0, model.__name__
    assert await _count(db, IncidentEvent, [recent, still_open]) > 0
    # Pruning again deletes nothing; a year later the open incident is still there.
    assert await retention.prune(db, RETENTION) == 0
    clock.advance(days=365)
    assert await retention.prune(db, RETENTION) == 1
    async with db.new_session() as session:
        assert set(await session.scalars(select(Incident.id))) == {still_open}
