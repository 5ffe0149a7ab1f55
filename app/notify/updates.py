"""Telling the channels that already show an incident that it changed.

Subscribers of the incident events (``app/wiring.py``) in the same transaction as the change:
channels that keep a live view of an incident queue their updates as outbox rows, so they leave
after commit like every other message.

* Webhooks (here): escalation-target webhooks, and personal webhook contact methods that
  subscribed to status updates, get one signed ``incident.<change>`` event per change.
* Slack (``app/integrations/slack/incident_updates.py``): every page Baton posted for the
  incident is edited to show the new state and buttons, and a thread reply says who did what.

Which events are news to those channels, and in which words, is :func:`status_change`.
SMS, voice and e-mail get nothing: each would be a new notification at 3 a.m. for news the
person does not need. The updates are outbox rows of kind ``status_update`` without an
incident id (the incident id is in their context), so they do not crowd the timeline and a
failed one never pulls a person's next rule forward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import events as ev
from app.incidents import render
from app.incidents.models import Incident
from app.incidents.subscribers import Applied
from app.notify import messages
from app.notify.base import MessageKind
from app.notify.channel_models import StatusUpdateSubscription
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.people.models import ContactType

SHOWN = (NotificationStatus.SENDING, NotificationStatus.SENT, NotificationStatus.DELIVERED)

# The change names outgoing webhooks carry as ``incident.<change>``: a published contract.
_CHANGES: dict[ev.EventKind, str] = {
    ev.EventKind.ACKNOWLEDGED: "acknowledged",
    ev.EventKind.UNACKNOWLEDGED: "unacknowledged",
    ev.EventKind.RESOLVED: "resolved",
    ev.EventKind.ESCALATE_REQUESTED: "escalated",
    ev.EventKind.REASSIGNED: "reassigned",
    ev.EventKind.NOTE: "note",
    ev.EventKind.URGENCY_CHANGED: "urgency_changed",
    ev.EventKind.ACK_TIMEOUT: "retriggered",
    ev.EventKind.DEPLOY_CONFIRMED: "deploy_confirmed",
    ev.EventKind.DEPLOY_REJECTED: "deploy_rejected",
}


@dataclass(frozen=True, slots=True)
class StatusChange:
    change: str  # "acknowledged", "escalated", ...
    text: str
    actor_id: int | None


def status_change(event: ev.Event) -> StatusChange | None:
    """What the channels showing an incident hear of ``event``; None: it is not news to them."""
    if isinstance(event, ev.Escalated):
        if event.cause is not ev.EscalationCause.TIMED_OUT:
            return None  # a person's escalation was announced by its own event
        return StatusChange("escalated", render.timer_escalation(event), None)
    change = _CHANGES.get(event.kind)
    if change is None:
        return None
    # The channels showing the page need not hear about notifications they never saw.
    shown = replace(event, cancelled=0) if isinstance(event, ev.Acknowledged) else event
    actor = event.by_user_id if isinstance(event, ev.ActedEvent) else None
    return StatusChange(change, render.text(shown), actor)


async def shown_pages(
    session: AsyncSession, incident_id: int, contact_type: ContactType
) -> Sequence[Notification]:
    """The pages of ``incident_id`` on ``contact_type`` that reached (or are reaching) it."""
    return (
        await session.scalars(
            select(Notification)
            .where(
                Notification.incident_id == incident_id,
                Notification.kind == MessageKind.PAGE,
                Notification.contact_type == contact_type,
                Notification.status.in_(list(SHOWN)),
            )
            .order_by(Notification.id)
        )
    ).all()


async def tell_webhooks(session: AsyncSession, applied: Applied) -> None:
    said = status_change(applied.event)
    if said is None:
        return
    hooks = await shown_pages(session, applied.incident.id, ContactType.WEBHOOK)
    if hooks and await _webhook_events(session, applied.incident, hooks, said, applied.at):
        wake_dispatcher_after_commit(session)


def current_facts(incident: Incident, base: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """The page's context brought up to date with the incident as it is now."""
    context = {k: v for k, v in base.items() if k != "reply_code"}
    context.update(
        incident_id=incident.id,
        title=incident.title,
        urgency=str(incident.urgency),
        state=str(incident.state),
        alert_count=incident.alert_count,
    )
    # The deploy as judged now (each channel decides how to show "not related").
    deploy = messages.deploy_as_judged(base.get("deploy"), incident.nearby_deploy, at)
    if deploy is None:
        context.pop("deploy", None)
    else:
        context["deploy"] = deploy
    return context


def status_update_row(
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


async def _webhook_events(
    session: AsyncSession,
    incident: Incident,
    hooks: Sequence[Notification],
    said: StatusChange,
    now: datetime,
) -> int:
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
        context = current_facts(incident, page.context, now) | {
            "event": f"incident.{said.change}",
            "change": said.change,
            "change_text": said.text,
            "actor_user_id": said.actor_id,
            "changed_at": now.isoformat(),
        }
        session.add(
            status_update_row(
                base=page,
                contact_type=ContactType.WEBHOOK,
                address=address,
                subject=f"#{incident.id} {said.change}: {incident.title}",
                body=said.text,
                context=context,
                now=now,
            )
        )
    return len(targets)
