"""Hand-off reminders go out once per shift: before it starts (lead time) and when it ends."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from app.core.clock import ManualClock
from app.core.db import Database, make_engine
from app.notify.base import MessageKind
from app.notify.console import ConsoleProvider
from app.people.models import ContactType, User
from app.schedules.reminders import send_due_reminders
from tests.factories import Factory
from tests.schedules.helpers import Crew, create_schedule, crew, utc


async def _daily_pair(
    client: httpx.AsyncClient, factory: Factory, clock: ManualClock
) -> tuple[Crew, User, User, dict[str, Any]]:
    """Daily hand-offs at 09:00 UTC: 1 March a, 2 March b, 3 March a, ..."""
    c = await crew(factory)
    a = await factory.user(name="Ada", time_zone="Europe/Berlin")
    b = await factory.user(name="Ben", time_zone="America/New_York")
    for user in (a, b):
        await factory.contact_method(user.id, ContactType.EMAIL, f"u{user.id}@example.com")
    clock.set(utc(2026, 2, 20))
    schedule = await create_schedule(
        client,
        c.owner,
        c.team_id,
        name="payments",
        layers=[
            {
                "name": "daily",
                "participants": [a.id, b.id],
                "shift_unit": "days",
                "start": "2026-03-01T09:00:00Z",
            }
        ],
    )
    return c, a, b, schedule


async def remind(db: Database, app: FastAPI) -> int:
    """One run of the reminder job, then the dispatcher that sends what it queued."""
    claimed = await send_due_reminders(db)
    await app.state.dispatcher.run()
    return claimed


def _sent(console: ConsoleProvider) -> list[tuple[int | None, str]]:
    return [
        (r.message.user_id, r.message.subject)
        for r in console.sent
        if r.message.kind is MessageKind.REMINDER
    ]


async def test_each_reminder_is_sent_once(
    client: httpx.AsyncClient,
    factory: Factory,
    clock: ManualClock,
    db: Database,
    console: ConsoleProvider,
    app: FastAPI,
    database_url: str,
) -> None:
    _, a, b, _ = await _daily_pair(client, factory, clock)

    clock.set(utc(2026, 3, 2, 7, 30))  # Ben's shift starts at 09:00; his lead time is 60 min
    assert await remind(db, app) == 0

    clock.set(utc(2026, 3, 2, 8, 5))
    assert await remind(db, app) == 1
    assert await remind(db, app) == 0, "a second run sends nothing"
    assert _sent(console) == [(b.id, "On call soon: payments")]
    (record,) = console.sent
    assert "starts Mon 02 Mar 04:00 (America/New_York)" in record.message.text

    clock.set(utc(2026, 3, 2, 9, 2))  # Ada's shift ended at 09:00
    assert await remind(db, app) == 1
    assert _sent(console)[-1] == (a.id, "Shift over: payments")
    assert "Ben took over" in console.sent[-1].message.text

    # A restart: a new process has a new engine, no cache and no memory of what it sent.
    restarted = Database(make_engine(database_url), clock)
    try:
        assert await remind(restarted, app) == 0
    finally:
        await restarted.dispose()

    clock.set(utc(2026, 3, 2, 9, 30))
    assert await remind(db, app) == 0, "past the grace period nothing is late"
    assert len(_sent(console)) == 2


async def test_lead_time_is_per_person(
    client: httpx.AsyncClient,
    factory: Factory,
    clock: ManualClock,
    db: Database,
    console: ConsoleProvider,
    app: FastAPI,
) -> None:
    _, a, _, _ = await _daily_pair(client, factory, clock)
    actor = await factory.actor()
    refused = await client.patch(
        f"/api/v1/users/{a.id}/oncall-preferences",
        headers=actor.headers,
        json={"reminder_lead_minutes": 180},
    )
    assert refused.status_code == 403
    admin = (await crew(factory)).admin
    set_lead = await client.patch(
        f"/api/v1/users/{a.id}/oncall-preferences",
        headers=admin.headers,
        json={"reminder_lead_minutes": 180},
    )
    assert set_lead.json() == {
        "user_id": a.id,
        "reminder_lead_minutes": 180,
        "reminders_enabled": True,
    }
    clock.set(utc(2026, 3, 3, 6, 5))  # Ada starts at 09:00, three hours from now
    assert await remind(db, app) == 1
    assert _sent(console) == [(a.id, "On call soon: payments")]

    off = await client.patch(
        f"/api/v1/users/{a.id}/oncall-preferences",
        headers=admin.headers,
        json={"reminders_enabled": False},
    )
    assert off.json()["reminders_enabled"] is False
    clock.set(utc(2026, 3, 4, 9, 1))  # Ada's shift ended: no reminder for her now
    assert await remind(db, app) == 1
    assert _sent(console)[-1][0] != a.id


async def test_two_replicas_at_once_send_once(
    client: httpx.AsyncClient,
    factory: Factory,
    clock: ManualClock,
    console: ConsoleProvider,
    app: FastAPI,
    database_url: str,
) -> None:
    await _daily_pair(client, factory, clock)
    clock.set(utc(2026, 3, 2, 8, 30))
    replicas = [Database(make_engine(database_url), clock) for _ in range(2)]
    try:
        counts = await asyncio.gather(*(remind(r, app) for r in replicas))
    finally:
        for replica in replicas:
            await replica.dispose()
    assert sorted(counts) == [0, 1]
    assert len(_sent(console)) == 1


async def test_shadows_are_reminded_too_and_contiguous_shifts_are_one(
    client: httpx.AsyncClient,
    factory: Factory,
    clock: ManualClock,
    db: Database,
    console: ConsoleProvider,
    app: FastAPI,
) -> None:
    c, a, b, schedule = await _daily_pair(client, factory, clock)
    s = await factory.user(name="Sam")
    await factory.contact_method(s.id, ContactType.EMAIL, "sam@example.com")
    # A training layer on top: Ada with Sam shadowing her, one afternoon only.
    training = await client.post(
        f"/api/v1/schedules/{schedule['id']}/layers",
        headers=c.owner.headers,
        json={
            "name": "training",
            "participants": [a.id],
            "shadows": [s.id],
            "shift_unit": "days",
            "start": "2026-03-03T09:00:00Z",
            "end": "2026-03-03T17:00:00Z",
        },
    )
    assert training.status_code == 201, training.text
    # Ada also covers Ben right after her own shift: one stretch, one start, one end.
    await client.post(
        f"/api/v1/schedules/{schedule['id']}/overrides",
        headers=c.owner.headers,
        json={
            "start": "2026-03-04T09:00:00Z",
            "end": "2026-03-04T21:00:00Z",
            "user_id": a.id,
            "replaces_user_id": b.id,
        },
    )
    clock.set(utc(2026, 3, 3, 8, 30))
    await remind(db, app)
    assert sorted(_sent(console)) == sorted(
        [(a.id, "On call soon: payments"), (s.id, "On call soon: payments")]
    )
    assert any("shadow shift" in r.message.text for r in console.sent)
    clock.set(utc(2026, 3, 3, 17, 1))
    await remind(db, app)
    assert _sent(console)[-1] == (s.id, "Shift over: payments")
    clock.set(utc(2026, 3, 4, 9, 1))
    await remind(db, app)
    assert (a.id, "Shift over: payments") not in _sent(console)
    clock.set(utc(2026, 3, 4, 21, 1))
    await remind(db, app)
    assert (a.id, "Shift over: payments") in _sent(console)
