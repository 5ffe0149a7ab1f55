"""Incident commands and engine ticks. Each runs inside the caller's transaction and has one
shape: load and lock the incident (so the engine, the API and inbound replies serialize on its
row), authorize, ``decide`` (``decide.py``: every rule), ``apply`` (columns, pages, subscribers,
timeline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Select, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.hooks import Hook
from app.escalation import service as escalation
from app.escalation.policy import PolicySnapshot, Position
from app.incidents import decide, events, paging, subscribers, timeline
from app.incidents.events import Channel
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident, IncidentAssignee, Page
from app.people.models import Urgency, User


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something and how it reached us; ``user_id`` is None for the system."""

    user_id: int | None
    channel: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.user_id, principal.channel)


class NearbyDeployLookup(Protocol):
    async def __call__(
        self, session: AsyncSession, service: Service, at: datetime
    ) -> decide.DeployWatch | None: ...


# Which deploy of the service a new incident opened after (installed from app.deploys).
NEARBY_DEPLOY: Hook[NearbyDeployLookup] = Hook("the deploy a new incident follows")

SYSTEM = Actor(None, Channel.SYSTEM)
SOURCE = Actor(None, Channel.INTEGRATION)
# Whether escalation can come forward does not depend on the time: any instant will do.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


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


# ------------------------------------------------------------------------------ apply events


def facts_of(incident: Incident) -> decide.Facts:
    """What the rules look at, read off the incident's row."""
    return decide.Facts(
        state=IncidentState(incident.state),
        urgency=Urgency(incident.urgency).value,
        policy=policy_of(incident),
        position=Position(incident.escalation_loop, incident.escalation_step),
        next_escalation_at=incident.next_escalation_at,
        exhausted_at=incident.escalation_exhausted_at,
        held_for_maintenance=incident.held_for_maintenance,
        ack_timeout_minutes=incident.ack_timeout_minutes,
        ack_expires_at=incident.ack_expires_at,
        acknowledged_at=incident.acknowledged_at,
        acknowledged_by=incident.acknowledged_by_id,
        resolved_at=incident.resolved_at,
        resolved_by=incident.resolved_by_id,
        deploy=_deploy_from_json(incident.nearby_deploy),
        first_acknowledged_at=incident.first_acknowledged_at,
        escalated_past_first_step=bool(incident.escalated_past_first_step),
    )


def _deploy_from_json(data: dict[str, Any] | None) -> decide.NearbyDeploy | None:
    if not data:
        return None
    deployed_at = datetime.fromisoformat(data["deployed_at"])
    return decide.NearbyDeploy(**{**data, "deployed_at": deployed_at})


def _deploy_to_json(deploy: decide.NearbyDeploy | None) -> dict[str, Any] | None:
    if deploy is None:
        return None
    return {**asdict(deploy), "deployed_at": deploy.deployed_at.isoformat()}


def _write_facts(incident: Incident, facts: decide.Facts) -> None:
    incident.state = facts.state
    incident.urgency = Urgency(facts.urgency)
    incident.escalation_step = facts.position.step
    incident.escalation_loop = facts.position.loop
    incident.next_escalation_at = facts.next_escalation_at
    incident.escalation_exhausted_at = facts.exhausted_at
    incident.held_for_maintenance = facts.held_for_maintenance
    incident.ack_expires_at = facts.ack_expires_at
    incident.acknowledged_at = facts.acknowledged_at
    incident.acknowledged_by_id = facts.acknowledged_by
    incident.resolved_at = facts.resolved_at
    incident.resolved_by_id = facts.resolved_by
    incident.first_acknowledged_at = facts.first_acknowledged_at
    incident.escalated_past_first_step = facts.escalated_past_first_step
    deploy = _deploy_to_json(facts.deploy)
    if deploy != incident.nearby_deploy:  # JSON columns write whenever assigned
        incident.nearby_deploy = deploy


async def apply(
    session: AsyncSession, incident: Incident, happened: Sequence[events.Event], now: datetime
) -> list[events.Event]:
    """Make ``happened`` true: the incident's columns, its pages, the subscribers, the timeline.

    A new incident (no id yet) is inserted here, once, already in the state its first events
    leave it in. Returns the events as recorded (completed by the pages and subscribers).
    """
    if not happened:
        return []
    _evolve(incident, happened, now)
    if incident.id is None:
        session.add(incident)
        await session.flush()
    return await _carry_out(session, incident, happened, now)


def _evolve(incident: Incident, happened: Sequence[events.Event], now: datetime) -> None:
    """The incident's columns as ``happened`` leaves them."""
    before = facts_of(incident)
    after = decide.evolve_all(before, happened, now)
    _write_facts(incident, after)
    if after != before:
        incident.updated_at = now


async def _carry_out(
    session: AsyncSession,
    incident: Incident,
    happened: Sequence[events.Event],
    now: datetime,
    *,
    service: Service | None = None,
    policy: PolicySnapshot | None = None,
) -> list[events.Event]:
    """The pages, the subscribers and the timeline of ``happened`` on an inserted incident.

    ``service`` and ``policy`` save loading and parsing them again when the caller has them (a
    batch of new incidents of one service)."""
    if service is None:
        service = await session.get(Service, incident.service_id)
        assert service is not None  # incidents go when their service does (ON DELETE CASCADE)
    if policy is None:
        policy = policy_of(incident)
    recorded: list[events.Event] = []
    for event in happened:
        applied = await paging.carry_out(session, incident, service, policy, event, now)
        event = await subscribers.deliver(session, applied)
        timeline.append(session, incident.id, event, at=now)
        recorded.append(event)
    return recorded


async def _decide_and_apply(
    session: AsyncSession,
    incident: Incident,
    command: decide.Command,
    now: datetime | None = None,
) -> Incident:
    """The one shape of every command and tick: decide on the facts, then apply."""
    now = now or session_clock(session).now()
    facts = facts_of(incident)
    on_call = (
        await paging.on_call_for(session, facts.policy, now)
        if decide.needs_on_call(command) and facts.escalates
        else {}
    )
    try:
        happened = decide.decide(facts, command, on_call, now)
    except decide.Refused as exc:
        raise _conflict(exc) from None
    await apply(session, incident, happened, now)
    return incident


def _conflict(exc: decide.Refused) -> Conflict:
    if exc.state is None:
        return Conflict(str(exc))
    return Conflict(str(exc), state=exc.state.value)


async def _actor(session: AsyncSession, actor: Actor) -> decide.Actor:
    return decide.Actor(actor.user_id, await _name(session, actor.user_id), Channel(actor.channel))


async def _acting(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    """Load and lock the incident, and check that ``principal`` may act on it."""
    incident = await lock_incident(session, incident_id)
    await require_can_act(session, principal, incident)
    return incident


# ------------------------------------------------------------------------------------ opening


@dataclass(frozen=True, slots=True)
class Opening:
    """One incident to open: what it is called and how urgent it is."""

    title: str
    urgency: Urgency
    group_key: str | None = None
    details: str = ""
    alert_count: int = 0


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
    opening = Opening(title, urgency, group_key, details, alert_count)
    (incident,) = await open_incidents(
        session, service, [opening], actor=actor, now=now, direct_to=direct_to
    )
    return incident


async def open_incidents(
    session: AsyncSession,
    service: Service,
    openings: Sequence[Opening],
    *,
    actor: Actor,
    now: datetime,
    direct_to: User | None = None,
    policy: PolicySnapshot | None = None,
) -> list[Incident]:
    """Open several incidents of one service at ``now`` as one: what they share (the policy,
    a maintenance window, the deploy they follow, who is on call) is read once, and their rows
    go in with one statement per table. An alert storm opens dozens of incidents at once, and
    that is when the first page must not wait for a statement per row. ``policy`` is the
    service's policy as the caller holds it cached (the gateway); read here when absent."""
    if not openings:
        return []
    policy_id = service.escalation_policy_id if direct_to is None else None
    if policy_id is None:
        snapshot = None
    elif policy is not None and policy.policy_id == policy_id:
        snapshot = policy
    else:
        snapshot = await escalation.load_snapshot(session, policy_id)
    window = None if direct_to else await catalog.active_window(session, service.id, now)
    by = await _actor(session, actor)
    deploy = await NEARBY_DEPLOY.call(session, service, now)
    on_call: decide.OnCall | None = None
    opened: list[tuple[Incident, list[events.Event]]] = []
    for opening in openings:
        incident = Incident(
            service_id=service.id,
            title=opening.title,
            state=IncidentState.TRIGGERED,
            urgency=opening.urgency,
            group_key=opening.group_key,
            created_at=now,
            updated_at=now,
            policy_snapshot=snapshot.to_json() if snapshot else None,
            ack_timeout_minutes=service.ack_timeout_minutes,
            held_for_maintenance=False,
            alert_count=opening.alert_count,
            last_alert_at=now if opening.alert_count else None,
            escalation_step=0,
            escalation_loop=0,
            escalated_past_first_step=False,
        )
        command = decide.Open(
            actor=by,
            service_id=service.id,
            service_name=service.name,
            title=opening.title,
            details=opening.details,
            maintenance=(
                decide.MaintenanceWindow(window.ends_at, window.reason or "") if window else None
            ),
            direct_to=direct_to.id if direct_to is not None else None,
            deploy=deploy,
        )
        facts = facts_of(incident)
        asks = decide.needs_on_call(command) and facts.escalates
        if asks and on_call is None:
            on_call = await paging.on_call_for(session, facts.policy, now)
        try:
            happened = decide.decide(facts, command, (on_call or {}) if asks else {}, now)
        except decide.Refused as exc:
            raise _conflict(exc) from None
        _evolve(incident, happened, now)
        opened.append((incident, happened))
    # One flush: the ORM inserts the incidents in one statement and returns their ids.
    session.add_all([incident for incident, _ in opened])
    await session.flush()
    # Held here for the whole batch: the session keeps only weak references, and a service
    # loaded per incident would be read again (and flush the batch) for each of them. A copy
    # cached outside the session (the gateway's) joins it without a read: it is clean.
    attached = service if service in session else await session.merge(service, load=False)
    async with paging.paging_together(session), timeline.appended_together(session):
        for incident, happened in opened:
            await _carry_out(session, incident, happened, now, service=attached, policy=snapshot)
    return [incident for incident, _ in opened]


# ----------------------------------------------------------------------------------- engine


async def escalate_due(session: AsyncSession, incident: Incident, now: datetime) -> None:
    """The escalation timer fired on a triggered incident nobody acknowledged."""
    await _decide_and_apply(session, incident, decide.EscalationDue(), now)


async def retrigger_after_ack_timeout(
    session: AsyncSession, incident: Incident, now: datetime
) -> None:
    await _decide_and_apply(session, incident, decide.AckExpired(), now)


async def release_from_maintenance(
    session: AsyncSession, incident: Incident, now: datetime
) -> None:
    await _decide_and_apply(session, incident, decide.MaintenanceOver(), now)


def escalation_can_come_forward(incident: Incident, notification: events.NotificationRef) -> bool:
    """Whether a next step would follow now if a page of this step may not have arrived."""
    return bool(decide.decide(facts_of(incident), decide.BringForward(notification), {}, _EPOCH))


async def bring_escalation_forward(
    session: AsyncSession,
    incident: Incident,
    notification: events.NotificationRef,
    now: datetime,
) -> None:
    """Escalate now rather than when the step's delay runs out: ``notification`` (a page of
    this step) may not have arrived, and nothing else would reach the person."""
    await _decide_and_apply(session, incident, decide.BringForward(notification), now)


# ---------------------------------------------------------------------------------- actions


async def acknowledge(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    incident = await _acting(session, principal, incident_id)
    return await acknowledge_locked(session, incident, Actor.of(principal))


async def acknowledge_locked(session: AsyncSession, incident: Incident, actor: Actor) -> Incident:
    command = decide.Acknowledge(await _actor(session, actor))
    return await _decide_and_apply(session, incident, command)


async def unacknowledge(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    incident = await _acting(session, principal, incident_id)
    command = decide.Unacknowledge(await _actor(session, Actor.of(principal)))
    return await _decide_and_apply(session, incident, command)


async def resolve(
    session: AsyncSession, principal: Principal, incident_id: int, note: str = ""
) -> Incident:
    incident = await _acting(session, principal, incident_id)
    return await resolve_locked(session, incident, Actor.of(principal), note=note)


async def resolve_locked(
    session: AsyncSession, incident: Incident, actor: Actor, *, note: str = ""
) -> Incident:
    command = decide.Resolve(await _actor(session, actor), note=note)
    return await _decide_and_apply(session, incident, command)


async def escalate(session: AsyncSession, principal: Principal, incident_id: int) -> Incident:
    incident = await _acting(session, principal, incident_id)
    command = decide.Escalate(await _actor(session, Actor.of(principal)))
    return await _decide_and_apply(session, incident, command)


async def reassign(
    session: AsyncSession, principal: Principal, incident_id: int, user_id: int, note: str = ""
) -> Incident:
    """Hand the incident to one person: they are paged now and become the assignee."""
    incident = await _acting(session, principal, incident_id)
    target = await session.get(User, user_id)
    if target is None:
        raise InvalidInput(f"user {user_id} does not exist", field="body.user_id")
    responsible = await session.scalars(
        select(IncidentAssignee.user_id).where(
            IncidentAssignee.incident_id == incident.id,
            IncidentAssignee.shadow.is_(False),
            IncidentAssignee.user_id != user_id,
        )
    )
    handed_from = tuple(responsible)
    command = decide.Reassign(
        await _actor(session, Actor.of(principal)),
        to=user_id,
        to_name=target.name,
        handed_from=handed_from,
        handed_from_names=tuple([await _name(session, u) for u in handed_from]),
        note=note,
    )
    return await _decide_and_apply(session, incident, command)


async def add_note(
    session: AsyncSession, principal: Principal, incident_id: int, text: str
) -> Incident:
    incident = await _acting(session, principal, incident_id)
    command = decide.AddNote(await _actor(session, Actor.of(principal)), text=text)
    return await _decide_and_apply(session, incident, command)


async def judge_deploy(
    session: AsyncSession,
    principal: Principal,
    incident_id: int,
    deployment_id: int,
    *,
    caused: bool,
    note: str = "",
) -> Incident:
    """A responder says whether the deploy the incident followed caused it."""
    incident = await _acting(session, principal, incident_id)
    command = decide.JudgeDeploy(
        await _actor(session, Actor.of(principal)),
        deployment_id=deployment_id,
        caused=caused,
        note=note,
    )
    return await _decide_and_apply(session, incident, command)


async def set_urgency(
    session: AsyncSession, principal: Principal, incident_id: int, urgency: Urgency
) -> Incident:
    incident = await _acting(session, principal, incident_id)
    command = decide.SetUrgency(
        await _actor(session, Actor.of(principal)), urgency=Urgency(urgency).value
    )
    return await _decide_and_apply(session, incident, command)


async def _name(session: AsyncSession, user_id: int | None) -> str:
    if user_id is None:
        return "Baton"
    user = await session.get(User, user_id)
    return user.name if user is not None else f"user {user_id}"


# ---------------------------------------------------------------------------------- queries


async def assignees_of(
    session: AsyncSession, incident_ids: Sequence[int]
) -> dict[int, list[tuple[IncidentAssignee, User]]]:
    """Who is responsible for (and who shadows) each of ``incident_ids``, in the order they were
    assigned, with their users: one query for a whole list of incidents."""
    found: dict[int, list[tuple[IncidentAssignee, User]]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return found
    rows = await session.execute(
        select(IncidentAssignee, User)
        .join(User, User.id == IncidentAssignee.user_id)
        .where(IncidentAssignee.incident_id.in_(list(incident_ids)))
        .order_by(IncidentAssignee.id)
    )
    for assignee, user in rows:
        found[assignee.incident_id].append((assignee, user))
    return found


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
