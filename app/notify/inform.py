"""Telling a person something that is not a page: cover requests, reminders, confirmations.

Informational messages go to the person's quietest pageable channel (Slack, then e-mail, then
SMS) once. They are outbox rows like pages, written in the caller's transaction, so they are
sent after commit with the same retries, and never lost to a crash between decision and send.
They never escalate.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_clock
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.people.models import ContactMethod, ContactType

# Least intrusive first: an FYI should not ring a phone when a chat message will do.
_PREFERENCE = (ContactType.SLACK, ContactType.EMAIL, ContactType.SMS)


async def inform_user(
    session: AsyncSession,
    user_id: int,
    *,
    subject: str,
    text: str,
    kind: MessageKind = MessageKind.INFO,
    context: dict[str, object] | None = None,
) -> ContactMethod | None:
    """Queue ``text`` for ``user_id`` on one channel; returns the contact method chosen."""
    methods = (
        await session.scalars(
            select(ContactMethod).where(
                ContactMethod.user_id == user_id,
                ContactMethod.verified_at.is_not(None),
                ContactMethod.disabled_at.is_(None),
                ContactMethod.type.in_(_PREFERENCE),
            )
        )
    ).all()
    if not methods:
        return None
    method = min(methods, key=lambda m: (_PREFERENCE.index(m.type), m.id))
    now = session_clock(session).now()
    session.add(
        Notification(
            user_id=user_id,
            contact_method_id=method.id,
            kind=kind,
            contact_type=method.type,
            address=method.address,
            subject=subject[:1024],
            body=text[:4000],
            context=dict(context or {}),
            status=NotificationStatus.PENDING,
            due_at=now,
            created_at=now,
        )
    )
    wake_dispatcher_after_commit(session)
    return method
