"""Telling the channels that already carry an incident that it changed.

Called in the same transaction as every incident state change (acknowledged, resolved,
reassigned, escalated, ...). Channel providers that keep a live view of an incident (a Slack
message to update and thread under, an outgoing webhook subscriber) queue their updates here
as outbox rows, so they leave after commit like every other message.

* Slack: every page Baton posted for the incident (DMs and channels) is edited to show the new
  state and buttons (``chat.update``), and a thread reply says who did what.
* Webhooks: escalation-target webhooks, and personal webhook contact methods that subscribed to
  status updates, get one signed ``incident.<change>`` event per change.

SMS, voice and e-mail get nothing: each would be a new notification at 3 a.m. for news the
person does not need. The updates are outbox rows of kind ``status_update`` without an
incident id (the incident id is in their context), so they do not crowd the timeline and a
failed one never pulls a person's next rule forward.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import session_clock
from app.incidents.models import Incident
from app.notify.base import MessageKind
from app.notify.channel_models import StatusUpdateSubscription
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.notify.slack import OP_REPLY, OP_UPDATE, parse_message_ref
from app.people.models import ContactType

# Changes that leave the message's state and buttons as they were: a thread reply is enough.
_REPLY_ONLY = frozenset({"note"})
_SHOWN = (NotificationStatus.SENDING, NotificationStatus.SENT, NotificationStatus.DELIVERED)


async def announce(
    session: AsyncSession, incident: Incident, kind: str, text: str, actor_id: int | None
) -> None:
    """Queue updates for every channel that shows ``incident``."""
    pages = (
        await session.scalars(
            select(Notification)
            .where(
                Notification.incident_id == incident.id,
                Notification.kind == MessageKind.PAGE,
                Notification.contact_type.in_([ContactType.SLACK, ContactType.WEBHOOK]),
                Notification.status.in_(list(_SHOWN)),
            )
            .order_by(Notification.id)
        )
    ).all()
    if not pages:
        return
    now = session_clock(session).now()
    queued = await _slack_updates(session, incident, pages, kind, text, now)
    queued += await _webhook_events(session, incident, pages, kind, text, actor_id, now)
    if queued:
        wake_dispatcher_after_commit(session)


def _facts(incident: Incident, base: Mapping[str, Any]) -> dict[str, Any]:
    """The page's context brought up to date with the incident as it is now."""
    context = {k: v for k, v in base.items() if k != "reply_code"}
    context.update(
        incident_id=incident.id,
        title=incident.title,
        urgency=str(incident.urgency),
        state=str(incident.state),
        alert_count=incident.alert_count,
    )
    return context


def _row(
    *,
    base: Notification,
    contact_type: ContactType,
    address: str,
    subject: str,
    body: str,
    context: dict[str, Any],
    now: datetime,
) -> Notification:
    return Notification(
        incident_id=None,
        user_id=base.user_id,
        kind=MessageKind.STATUS_UPDATE,
        contact_type=contact_type,
        address=address,
        subject=subject[:1024],
        body=body[:4000],
        context=context,
        status=NotificationStatus.PENDING,
        due_at=now,
        created_at=now,
    )


async def _slack_updates(
    session: AsyncSession,
    incident: Incident,
    pages: list[Notification],
    kind: str,
    text: str,
    now: datetime,
) -> int:
    posted: dict[tuple[str, str], Notification] = {}
    for page in pages:
        ref = parse_message_ref(page.provider_message_id)
        if page.contact_type is ContactType.SLACK and ref is not None:
            posted.setdefault(ref, page)
    queued = 0
    for (channel, ts), page in posted.items():
        context = _facts(incident, page.context) | {"slack_ts": ts, "status_text": text}
        subject = f"#{incident.id} {kind}"
        if kind not in _REPLY_ONLY:
            await _supersede(session, channel, ts, now)
            session.add(
                _row(
                    base=page,
                    contact_type=ContactType.SLACK,
                    address=channel,
                    subject=subject,
                    body=text,
                    context=context | {"slack_op": OP_UPDATE},
                    now=now,
                )
            )
            queued += 1
        session.add(
            _row(
                base=page,
                contact_type=ContactType.SLACK,
                address=channel,
                subject=subject,
                body=text,
                context=context | {"slack_op": OP_REPLY},
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


async def _webhook_events(
    session: AsyncSession,
    incident: Incident,
    pages: list[Notification],
    kind: str,
    text: str,
    actor_id: int | None,
    now: datetime,
) -> int:
    hooks = [p for p in pages if p.contact_type is ContactType.WEBHOOK]
    if not hooks:
        return 0
    method_ids = [p.contact_method_id for p in hooks if p.contact_method_id is not None]
    subscribed = set(
        await session.scalars(
            select(StatusUpdateSubscription.contact_method_id).where(
                StatusUpdateSubscription.contact_method_id.in_(method_ids or [0])
            )
        )
    )
    targets: dict[str, Notification] = {}
    for page in hooks:
        # An escalation-target webhook has no contact method: it subscribed by being a target.
        if page.contact_method_id is None or page.contact_method_id in subscribed:
            targets.setdefault(page.address, page)
    for address, page in targets.items():
        context = _facts(incident, page.context) | {
            "event": f"incident.{kind}",
            "change": kind,
            "change_text": text,
            "actor_user_id": actor_id,
            "changed_at": now.isoformat(),
        }
        session.add(
            _row(
                base=page,
                contact_type=ContactType.WEBHOOK,
                address=address,
                subject=f"#{incident.id} {kind}: {incident.title}",
                body=text,
                context=context,
                now=now,
            )
        )
    return len(targets)
