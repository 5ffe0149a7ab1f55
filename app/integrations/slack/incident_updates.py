"""Slack messages that show an incident follow it: a subscriber of the incident events.

Every page Baton posted for the incident (DMs and channels) is edited to show the new state and
buttons (``chat.update``), and a thread reply says who did what. The edits and replies are
outbox rows (``status_update``), queued in the transaction of the change.

A verdict on the deploy the incident followed is news here too (not to the other channels):
the page shows it in place of the "Caused by this deploy" / "Not related" buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import events as ev
from app.incidents.models import Incident
from app.incidents.subscribers import Applied
from app.integrations.slack.provider import OP_REPLY, OP_UPDATE, parse_message_ref
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.notify.updates import (
    StatusChange,
    current_facts,
    shown_pages,
    status_change,
    status_update_row,
)
from app.people.models import ContactType

# Changes that leave the message's state and buttons as they were: a thread reply is enough.
_REPLY_ONLY = frozenset({"note"})


def _news(event: ev.Event) -> StatusChange | None:
    """What the messages hear of ``event``: the status changes every channel hears (a verdict
    on the nearby deploy among them: it changes the page's deploy line and its buttons)."""
    return status_change(event)


async def update_slack_messages(session: AsyncSession, applied: Applied) -> None:
    said = _news(applied.event)
    if said is None:
        return
    pages = await shown_pages(session, applied.incident.id, ContactType.SLACK)
    if pages and await _queue_updates(session, applied.incident, pages, said, applied.at):
        wake_dispatcher_after_commit(session)


async def _queue_updates(
    session: AsyncSession,
    incident: Incident,
    pages: Sequence[Notification],
    said: StatusChange,
    now: datetime,
) -> int:
    posted: dict[tuple[str, str], Notification] = {}
    for page in pages:
        ref = parse_message_ref(page.provider_message_id)
        if ref is not None:
            posted.setdefault(ref, page)
    queued = 0
    for (channel, ts), page in posted.items():
        context = current_facts(incident, page.context, now) | {
            "slack_ts": ts,
            "status_text": said.text,
        }
        subject = f"#{incident.id} {said.change}"
        ops = [OP_REPLY] if said.change in _REPLY_ONLY else [OP_UPDATE, OP_REPLY]
        for op in ops:
            if op == OP_UPDATE:
                await _supersede(session, channel, ts, now)
            session.add(
                status_update_row(
                    base=page,
                    contact_type=ContactType.SLACK,
                    address=channel,
                    subject=subject,
                    body=said.text,
                    context=context | {"slack_op": op},
                    now=now,
                )
            )
            queued += 1
    return queued


async def _supersede(session: AsyncSession, channel: str, ts: str, now: datetime) -> None:
    """An edit not yet sent is replaced by this newer one, so the message never goes back."""
    waiting = await session.scalars(
        select(Notification).where(
            Notification.kind == MessageKind.STATUS_UPDATE,
            Notification.contact_type == ContactType.SLACK,
            Notification.address == channel,
            Notification.status == NotificationStatus.PENDING,
        )
    )
    stale = [
        n.id
        for n in waiting
        if n.context.get("slack_ts") == ts and n.context.get("slack_op") == OP_UPDATE
    ]
    if stale:
        await session.execute(
            update(Notification)
            .where(Notification.id.in_(stale))
            .values(
                status=NotificationStatus.CANCELLED,
                finished_at=now,
                last_error="superseded by a newer update",
            )
            .execution_options(synchronize_session=False)
        )
