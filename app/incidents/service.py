"""Incident lifecycle operations. Each runs inside the caller's transaction, locks the incident
row first (so the engine, the API and inbound replies serialize on it) and records what it did
on the timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TypedDict

from sqlalchemy import Select, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert, AlertStatus
from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.auth import Principal
from app.core.db import on_commit, session_clock
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.metrics import INCIDENTS_OPENED
from app.escalation import service as escalation
from app.escalation.policy import FIRST, PolicySnapshot, Position, has_steps, next_position
from app.incidents import events, lifecycle, paging, render, timeline
from app.incidents.events import Channel
from app.incidents.lifecycle import Action, IncidentState, TransitionRefused
from app.incidents.models import Incident, IncidentAssignee, Page
from app.notify import inform, outbox
from app.notify.updates import announce
from app.people.models import Urgency, User


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something and how it reached us; ``user_id`` is None for the system."""

    user_id: int | None
    channel: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.user_id, principal.channel)


SYSTEM = Actor(None, Channel.SYSTEM)
SOURCE = Actor(None, Channel.INTEGRATION)


# ------------------------------------------------------------------------------------ loading


async def get_incident(session: AsyncSession, incident_id: int) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


async def lock_incident(session: AsyncSession, incident_id: int) -> Incident:
    incident = await session.scalar(
        select(Incident)
        .where(Incident.id == incident_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if incident is None:
        raise NotFound(f"incident {incident_id} not found")
    return incident


def policy_of(incident: Incident) -> PolicySnapshot | None:
    if incident.policy_snapshot is None:
        return None
    return PolicySnapshot.from_json(incident.policy_snapshot)


async def require_can_act(session: AsyncSession, principal: Principal, incident: Incident) -> None:
    """The service's team, anyone paged for the incident, and admins may act on it."""
    principal.require_write()
    if principal.is_admin:
        return
    service = await session.get(Service, incident.service_id)
    if service is not None and service.team_id in principal.team_ids:
        return
    involved = await session.scalar(
        select(exists().where(Page.incident_id == incident.id, Page.user_id == principal.user_id))
    )
    if not involved:
        raise Forbidden(
            "only the service's team, the people paged for this incident, or admins can act on it"
        )


# ------------------------------------------------------------------------------------ opening


async def open_incident(
    session: AsyncSession,
    service: Service,
    *,
    title: str,
    urgency: Urgency,
    group_key: str | None,
    actor: Actor,
    now: datetime,
    details: str = "",
    alert_count: int = 0,
    direct_to: User | None = None,
) -> Incident:
    """Create the incident and, in the same transaction, the first page of its policy.

    ``direct_to`` pages that one person along their own rules instead, with no escalation
    policy (someone asked for them by name: maintenance does not hold it).
    """
    snapshot = (
        await escalation.load_snapshot(session, service.escalation_policy_id)
        if service.escalation_policy_id is not None and direct_to is None
        else None
    )
    window = None if direct_to else await catalog.active_window(session, service.id, now)
    pages = window is None and snapshot is not None and has_steps(snapshot)
    # Who the first step reaches is worked out before the incident row is written, so the row
    # goes in once, already carrying its escalation state.
    plan = (
        await paging.plan_from(session, snapshot, FIRST, now=now, urgency=urgency)
        if pages and snapshot is not None
        else None
    )
    incident = Incident(
        service_id=service.id,
        title=title,
        state=IncidentState.TRIGGERED,
        urgency=urgency,
        group_key=group_key,
        created_at=now,
        updated_at=now,
        policy_snapshot=snapshot.to_json() if snapshot else None,
        ack_timeout_minutes=service.ack_timeout_minutes,
        held_for_maintenance=window is not None,
        alert_count=alert_count,
        last_alert_at=now if alert_count else None,
        escalation_step=0,
        escalation_loop=0,
    )
    if plan is not None and snapshot is not None:
        paging.set_escalation(incident, snapshot, plan, now)
    session.add(incident)
    await session.flush()
    on_commit(session, INCIDENTS_OPENED.inc)
    who = await _name(session, actor.user_id)
    opened = events.Opened(
        **_by(actor, who),
        service_id=service.id,
        service_name=service.name,
        title=title,
        urgency=urgency.value,
        details=details,
    )
    timeline.append(session, incident.id, opened, at=now)
    if direct_to is not None:
        paged = await paging.page_users(
            session,
            incident,
            service,
            responders=[direct_to.id],
            shadows=[],
            now=now,
            reason=f"paged directly by {who}",
            position=None,
        )
        timeline.append(
            session, incident.id, events.Paged(user_id=direct_to.id, paged=tuple(paged)), at=now
        )
    elif window is not None:
        held = events.MaintenanceHold(
            service_name=service.name, until=window.ends_at, reason=window.reason or ""
        )
        timeline.append(session, incident.id, held, at=now)
    elif plan is None or snapshot is None:
        timeline.append(
            session, incident.id, events.NoEscalationPolicy(service_name=service.name), at=now
        )
    else:
        await paging.carry_out(
            session, incident, service, snapshot, plan, now=now, reason="incident opened"
        )
    return incident


# ----------------------------------------------------------------------------------- engine


async def escalate_due(session: AsyncSession, incident: Incident, now: datetime) -> None:
    """The escalation timer fired on a triggered incident nobody acknowledged."""
    policy = policy_of(incident)
    service = await session.get(Service, incident.service_id)
    if policy is None or service is None or not has_steps(policy):
        incident.next_escalation_at = None
        return
    current = Position(incident.escalation_loop, incident.escalation_step)
    following = next_position(policy, current)
    waited = policy.steps[current.step].delay_minutes
    if following is None:
        incident.next_escalation_at = None
        incident.escalation_exhausted_at = now
        exhausted = events.EscalationExhausted(
            because=events.ExhaustedBecause.UNACKNOWLEDGED, waited_minutes=waited
        )
        timeline.append(session, incident.id, exhausted, at=now)
        await inform.tell_escalation_exhausted(session, incident, service)
        return
    await paging.run_from(
        session,
        incident,
        service,
        policy,
        following,
        now=now,
        reason=f"no acknowledgement after {waited} min",
    )
    incident.updated_at = now
    await announce(
        session,
        incident,
        "escalated",
        f"No acknowledgement after {waited} min: escalated to step {incident.escalation_step + 1}",
        None,
    )


def bring_escalation_forward(incident: Incident, now: datetime) -> bool:
    """Escalate now rather than when the step's delay runs out: a page of this step may not have
    arrived. False when nothing would follow (last step, low urgency, not triggered)."""
    policy = policy_of(incident)
    if (
        incident.state is not IncidentState.TRIGGERED
        or incident.held_for_maintenance
        or incident.urgency != Urgency.HIGH
        or incident.next_escalation_at is None
        or policy is None
        or not has_steps(policy)
        or next_position(policy, Position(incident.escalation_loop, incident.escalation_step))
        is None
    ):
        return False
    incident.next_escalation_at = min(incident.next_escalation_at, now)
    return True


async def retrigger_after_ack_timeout(
    session: AsyncSession, incident: Incident, now: datetime
) -> None:
    lifecycle.transition(incident.state, Action.ACK_TIMEOUT)
    timed_out = events.AckTimeout(minutes=incident.ack_timeout_minutes or 0)
    incident.state = IncidentState.TRIGGERED
    incident.ack_expires_at = None
    incident.updated_at = now
    timeline.append(session, incident.id, timed_out, at=now)
    await announce(session, incident, "retriggered", render.text(timed_out), None)
    await _restart(session, incident, FIRST, now, reason="acknowledgement timed out")


async def release_from_maintenance(
    session: AsyncSession, incident: Incident, now: datetime
) -> None:
    incident.held_for_maintenance = False
    incident.updated_at = now
    timeline.append(session, incident.id, events.MaintenanceEnded(), at=now)
    if incident.state is IncidentState.TRIGGERED:
        await _restart(session, incident, FIRST, now, reason="maintenance ended")


async def _restart(
    session: AsyncSession, incident: Incident, position: Position, now: datetime, *, reason: str
) -> None:
    policy = policy_of(incident)
    service = await session.get(Service, incident.service_id)
    if policy is None or service is None or not has_steps(policy):
        incident.next_escalation_at = None
        return
    incident.escalation_exhausted_at = None
    await paging.run_from(session, incident, service, policy, position, now=now, reason=reason)


# ---------------------------------------------------------------------------------- actions


def _refuse(exc: TransitionRefused) -> Conflict:
    return Conflict(str(exc), state=exc.state.value)


async def acknowledge(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    return await acknowledge_locked(session, incident, Actor.of(principal))


async def acknowledge_locked(session: AsyncSession, incident: Incident, actor: Actor) -> Incident:
    try:
        change = lifecycle.transition(incident.state, Action.ACKNOWLEDGE)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    if not change.changed:
        return incident  # acknowledging twice is not news
    now = session_clock(session).now()
    incident.state = IncidentState.ACKNOWLEDGED
    incident.acknowledged_at = now
    incident.acknowledged_by_id = actor.user_id
    incident.next_escalation_at = None
    incident.updated_at = now
    if incident.ack_timeout_minutes:
        incident.ack_expires_at = now + timedelta(minutes=incident.ack_timeout_minutes)
    cancelled = await outbox.cancel_pending(
        session, incident_id=incident.id, now=now, reason="acknowledged before it was sent"
    )
    acknowledged = events.Acknowledged(
        **_by(actor, await _name(session, actor.user_id)), cancelled=cancelled
    )
    timeline.append(session, incident.id, acknowledged, at=now)
    # The channels showing the page need not hear about notifications they never saw.
    said = render.text(replace(acknowledged, cancelled=0))
    await announce(session, incident, "acknowledged", said, actor.user_id)
    return incident


async def unacknowledge(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    try:
        lifecycle.transition(incident.state, Action.UNACKNOWLEDGE)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    now = session_clock(session).now()
    _back_to_triggered(incident, now)
    who = await _name(session, principal.user_id)
    unacknowledged = events.Unacknowledged(**_by(Actor.of(principal), who))
    await _record_and_announce(session, incident, unacknowledged, "unacknowledged", now)
    await _restart(
        session,
        incident,
        Position(incident.escalation_loop, incident.escalation_step),
        now,
        reason=f"unacknowledged by {who}",
    )
    return incident


async def resolve(
    session: AsyncSession, principal: Principal, incident_id: int, note: str = ""
) -> Incident:
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    return await resolve_locked(session, incident, Actor.of(principal), note=note)


async def resolve_locked(
    session: AsyncSession, incident: Incident, actor: Actor, *, note: str = ""
) -> Incident:
    try:
        lifecycle.transition(incident.state, Action.RESOLVE)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    now = session_clock(session).now()
    incident.state = IncidentState.RESOLVED
    incident.resolved_at = now
    incident.resolved_by_id = actor.user_id
    incident.next_escalation_at = None
    incident.ack_expires_at = None
    incident.updated_at = now
    await outbox.cancel_pending(
        session, incident_id=incident.id, now=now, reason="resolved before it was sent"
    )
    still_firing = await session.execute(
        update(Alert)
        .where(Alert.incident_id == incident.id, Alert.status == AlertStatus.FIRING)
        .values(status=AlertStatus.RESOLVED, resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    automatic = actor.user_id is None
    resolved = events.Resolved(
        **_by(actor, await _name(session, actor.user_id)),
        automatic=automatic,
        note=note,
        closed_alerts=0 if automatic else still_firing.rowcount or 0,
    )
    await _record_and_announce(session, incident, resolved, "resolved", now)
    return incident


async def escalate(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    try:
        lifecycle.transition(incident.state, Action.ESCALATE)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    policy = policy_of(incident)
    if policy is None or not has_steps(policy):
        raise Conflict("this incident has no escalation policy to escalate along")
    following = next_position(policy, Position(incident.escalation_loop, incident.escalation_step))
    if following is None:
        raise Conflict("the incident is already at the last step of its escalation policy")
    now = session_clock(session).now()
    who = await _name(session, principal.user_id)
    _back_to_triggered(incident, now)
    requested = events.EscalateRequested(**_by(Actor.of(principal), who))
    await _record_and_announce(session, incident, requested, "escalated", now)
    await _restart(session, incident, following, now, reason=f"escalated by {who}")
    return incident


async def reassign(
    session: AsyncSession, principal: Principal, incident_id: int, user_id: int, note: str = ""
) -> Incident:
    """Hand the incident to one person: they are paged now and become the assignee."""
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    try:
        lifecycle.transition(incident.state, Action.REASSIGN)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    target = await session.get(User, user_id)
    if target is None:
        raise InvalidInput(f"user {user_id} does not exist", field="body.user_id")
    now = session_clock(session).now()
    who = await _name(session, principal.user_id)
    previous = (
        await session.scalars(
            select(IncidentAssignee).where(IncidentAssignee.incident_id == incident.id)
        )
    ).all()
    handed_from = [a.user_id for a in previous if not a.shadow and a.user_id != user_id]
    for assignee in previous:
        if not assignee.shadow and assignee.user_id != user_id:
            await session.delete(assignee)
    await outbox.cancel_pending(
        session, incident_id=incident.id, now=now, reason=f"handed off to {target.name}"
    )
    _back_to_triggered(incident, now)
    reassigned = events.Reassigned(
        **_by(Actor.of(principal), who),
        from_=tuple(handed_from),
        from_names=tuple([await _name(session, u) for u in handed_from]),
        to=user_id,
        to_name=target.name,
        note=note,
    )
    await _record_and_announce(session, incident, reassigned, "reassigned", now)
    service = await session.get(Service, incident.service_id)
    assert service is not None
    position = Position(incident.escalation_loop, incident.escalation_step)
    paged = await paging.page_users(
        session,
        incident,
        service,
        responders=[user_id],
        shadows=[],
        now=now,
        reason=f"handed off by {who}",
        position=position,
    )
    policy = policy_of(incident)
    if policy is not None and has_steps(policy) and incident.urgency == Urgency.HIGH:
        # If the new owner does not acknowledge either, escalation carries on from here.
        incident.next_escalation_at = now + timedelta(
            minutes=policy.steps[position.step].delay_minutes
        )
    else:
        incident.next_escalation_at = None
    timeline.append(session, incident.id, events.Paged(user_id=user_id, paged=tuple(paged)), at=now)
    return incident


async def add_note(
    session: AsyncSession, principal: Principal, incident_id: int, text: str
) -> Incident:
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    now = session_clock(session).now()
    noted = events.NoteAdded(
        **_by(Actor.of(principal), await _name(session, principal.user_id)), text=text
    )
    await _record_and_announce(session, incident, noted, "note", now)
    return incident


async def set_urgency(
    session: AsyncSession, principal: Principal, incident_id: int, urgency: Urgency
) -> Incident:
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    try:
        lifecycle.transition(incident.state, Action.SET_URGENCY)
    except TransitionRefused as exc:
        raise _refuse(exc) from None
    if incident.urgency == urgency:
        return incident
    now = session_clock(session).now()
    previous = incident.urgency
    incident.urgency = urgency
    incident.updated_at = now
    policy = policy_of(incident)
    if urgency == Urgency.LOW:
        incident.next_escalation_at = None
    elif incident.state is IncidentState.TRIGGERED and policy is not None and has_steps(policy):
        incident.next_escalation_at = now + timedelta(
            minutes=policy.steps[incident.escalation_step].delay_minutes
        )
    changed = events.UrgencyChanged(
        **_by(Actor.of(principal), await _name(session, principal.user_id)),
        urgency=Urgency(urgency).value,
        previous=Urgency(previous).value,
    )
    await _record_and_announce(session, incident, changed, "urgency_changed", now)
    return incident


def _back_to_triggered(incident: Incident, now: datetime) -> None:
    """Someone must acknowledge again: whatever acknowledgement there was no longer holds."""
    incident.state = IncidentState.TRIGGERED
    incident.acknowledged_at = None
    incident.acknowledged_by_id = None
    incident.ack_expires_at = None
    incident.updated_at = now


class _By(TypedDict):
    by_user_id: int | None
    by_name: str
    channel: Channel


def _by(actor: Actor, name: str) -> _By:
    """Who acted and how, as every acted event carries it (events.ActedEvent)."""
    return {"by_user_id": actor.user_id, "by_name": name, "channel": Channel(actor.channel)}


async def _record_and_announce(
    session: AsyncSession, incident: Incident, event: events.ActedEvent, change: str, now: datetime
) -> None:
    """On the timeline, and in the same words to the channels that show the incident."""
    timeline.append(session, incident.id, event, at=now)
    await announce(session, incident, change, render.text(event), event.by_user_id)


async def _name(session: AsyncSession, user_id: int | None) -> str:
    if user_id is None:
        return "Baton"
    user = await session.get(User, user_id)
    return user.name if user is not None else f"user {user_id}"


# ---------------------------------------------------------------------------------- queries


@dataclass(frozen=True)
class IncidentFilter:
    service_id: int | None = None
    states: Sequence[IncidentState] = ()
    urgency: Urgency | None = None
    since: datetime | None = None
    until: datetime | None = None
    assigned_to: int | None = None
    team_id: int | None = None


def filtered(stmt: Select[tuple[Incident]], criteria: IncidentFilter) -> Select[tuple[Incident]]:
    if criteria.service_id is not None:
        stmt = stmt.where(Incident.service_id == criteria.service_id)
    if criteria.states:
        stmt = stmt.where(Incident.state.in_(list(criteria.states)))
    if criteria.urgency is not None:
        stmt = stmt.where(Incident.urgency == criteria.urgency)
    if criteria.since is not None:
        stmt = stmt.where(Incident.created_at >= criteria.since)
    if criteria.until is not None:
        stmt = stmt.where(Incident.created_at < criteria.until)
    if criteria.assigned_to is not None:
        stmt = stmt.where(
            Incident.id.in_(
                select(IncidentAssignee.incident_id).where(
                    IncidentAssignee.user_id == criteria.assigned_to
                )
            )
        )
    if criteria.team_id is not None:
        stmt = stmt.where(
            Incident.service_id.in_(select(Service.id).where(Service.team_id == criteria.team_id))
        )
    return stmt
