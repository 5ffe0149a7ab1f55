"""What a person does with their own channels: send themselves a test, read how it went.

The API's routes (``notify.api``) and the web pages call these, so both have the same rights
and the same rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import InvalidInput, NotFound, RateLimited
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.people import service as people
from app.people.models import ContactMethod

# One test per contact method in this long: a test button must not become a pager flood.
TEST_INTERVAL = timedelta(seconds=30)


@dataclass(frozen=True)
class QueuedTest:
    notification: Notification
    method: ContactMethod


async def own_method(
    session: AsyncSession, principal: Principal, user_id: int, method_id: int
) -> ContactMethod:
    method = await people.get_contact_method(session, user_id, method_id)
    principal.require_self_or_admin(user_id)
    return method


def _test_text(method: ContactMethod) -> str:
    name = f" ({method.label})" if method.label else ""
    return (
        f"Baton test message to your {method.type} contact method{name}. If you can read this, "
        "Baton can page you here. No action is needed."
    )


async def send_test(
    session: AsyncSession, principal: Principal, user_id: int, method_id: int
) -> QueuedTest:
    """Queue a test message to one of the user's contact methods (the owner or an admin)."""
    method = await own_method(session, principal, user_id, method_id)
    if method.type.needs_verification and method.verified_at is None:
        raise InvalidInput(
            "verify this number first: a test must not text a stranger", code="not_verified"
        )
    now = session_clock(session).now()
    recent = await session.scalar(
        select(Notification.created_at)
        .where(Notification.contact_method_id == method.id, Notification.kind == MessageKind.TEST)
        .order_by(Notification.created_at.desc())
        .limit(1)
    )
    if recent is not None and now - recent < TEST_INTERVAL:
        wait = int((recent + TEST_INTERVAL - now).total_seconds()) + 1
        raise RateLimited(
            "a test was sent moments ago; wait before sending another", retry_after_seconds=wait
        )
    row = Notification(
        user_id=user_id,
        contact_method_id=method.id,
        kind=MessageKind.TEST,
        contact_type=method.type,
        address=method.address,
        subject="Baton test message",
        body=_test_text(method),
        context={"event": "test", "contact_method_id": method.id},
        status=NotificationStatus.PENDING,
        due_at=now,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    wake_dispatcher_after_commit(session)
    return QueuedTest(row, method)


async def user_notification(
    session: AsyncSession, user_id: int, notification_id: int
) -> Notification:
    """One notification sent to this user (NotFound for anyone else's)."""
    row = await session.get(Notification, notification_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"notification {notification_id} not found for user {user_id}")
    return row
