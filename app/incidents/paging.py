"""Running an escalation step: who the step reaches right now, their pages and notifications.

Called inside the transaction that opens or escalates an incident, so the state change and the
notifications it causes commit together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core.db import insert_ignoring_duplicates
from app.escalation.policy import (
    PolicySnapshot,
    Position,
    StepSnapshot,
    next_position,
    step_at,
    total_positions,
)
from app.incidents import events, timeline
from app.incidents.models import Incident, IncidentAssignee, Page
from app.notify import inform, messages, outbox
from app.people.masking import mask_address
from app.people.models import ContactType, Urgency
from app.schedules import service as schedules


@dataclass
class StepAudience:
    responders: list[int] = field(default_factory=list)
    shadows: list[int] = field(default_factory=list)
    channels: list[tuple[ContactType, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.responders and not self.channels


async def audience(session: AsyncSession, step: StepSnapshot, at: datetime) -> StepAudience:
    result = StepAudience()
    schedule_ids = [t.schedule_id for t in step.targets if t.schedule_id is not None]
    on_call = (
        await schedules.oncall_for_schedules(session, schedule_ids, at) if schedule_ids else {}
    )
    for target in step.targets:
        if target.kind == "user" and target.user_id is not None:
            result.responders.append(target.user_id)
        elif target.kind == "schedule" and target.schedule_id is not None:
            answer = on_call.get(target.schedule_id)
            if answer is not None:
                result.responders += [a.user_id for a in answer.responders]
                result.shadows += [a.user_id for a in answer.shadows]
        elif target.kind == "slack_channel" and target.address:
            result.channels.append((ContactType.SLACK, target.address))
        elif target.kind == "webhook" and target.address:
            result.channels.append((ContactType.WEBHOOK, target.address))
    result.responders = list(dict.fromkeys(result.responders))
    responders = set(result.responders)
    result.shadows = [u for u in dict.fromkeys(result.shadows) if u not in responders]
    result.channels = list(dict.fromkeys(result.channels))
    return result


def _context(incident: Incident, service: Service, *, shadow: bool, reason: str) -> dict:
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
        reason=reason,
    )


async def page_users(
    session: AsyncSession,
    incident: Incident,
    service: Service,
    *,
    responders: list[int],
    shadows: list[int],
    now: datetime,
    reason: str,
    position: Position | None,
    ladders: dict[int, outbox.Ladder] | None = None,
) -> list[events.PersonPaged]:
    """Page each person along their own notification rules; returns who was paged how."""
    paged: list[events.PersonPaged] = []
    people = [(u, False) for u in responders] + [(u, True) for u in shadows]
    if not people:
        return paged
    if ladders is None:
        ladders = await outbox.ladders_for(session, [u for u, _ in people], incident.urgency)
    # Paged people become assignees; someone already assigned stays as they were.
    await insert_ignoring_duplicates(
        session,
        IncidentAssignee.__table__,
        [
            {"incident_id": incident.id, "user_id": u, "shadow": shadow, "assigned_at": now}
            for u, shadow in people
        ],
        ["incident_id", "user_id"],
    )
    for user_id, shadow in people:
        page = Page(
            incident_id=incident.id,
            user_id=user_id,
            shadow=shadow,
            urgency=incident.urgency,
            paged_at=now,
            reason=reason,
            escalation_step=position.step if position else None,
            escalation_loop=position.loop if position else None,
        )
        session.add(page)
        ladder = ladders.get(user_id, outbox.Ladder(f"user {user_id}", []))
        paged.append(
            events.PersonPaged(
                user_id=user_id,
                name=ladder.name,
                shadow=shadow,
                contacts=tuple(
                    events.PlannedContact(
                        contact_type=t.contact_type.value, delay_minutes=t.delay_minutes
                    )
                    for t in ladder.targets
                ),
            )
        )
        if not ladder.targets:
            continue
        outbox.queue_page_notifications(
            session,
            incident_id=incident.id,
            page=page,
            user_id=user_id,
            ladder=ladder.targets,
            paged_at=now,
            context=_context(incident, service, shadow=shadow, reason=reason),
        )
    return paged


def post_to_channels(
    session: AsyncSession,
    incident: Incident,
    service: Service,
    channels: list[tuple[ContactType, str]],
    *,
    now: datetime,
    reason: str,
) -> list[events.ChannelPosted]:
    for contact_type, address in channels:
        outbox.queue_channel_notification(
            session,
            incident_id=incident.id,
            contact_type=contact_type,
            address=address,
            now=now,
            context=_context(incident, service, shadow=False, reason=reason),
        )
    # A webhook URL's path often carries a secret, and everyone reads the timeline.
    return [
        events.ChannelPosted(
            contact_type=contact_type.value, address=mask_address(contact_type, address)
        )
        for contact_type, address in channels
    ]


@dataclass
class StepPlan:
    """Who a run of the ladder reaches, worked out before anything is written."""

    skipped: list[Position]
    position: Position | None  # None: every step was empty
    audience: StepAudience | None = None
    ladders: dict[int, outbox.Ladder] = field(default_factory=dict)


async def plan_from(
    session: AsyncSession,
    policy: PolicySnapshot,
    start: Position,
    *,
    now: datetime,
    urgency: Urgency,
) -> StepPlan:
    """The first step at or after ``start`` that reaches anyone, and the empty ones before it."""
    skipped: list[Position] = []
    position: Position | None = start
    for _ in range(total_positions(policy)):
        if position is None:
            break
        who = await audience(session, step_at(policy, position), now)
        if who.empty:
            skipped.append(position)
            position = next_position(policy, position)
            continue
        ladders = await outbox.ladders_for(session, who.responders + who.shadows, urgency)
        return StepPlan(skipped, position, who, ladders)
    return StepPlan(skipped, None)


def set_escalation(
    incident: Incident, policy: PolicySnapshot, plan: StepPlan, now: datetime
) -> None:
    """Where the incident stands on the ladder after ``plan`` runs, and when it moves on."""
    if plan.position is None:
        incident.next_escalation_at = None
        incident.escalation_exhausted_at = now
        return
    incident.escalation_step = plan.position.step
    incident.escalation_loop = plan.position.loop
    # Even after the last step the timer runs once more, so the timeline can say that nobody
    # acknowledged before the ladder ran out. Low urgency never escalates.
    delay = timedelta(minutes=step_at(policy, plan.position).delay_minutes)
    incident.next_escalation_at = now + delay if incident.urgency == Urgency.HIGH else None


async def carry_out(
    session: AsyncSession,
    incident: Incident,
    service: Service,
    policy: PolicySnapshot,
    plan: StepPlan,
    *,
    now: datetime,
    reason: str,
) -> None:
    """Write the pages, notifications and timeline of a plan (the incident has its id)."""
    for position in plan.skipped:
        timeline.append(
            session,
            incident.id,
            events.StepEmpty(**_where(policy, position)),
            at=now,
        )
    if plan.position is None or plan.audience is None:
        timeline.append(
            session,
            incident.id,
            events.EscalationExhausted(because=events.ExhaustedBecause.ALL_STEPS_EMPTY),
            at=now,
        )
        await inform.tell_escalation_exhausted(session, incident, service)
        return
    who = plan.audience
    paged = await page_users(
        session,
        incident,
        service,
        responders=who.responders,
        shadows=who.shadows,
        now=now,
        reason=reason,
        position=plan.position,
        ladders=plan.ladders,
    )
    posted = post_to_channels(session, incident, service, who.channels, now=now, reason=reason)
    escalated = events.Escalated(
        **_where(policy, plan.position),
        reason=reason,
        responders=tuple(who.responders),
        shadows=tuple(who.shadows),
        paged=tuple(paged),
        channels=tuple(posted),
        low_urgency=incident.urgency != Urgency.HIGH,
        next_escalation_at=incident.next_escalation_at,
        last_step=next_position(policy, plan.position) is None,
    )
    timeline.append(session, incident.id, escalated, at=now)


async def run_from(
    session: AsyncSession,
    incident: Incident,
    service: Service,
    policy: PolicySnapshot,
    start: Position,
    *,
    now: datetime,
    reason: str,
) -> None:
    """Page the first step at or after ``start`` that reaches anyone; log the empty ones."""
    plan = await plan_from(session, policy, start, now=now, urgency=incident.urgency)
    set_escalation(incident, policy, plan, now)
    await carry_out(session, incident, service, policy, plan, now=now, reason=reason)


class _Where(TypedDict):
    step: int
    loop: int
    steps: int
    passes: int


def _where(policy: PolicySnapshot, position: Position) -> _Where:
    """The fields every step event carries (events.StepEvent)."""
    return {
        "step": position.step,
        "loop": position.loop,
        "steps": len(policy.steps),
        "passes": policy.repeat + 1,
    }
