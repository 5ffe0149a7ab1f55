"""What notify does when something happens to an incident (registered by ``app/wiring.py``).

* Pages: every person an ``escalated`` or ``paged`` event reached gets their ladder of
  notifications queued, and the channels a step names get a post.
* Cancellations: an acknowledgement, a resolve or a hand-off stops the pages still waiting.
* Status updates: webhook subscribers hear of the change (``updates.tell_webhooks``; Slack
  messages follow in ``app/integrations/slack/incident_updates.py``).
* Exhaustion: the owning team's managers and the fallback hear that nobody took the incident.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from app.incidents import events as ev
from app.incidents.subscribers import Applied
from app.notify import informational, messages, outbox


async def queue_pages(session: AsyncSession, applied: Applied) -> None:
    incident, service = applied.incident, applied.service

    def context(*, shadow: bool) -> dict[str, object]:
        return messages.page_context(
            incident_id=incident.id,
            title=incident.title,
            service_name=service.name,
            service_id=service.id,
            urgency=incident.urgency,
            state=incident.state,
            runbook_url=service.runbook_url,
            labels=service.labels,
            alert_count=incident.alert_count,
            shadow=shadow,
            reason=applied.reason,
            deploy=messages.deploy_context(incident.nearby_deploy, applied.at),
        )

    for written in applied.pages:
        if not written.targets:
            continue
        outbox.queue_page_notifications(
            session,
            incident_id=incident.id,
            page=written.page,
            user_id=written.user_id,
            ladder=list(written.targets),
            paged_at=applied.at,
            context=context(shadow=written.shadow),
        )
    for contact_type, address in applied.channels:
        outbox.queue_channel_notification(
            session,
            incident_id=incident.id,
            contact_type=contact_type,
            address=address,
            now=applied.at,
            context=context(shadow=False),
        )


async def cancel_pending_pages(session: AsyncSession, applied: Applied) -> ev.Event | None:
    event = applied.event
    match event:
        case ev.Acknowledged():
            reason = "acknowledged before it was sent"
        case ev.Resolved():
            reason = "resolved before it was sent"
        case ev.Reassigned():
            reason = f"handed off to {event.to_name}"
        case _:
            return None
    cancelled = await outbox.cancel_pending(
        session, incident_id=applied.incident.id, now=applied.at, reason=reason
    )
    if isinstance(event, ev.Acknowledged):
        return replace(event, cancelled=cancelled)
    return None


async def tell_exhausted(session: AsyncSession, applied: Applied) -> None:
    if isinstance(applied.event, ev.EscalationExhausted):
        await informational.tell_escalation_exhausted(session, applied.incident, applied.service)
