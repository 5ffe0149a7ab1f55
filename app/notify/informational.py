"""Telling a person something that is not a page: cover requests, reminders, confirmations.

Informational messages go to the person's quietest pageable channel (Slack, then e-mail, then
SMS) once. They are outbox rows like pages, written in the caller's transaction, so they are
sent after commit with the same retries, and never lost to a crash between decision and send.
They never escalate.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core.auth import TeamRole
from app.core.db import session_clock, session_escalation_fallback
from app.core.metrics import ESCALATIONS_EXHAUSTED
from app.incidents.models import Incident
from app.notify import messages
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.people.ladders import ladders_for
from app.people.models import ContactMethod, ContactType, TeamMembership, Urgency

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


async def inform_by_rules(
    session: AsyncSession,
    user_id: int,
    *,
    incident_id: int | None,
    subject: str,
    text: str,
    context: dict[str, object],
) -> int:
    """An FYI along the person's own low-urgency rules: the contacts they chose to hear first
    (those without a delay), once each and never escalating; their quietest channel when they
    have no such rule. Returns how many messages were queued."""
    ladder = (await ladders_for(session, [user_id], Urgency.LOW)).get(user_id)
    first = [t for t in ladder.targets if t.delay_minutes == 0] if ladder is not None else []
    if not first:
        return (
            1
            if await inform_user(session, user_id, subject=subject, text=text, context=context)
            else 0
        )
    now = session_clock(session).now()
    for target in first:
        session.add(
            Notification(
                incident_id=incident_id,
                user_id=user_id,
                contact_method_id=target.contact_method_id,
                rule_id=target.rule_id,
                kind=MessageKind.INFO,
                contact_type=target.contact_type,
                address=target.address,
                subject=subject[:1024],
                body=text[:4000],
                context=dict(context),
                status=NotificationStatus.PENDING,
                due_at=now,
                created_at=now,
            )
        )
    wake_dispatcher_after_commit(session)
    return len(first)


async def tell_escalation_exhausted(
    session: AsyncSession, incident: Incident, service: Service
) -> int:
    """Once per exhaustion: the owner team's managers and the fallback hear that nobody took
    the incident. Returns how many messages were queued."""
    ESCALATIONS_EXHAUSTED.inc()
    fallback = session_escalation_fallback(session)
    email = service.fallback_email or fallback.email
    channel = service.fallback_slack_channel or fallback.slack_channel
    subject = f"[UNACKNOWLEDGED] #{incident.id} {service.name}: {incident.title}"[:1024]
    text = (
        f"Nobody acknowledged incident #{incident.id} ({service.name}: {incident.title}) and its "
        "escalation policy has run out. It is still triggered: please find someone to take it."
    )
    context = {
        "event": "incident.escalation_exhausted",
        "incident_id": incident.id,
        "path": messages.incident_path(incident.id),
    }
    managers = await session.scalars(
        select(TeamMembership.user_id).where(
            TeamMembership.team_id == service.team_id, TeamMembership.role == TeamRole.MANAGER
        )
    )
    queued = 0
    for user_id in managers:
        if await inform_user(session, user_id, subject=subject, text=text, context=context):
            queued += 1
    now = session_clock(session).now()
    for contact_type, address in ((ContactType.EMAIL, email), (ContactType.SLACK, channel)):
        if not address:
            continue
        session.add(
            Notification(
                incident_id=incident.id,
                kind=MessageKind.INFO,
                contact_type=contact_type,
                address=address,
                subject=subject,
                body=text,
                context=dict(context),
                status=NotificationStatus.PENDING,
                due_at=now,
                created_at=now,
            )
        )
        queued += 1
    wake_dispatcher_after_commit(session)
    return queued
