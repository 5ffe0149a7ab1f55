"""The outbox: notifications are rows written in the same transaction as the change that
causes them, and sent by the dispatcher after commit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import on_commit
from app.incidents import paging
from app.incidents.models import Page
from app.notify import messages
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus, SendPriority
from app.people.ladders import RuleTarget
from app.people.models import ContactType, Urgency

# Contact types whose new page notifications a higher layer completes when the session flushes
# them (SMS reply codes, installed by ``app.wiring``): those rows go through the session.
COMPLETED_AT_FLUSH: set[ContactType] = set()


def wake_dispatcher_after_commit(session: AsyncSession) -> None:
    """Ask the in-process dispatcher to look now instead of at its next tick."""
    if session.info.get("dispatcher_wake_registered"):
        return
    wake = session.info.get("wake_dispatcher")
    if wake is not None:
        session.info["dispatcher_wake_registered"] = True
        on_commit(session, wake)


def queue_page_notifications(
    session: AsyncSession,
    *,
    incident_id: int,
    page: Page,
    user_id: int,
    ladder: list[RuleTarget],
    paged_at: datetime,
    context: Mapping[str, Any],
) -> None:
    subject = messages.page_subject(context)
    body = messages.page_text(context)
    first_delay = min((t.delay_minutes for t in ladder), default=0)
    rows = [
        {
            "incident_id": incident_id,
            "user_id": user_id,
            "contact_method_id": target.contact_method_id,
            "rule_id": target.rule_id,
            "kind": MessageKind.PAGE,
            "contact_type": target.contact_type,
            "address": target.address,
            "subject": subject,
            "body": body,
            "context": dict(context),
            "status": NotificationStatus.PENDING,
            "due_at": paged_at + timedelta(minutes=target.delay_minutes),
            "priority": page_priority(page, first_rule=target.delay_minutes == first_delay),
            "created_at": paged_at,
            "attempts": 0,
        }
        for target in ladder
    ]
    wake_dispatcher_after_commit(session)
    plain = [row for row in rows if row["contact_type"] not in COMPLETED_AT_FLUSH]
    # Pages an alert storm opens together go in together, with their plain notifications.
    if not paging.insert_with_page(session, page, Notification.__table__, plain):
        session.add_all([Notification(page=page, **row) for row in rows])
        return
    for row in rows:
        if row["contact_type"] in COMPLETED_AT_FLUSH:
            notification = Notification(**row)
            session.add(notification)
            paging.when_page_inserted(session, page, partial(setattr, notification, "page_id"))


def page_priority(page: Page, *, first_rule: bool) -> SendPriority:
    """A person's first contact for an incident goes before repeats (a later rule of their
    ladder, or a later pass of the escalation ladder), and high urgency before low."""
    if page.urgency is Urgency.LOW:
        return SendPriority.LOW_URGENCY
    repeat = not first_rule or (page.escalation_loop or 0) > 0
    return SendPriority.REPEAT if repeat else SendPriority.FIRST_PAGE


def queue_channel_notification(
    session: AsyncSession,
    *,
    incident_id: int,
    contact_type: ContactType,
    address: str,
    now: datetime,
    context: Mapping[str, Any],
) -> Notification:
    """A post to a Slack channel or a webhook named directly by an escalation step."""
    row = Notification(
        incident_id=incident_id,
        kind=MessageKind.PAGE,
        contact_type=contact_type,
        address=address,
        subject=messages.page_subject(context),
        body=messages.page_text(context),
        context=dict(context),
        status=NotificationStatus.PENDING,
        due_at=now,
        # A channel's post sits beside the people's repeats: the person paged comes first.
        priority=SendPriority.REPEAT,
        created_at=now,
    )
    session.add(row)
    wake_dispatcher_after_commit(session)
    return row


async def cancel_pending(
    session: AsyncSession,
    *,
    incident_id: int,
    now: datetime,
    reason: str,
    page_ids: Iterable[int] | None = None,
) -> int:
    """Stop pages that have not gone out yet (an acknowledgement arrived first)."""
    stmt = (
        update(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.status == NotificationStatus.PENDING,
            Notification.kind == MessageKind.PAGE,
        )
        .values(status=NotificationStatus.CANCELLED, finished_at=now, last_error=reason)
        .execution_options(synchronize_session=False)
    )
    if page_ids is not None:
        stmt = stmt.where(Notification.page_id.in_(list(page_ids)))
    result = await session.execute(stmt)
    return result.rowcount or 0
