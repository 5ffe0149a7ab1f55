"""The outbox's retention: payloads blanked after 30 days once the incident is resolved (the row
stays), rows for no incident deleted, summaries blanked but kept, receipts after 7 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.catalog.models import Service
from app.core.clock import ManualClock
from app.core.db import Database
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.notify import retention
from app.notify.base import MessageKind
from app.notify.channel_models import InboundReceipt
from app.notify.models import Notification, NotificationStatus
from app.people.models import ContactType
from tests.factories import Factory

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAYS_30 = timedelta(days=30)
DAYS_7 = timedelta(days=7)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


def _row(
    incident_id: int | None, kind: MessageKind, age: timedelta, status: NotificationStatus
) -> Notification:
    at = NOW - age
    return Notification(
        incident_id=incident_id,
        kind=kind,
        contact_type=ContactType.EMAIL,
        address="alice@example.com",
        subject=f"{kind} {age}",
        body="the words",
        context={"link": "https://baton.example/incidents/1"},
        status=status,
        due_at=at,
        created_at=at,
    )


async def test_the_outbox_keeps_history_and_drops_payloads(db: Database, factory: Factory) -> None:
    team = await factory.team()
    async with db.transaction() as session:
        service = Service(name="svc", team_id=team.id)
        session.add(service)
        await session.flush()
        resolved = Incident(
            service_id=service.id,
            title="old",
            state=IncidentState.RESOLVED,
            created_at=NOW - timedelta(days=40),
            updated_at=NOW,
            last_alert_at=NOW,
        )
        open_ = Incident(
            service_id=service.id,
            title="open",
            created_at=NOW - timedelta(days=40),
            updated_at=NOW,
            last_alert_at=NOW,
        )
        session.add_all([resolved, open_])
        await session.flush()
        sent = NotificationStatus.SENT
        rows = {
            "resolved, old": _row(
                resolved.id, MessageKind.PAGE, DAYS_30 + timedelta(seconds=1), sent
            ),
            "resolved, young": _row(
                resolved.id, MessageKind.PAGE, DAYS_30 - timedelta(seconds=1), sent
            ),
            "open, old": _row(open_.id, MessageKind.PAGE, DAYS_30 + timedelta(days=5), sent),
            "info, old": _row(None, MessageKind.INFO, DAYS_30 + timedelta(seconds=1), sent),
            "info, young": _row(None, MessageKind.INFO, DAYS_30 - timedelta(seconds=1), sent),
            "info, old, pending": _row(
                None, MessageKind.INFO, DAYS_30 + timedelta(days=1), NotificationStatus.PENDING
            ),
            "summary, old": _row(None, MessageKind.SUMMARY, DAYS_30 + timedelta(days=1), sent),
        }
        session.add_all(rows.values())
        session.add_all(
            [
                InboundReceipt(
                    source="twilio_sms",
                    key="SM-old",
                    received_at=NOW - DAYS_7 - timedelta(seconds=1),
                ),
                InboundReceipt(
                    source="twilio_sms",
                    key="SM-young",
                    received_at=NOW - DAYS_7 + timedelta(seconds=1),
                ),
            ]
        )
        await session.flush()
        ids = {name: row.id for name, row in rows.items()}

    pruned = await retention.prune(
        db,
        payload_retention=DAYS_30,
        receipt_retention=DAYS_7,
        history_retention=timedelta(days=730),
    )
    # Two payloads blanked, one row deleted, one receipt deleted.
    assert pruned == 2 + 1 + 1
    async with db.new_session() as session:
        left = {n.id: n for n in await session.scalars(select(Notification))}
        receipts = set(await session.scalars(select(InboundReceipt.key)))
    by_name = {name: left.get(row_id) for name, row_id in ids.items()}
    assert by_name["info, old"] is None
    blank = {name for name, row in by_name.items() if row is not None and row.body == ""}
    assert blank == {"resolved, old", "summary, old"}
    assert (
        by_name["resolved, old"].context == {}
        and by_name["resolved, old"].status is NotificationStatus.SENT
    )
    assert by_name["open, old"].body == "the words"  # its incident may still change the message
    assert by_name["info, old, pending"] is not None  # not sent yet
    assert receipts == {"SM-young"}
    assert (
        await retention.prune(
            db,
            payload_retention=DAYS_30,
            receipt_retention=DAYS_7,
            history_retention=timedelta(days=730),
        )
        == 0
    )
