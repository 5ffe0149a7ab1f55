"""SMS reply codes: ``4a`` acknowledges the incident code 4 stands for on this phone.

Codes are allocated in the transaction that queues the page, so the code in the SMS and the
row that gives it meaning commit together. Allocation happens when the outbox rows are
flushed: every new SMS page or summary gets the lowest code free on its phone number (a code
is free once all its incidents are resolved), the code goes into the notification's context
and the body is rendered with it (see ``sms_text``). ``app.wiring.wire`` calls ``install``
once at start-up; until then SMS pages carry no codes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.core.db import session_clock
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.integrations.twilio import sms_text
from app.notify import outbox
from app.notify.base import MessageKind
from app.notify.channel_models import SmsReplyCode
from app.notify.models import Notification, NotificationStatus
from app.people.models import ContactType

CODE_KEY = "reply_code"
_CODED_KINDS = (MessageKind.PAGE, MessageKind.SUMMARY)


def install() -> None:
    """Allocate codes whenever SMS pages are flushed (idempotent)."""
    outbox.COMPLETED_AT_FLUSH.add(ContactType.SMS)
    if not event.contains(Session, "before_flush", _allocate_on_flush):
        event.listen(Session, "before_flush", _allocate_on_flush)


def _needs_code(obj: object) -> bool:
    return (
        isinstance(obj, Notification)
        and obj.contact_type is ContactType.SMS
        and obj.kind in _CODED_KINDS
        and CODE_KEY not in (obj.context or {})
    )


def _allocate_on_flush(session: Session, _context: Any, _instances: Any) -> None:
    pending = [o for o in session.new if _needs_code(o)]
    if not pending:
        return
    now = session_clock(session).now()
    with session.no_autoflush:
        # One phone at a time, in a stable order, so two transactions cannot deadlock here.
        for phone in sorted({n.address for n in pending}):
            _allocate_for_phone(session, phone, [n for n in pending if n.address == phone], now)


def _lock_phone(session: Session, phone: str) -> None:
    """Serialize allocation per number across transactions (SQLite has one writer anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"sms-reply-codes:{phone}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _open_incident_ids(session: Session, ids: Iterable[int]) -> set[int]:
    wanted = sorted(set(ids))
    if not wanted:
        return set()
    rows = session.execute(
        select(Incident.id).where(Incident.id.in_(wanted), Incident.state != IncidentState.RESOLVED)
    )
    return {row[0] for row in rows}


def _incidents_of(notification: Notification) -> list[int]:
    if notification.kind is MessageKind.SUMMARY:
        return [int(i) for i in notification.context.get("incident_ids", [])]
    return [notification.incident_id] if notification.incident_id is not None else []


def _allocate_for_phone(
    session: Session, phone: str, notifications: list[Notification], now: datetime
) -> None:
    _lock_phone(session, phone)
    rows = list(session.scalars(select(SmsReplyCode).where(SmsReplyCode.phone == phone)))
    wanted = [i for n in notifications for i in _incidents_of(n)]
    open_ids = _open_incident_ids(session, [i for r in rows for i in r.incident_ids] + wanted)
    # The incidents being paged right now are open, whatever the database says so far.
    open_ids |= set(wanted)
    for notification in notifications:
        row = _code_for(session, phone, rows, open_ids, notification, now)
        context = dict(notification.context or {})
        context[CODE_KEY] = row.code
        notification.context = context
        if notification.kind is MessageKind.SUMMARY:
            notification.body = sms_text.summary_sms(context, row.code)
        else:
            notification.body = sms_text.page_sms(context, row.code)


def _code_for(
    session: Session,
    phone: str,
    rows: list[SmsReplyCode],
    open_ids: set[int],
    notification: Notification,
    now: datetime,
) -> SmsReplyCode:
    incident_ids = _incidents_of(notification)
    bundle = notification.kind is MessageKind.SUMMARY
    if not bundle:
        for row in rows:
            if not row.bundle and row.incident_ids == incident_ids:
                row.assigned_at = now  # the same incident paged again keeps its code
                return row
    taken = {r.code for r in rows if any(i in open_ids for i in r.incident_ids)}
    code = next(c for c in range(1, len(taken) + 2) if c not in taken)
    row = next((r for r in rows if r.code == code), None)
    if row is None:
        row = SmsReplyCode(phone=phone, code=code)
        session.add(row)
        rows.append(row)
    row.incident_ids = list(incident_ids)
    row.bundle = bundle
    row.assigned_at = now
    return row


# ----------------------------------------------------------------------------------- lookups


async def find(session: AsyncSession, phone: str, code: int) -> SmsReplyCode | None:
    return await session.scalar(
        select(SmsReplyCode).where(SmsReplyCode.phone == phone, SmsReplyCode.code == code)
    )


async def open_incidents(session: AsyncSession, incident_ids: Sequence[int]) -> list[int]:
    """The ones among ``incident_ids`` that are not resolved, in the given order."""
    if not incident_ids:
        return []
    rows = await session.scalars(
        select(Incident.id).where(
            Incident.id.in_(list(incident_ids)), Incident.state != IncidentState.RESOLVED
        )
    )
    open_ids = set(rows)
    return [i for i in incident_ids if i in open_ids]


async def latest(session: AsyncSession, phone: str) -> SmsReplyCode | None:
    """The code of the newest page this phone actually received whose incident is still open."""
    sent = await session.scalars(
        select(Notification)
        .where(
            Notification.address == phone,
            Notification.contact_type == ContactType.SMS,
            Notification.kind.in_(list(_CODED_KINDS)),
            Notification.status.in_([NotificationStatus.SENT, NotificationStatus.DELIVERED]),
        )
        .order_by(Notification.sent_at.desc(), Notification.id.desc())
        .limit(20)
    )
    for notification in sent:
        code = notification.context.get(CODE_KEY)
        if code is None:
            continue
        row = await find(session, phone, int(code))
        if row is not None and await open_incidents(session, row.incident_ids):
            return row
    return None
