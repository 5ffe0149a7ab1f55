"""Soak: 24 simulated hours of mixed traffic through the real API, engine and providers (the
fake Twilio, Slack and SMTP servers), the clock moved ten minutes at a time (a real minute).

Alerts arrive (new ones and repeats of open ones), people acknowledge from the API, by SMS reply
and from the Slack page's button, some incidents are left to escalate, others are resolved by
API or SMS; deploys are reported every two hours and overrides put Bob on the rotation every six.
Retention runs every simulated hour with short periods. Checked at the end: no incident is left
with an escalation overdue, no notification is stuck in ``sending``, the memory Baton's own code
holds is flat after the first hours, and the tables hold nothing older than retention allows.
"""

from __future__ import annotations

import gc
import random
import re
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.clock import ManualClock
from app.core.db import Database
from app.incidents import retention as incident_retention
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.notify import retention as outbox_retention
from app.notify.channel_models import InboundReceipt
from app.notify.models import Notification, NotificationStatus
from app.people.models import ContactType
from tests.factories import Factory
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.notify.conftest import ALICE_PHONE, BOB_PHONE
from tests.paging import Engine, api
from tests.worlds import PaymentsWorld, Rotation, build_payments_world

pytestmark = [pytest.mark.slow, pytest.mark.allow_unexpected]

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
STEP = timedelta(minutes=10)
HOURS = 24
ALICE_SLACK = "U0ALICE001"
# Short periods, so a day shows retention working.
INCIDENTS_KEPT = timedelta(hours=6)
PAYLOADS_KEPT = timedelta(hours=2)
RECEIPTS_KEPT = timedelta(hours=1)
REPLY_CODE = re.compile(r"Reply (\d+[a-z]?)a to ack")
# Memory held by Baton grows while its caches fill (the ORM's statement cache is bounded) and
# then levels off: measured every 4 hours on SQLite, +245, +119, +119, +70 and +45 KB. The last
# 8 hours may add at most this much; a leak of a few KB per incident would pass it within hours.
LAST_HOURS_GROWTH_LIMIT = 512 * 1024


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
async def world(client: httpx.AsyncClient, factory: Factory) -> PaymentsWorld:
    built = await build_payments_world(
        client, factory, rotation=Rotation(participants=("Alice",), start="2026-03-01")
    )
    for who, kind, address, delay in (
        (built.alice, ContactType.SMS, ALICE_PHONE, 0),
        (built.alice, ContactType.SLACK, ALICE_SLACK, 0),
        (built.bob, ContactType.SMS, BOB_PHONE, 0),
        (built.bob, ContactType.EMAIL, "bob@example.com", 2),
    ):
        method = await factory.contact_method(who.id, kind, address)
        await api(
            client,
            built.admin,
            "POST",
            f"/api/v1/users/{who.id}/notification-rules",
            json={"contact_method_id": method.id, "delay_minutes": delay, "urgency": "high"},
        )
    return built


# Where Baton's memory lives: its own code, the ORM and the drivers, the web framework. The test's
# fakes keep every message they saw (allocated in json and email), so they are left out.
HELD_BY_BATON = (
    "*/app/*",
    "*/sqlalchemy/*",
    "*/aiosqlite/*",
    "*/psycopg/*",
    "*/starlette/*",
    "*/fastapi/*",
    "*/pydantic/*",
)


def _memory_held_by_baton() -> int:
    """Bytes allocated since tracing began, still held, by the code that runs Baton."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [tracemalloc.Filter(True, pattern) for pattern in HELD_BY_BATON]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def _incidents(world: PaymentsWorld, state: str) -> list[dict[str, Any]]:
    page = await api(
        world.client, world.admin, "GET", "/api/v1/incidents", params={"state": state, "limit": 200}
    )
    return page["items"]


async def test_a_day_of_mixed_traffic_leaves_nothing_behind(
    world: PaymentsWorld,
    engine: Engine,
    clock: ManualClock,
    db: Database,
    twilio: FakeTwilio,
    slack: FakeSlack,
) -> None:
    rng = random.Random(17)
    alice_phone, bob_phone = twilio.phone(ALICE_PHONE), twilio.phone(BOB_PHONE)
    alice_slack = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    summaries: list[str] = []
    counts = {
        "alerts": 0,
        "api_acks": 0,
        "sms_acks": 0,
        "slack_acks": 0,
        "resolves": 0,
        "sms_resolves": 0,
    }
    tracemalloc.start()
    memory: dict[int, int] = {}
    try:
        for step in range(HOURS * 6):
            clock.advance(STEP)
            await engine.drain()
            roll = rng.random()
            if roll < 0.35 or not summaries:
                summaries.append(f"checkout latency {step}")
                await world.fire(summaries[-1])
                counts["alerts"] += 1
            elif roll < 0.5:
                await world.fire(rng.choice(summaries[-5:]))  # a repeat joins or reopens
                counts["alerts"] += 1
            await engine.drain()
            for incident in await _incidents(world, "triggered"):
                choice = rng.random()
                number = incident["id"]
                if choice < 0.2:
                    await api(
                        world.client, world.alice, "POST", f"/api/v1/incidents/{number}/acknowledge"
                    )
                    counts["api_acks"] += 1
                elif choice < 0.4:
                    texts = [s.body for s in alice_phone.sms if f"#{number} " in s.body]
                    code = REPLY_CODE.search(texts[-1]) if texts else None
                    if code:
                        await alice_phone.reply(f"{code.group(1)}a")
                        counts["sms_acks"] += 1
                elif choice < 0.6:
                    dm = slack.channel(alice_slack.dm_channel)
                    pages = [m for m in dm.messages if f"#{number}" in m.text]
                    if pages:
                        await alice_slack.click(pages[-1], "incident_acknowledge")
                        counts["slack_acks"] += 1
                # Otherwise it is left to escalate to Bob.
            await engine.drain()
            for incident in await _incidents(world, "acknowledged"):
                if rng.random() < 0.5:
                    continue
                number = incident["id"]
                texts = [s.body for s in bob_phone.sms if f"#{number} " in s.body]
                code = REPLY_CODE.search(texts[-1]) if texts else None
                if code and rng.random() < 0.5:
                    await bob_phone.reply(f"{code.group(1)}r")  # Bob was paged too
                    counts["sms_resolves"] += 1
                else:
                    await api(
                        world.client, world.admin, "POST", f"/api/v1/incidents/{number}/resolve"
                    )
                    counts["resolves"] += 1
            if step % 12 == 0:
                await api(
                    world.client,
                    world.admin,
                    "POST",
                    "/api/v1/deployments",
                    json={
                        "service": "payments-api",
                        "environment": "production",
                        "version": f"v{step}",
                    },
                )
            if step % 36 == 18:
                assert world.schedule is not None
                await api(
                    world.client,
                    world.admin,
                    "POST",
                    f"/api/v1/schedules/{world.schedule['id']}/overrides",
                    json={
                        "user_id": world.bob.id,
                        "start": (clock.now() + timedelta(minutes=1)).isoformat(),
                        "end": (clock.now() + timedelta(hours=2)).isoformat(),
                    },
                )
            if step % 6 == 5:
                await incident_retention.prune(db, INCIDENTS_KEPT)
                await outbox_retention.prune(
                    db,
                    payload_retention=PAYLOADS_KEPT,
                    receipt_retention=RECEIPTS_KEPT,
                    history_retention=INCIDENTS_KEPT,
                )
                hour = (step + 1) // 6
                if hour % 4 == 0:
                    memory[hour] = _memory_held_by_baton()
        await engine.drain()
    finally:
        tracemalloc.stop()

    now = clock.now()
    assert counts["alerts"] > 60 and min(counts.values()) > 5, counts
    async with db.new_session() as session:
        overdue = await session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(
                Incident.state == IncidentState.TRIGGERED,
                Incident.next_escalation_at < now,
                Incident.held_for_maintenance.is_(False),
            )
        )
        sending = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.status == NotificationStatus.SENDING)
        )
        stale_incidents = await session.scalar(
            select(func.count())
            .select_from(Incident)
            .where(
                Incident.state == IncidentState.RESOLVED,
                Incident.resolved_at < now - INCIDENTS_KEPT - timedelta(hours=1),
            )
        )
        stale_outbox = await session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.incident_id.is_(None),
                Notification.kind != "summary",
                Notification.status.in_(outbox_retention.FINAL),
                Notification.created_at < now - PAYLOADS_KEPT - timedelta(hours=1),
            )
        )
        stale_receipts = await session.scalar(
            select(func.count())
            .select_from(InboundReceipt)
            .where(InboundReceipt.received_at < now - RECEIPTS_KEPT - timedelta(hours=1))
        )
        kept = await session.scalar(select(func.count()).select_from(Incident))
    assert (overdue, sending) == (0, 0)
    assert (stale_incidents, stale_outbox, stale_receipts) == (0, 0, 0)
    # Only the last hours' incidents (and any still open) are left of the day's.
    assert 0 < kept < counts["alerts"]
    assert memory[HOURS] - memory[HOURS - 8] < LAST_HOURS_GROWTH_LIMIT, memory
