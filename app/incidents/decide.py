"""Where escalation and the incident lifecycle are decided: every rule, pure.

``decide(facts, command, on_call, now)`` answers what happens to an incident when a person acts
on it (acknowledge, resolve, escalate, hand off, note, urgency) or the engine's clock reaches it
(a step timed out, an acknowledgement expired, maintenance ended): a list of typed events, or
:class:`Refused`. ``evolve(facts, event, at)`` is what an event does to the incident's state.
``incidents.service.apply`` writes both: the events on the timeline, the state in the columns.

Nothing here reads the database, the clock or settings. What a decision needs from outside comes
in as values: the incident's :class:`Facts`, who each step of its policy reaches now
(:data:`OnCall`, asked of the schedules before deciding), and ``now``.

The rules, in one place:

* A resolved incident takes notes and nothing else.
* Acknowledging stops escalation; acknowledging twice is not news. An acknowledgement with a
  timeout expires: the incident triggers again and escalation restarts from the first step.
* Un-acknowledging restarts escalation at the step the incident stood at; escalating by hand
  moves to the next step (refused at the last one, or with no policy).
* A step that reaches nobody is logged and skipped at once; when no step reaches anyone, or the
  last step's delay passes unacknowledged, escalation is exhausted, once, and the incident stays
  triggered.
* Low urgency pages its step once and never escalates on a timer; raising it to high starts the
  current step's timer.
* Opened in a maintenance window: held, nobody paged, until the window ends; paging somebody by
  name is never held.
* Handing off pages the new owner at once; escalation carries on from the current step if they
  do not acknowledge either.
* Opened in a deploy's watch: the deploy is named first; its deployer is paged as a responder or
  told, as the service says (not while maintenance holds the incident, and not twice when they
  are on call). Responders judge the deploy (caused it or not) at any time, resolved or not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, TypedDict

from app.escalation.policy import (
    FIRST,
    PolicySnapshot,
    Position,
    has_steps,
    next_position,
    step_at,
    total_positions,
)
from app.incidents import events as ev
from app.incidents.events import Channel, EscalationCause, UrgencyName
from app.incidents.lifecycle import IncidentState

__all__ = [
    "AckExpired",
    "Acknowledge",
    "Actor",
    "AddNote",
    "Audience",
    "BringForward",
    "Command",
    "DeployWatch",
    "Escalate",
    "EscalationDue",
    "Facts",
    "JudgeDeploy",
    "MaintenanceOver",
    "NearbyDeploy",
    "OnCall",
    "Open",
    "Reassign",
    "Refused",
    "Resolve",
    "SetUrgency",
    "Unacknowledge",
    "decide",
    "evolve",
    "evolve_all",
    "needs_on_call",
]


# ------------------------------------------------------------------------------------ inputs


CauseVerdictName = Literal["suspected", "confirmed", "rejected"]
# An escalation this many minutes after its step's delay ran out says it came late.
LATE_ENOUGH_TO_SAY = 2


@dataclass(frozen=True, slots=True)
class NearbyDeploy:
    """The deploy an incident opened after, and what responders judged of it."""

    deployment_id: int
    version: str
    deployed_at: datetime
    previous_version: str = ""
    environment: str = ""
    deployer_user_id: int | None = None
    deployer_name: str = ""
    verdict: CauseVerdictName = "suspected"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules look at: an incident's state, without its database row."""

    state: IncidentState
    urgency: UrgencyName
    policy: PolicySnapshot | None
    position: Position = FIRST
    next_escalation_at: datetime | None = None
    exhausted_at: datetime | None = None
    held_for_maintenance: bool = False
    ack_timeout_minutes: int | None = None
    ack_expires_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = None
    resolved_at: datetime | None = None
    resolved_by: int | None = None
    deploy: NearbyDeploy | None = None
    # Kept for the record (the metrics read them off the row): the first acknowledgement, which
    # an un-acknowledge does not undo, and whether escalation ever went past the first step.
    first_acknowledged_at: datetime | None = None
    escalated_past_first_step: bool = False

    @property
    def escalates(self) -> bool:
        return has_steps(self.policy)


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a step reaches right now: people on call (and their shadows), and channels."""

    responders: tuple[int, ...] = ()
    shadows: tuple[int, ...] = ()
    channels: int = 0  # Slack channels and webhooks the step names

    @property
    def empty(self) -> bool:
        return not self.responders and not self.channels


# Who each step of the incident's policy reaches now, by step index (missing: nobody).
OnCall = Mapping[int, Audience]
NOBODY = Audience()


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, by name as they are called now, and how it reached Baton."""

    user_id: int | None
    name: str
    channel: Channel

    def by(self) -> ActedFields:
        """The fields every acted event carries (``events.ActedEvent``)."""
        return {"by_user_id": self.user_id, "by_name": self.name, "channel": self.channel}


class ActedFields(TypedDict):
    by_user_id: int | None
    by_name: str
    channel: Channel


# ---------------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    until: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Open:
    actor: Actor
    service_id: int
    service_name: str
    title: str
    details: str = ""
    maintenance: MaintenanceWindow | None = None
    direct_to: int | None = None  # page this person by name instead of the policy
    deploy: DeployWatch | None = None


@dataclass(frozen=True, slots=True)
class DeployWatch:
    """A deploy of the service whose watch the incident opens in, and who hears of it."""

    deploy: NearbyDeploy
    deployer_notice: Literal["off", "notify", "page"] = "notify"


@dataclass(frozen=True, slots=True)
class Acknowledge:
    actor: Actor


@dataclass(frozen=True, slots=True)
class Unacknowledge:
    actor: Actor


@dataclass(frozen=True, slots=True)
class Resolve:
    actor: Actor  # user_id None: resolved at the source, automatically
    note: str = ""


@dataclass(frozen=True, slots=True)
class Escalate:
    actor: Actor


@dataclass(frozen=True, slots=True)
class Reassign:
    actor: Actor
    to: int
    to_name: str
    handed_from: tuple[int, ...] = ()  # assignees who stop being responsible
    handed_from_names: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True, slots=True)
class AddNote:
    actor: Actor
    text: str


@dataclass(frozen=True, slots=True)
class SetUrgency:
    actor: Actor
    urgency: UrgencyName


@dataclass(frozen=True, slots=True)
class JudgeDeploy:
    """A responder says whether the nearby deploy caused the incident."""

    actor: Actor
    deployment_id: int
    caused: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class EscalationDue:
    """The engine found the step's delay run out."""


@dataclass(frozen=True, slots=True)
class AckExpired:
    """The engine found the acknowledgement past its timeout."""


@dataclass(frozen=True, slots=True)
class MaintenanceOver:
    """The maintenance window that held the incident has closed."""


@dataclass(frozen=True, slots=True)
class BringForward:
    """A page of the current step may not have arrived and nothing else covers the person."""

    notification: ev.NotificationRef


Command = (
    Open
    | Acknowledge
    | Unacknowledge
    | Resolve
    | Escalate
    | Reassign
    | AddNote
    | SetUrgency
    | JudgeDeploy
    | EscalationDue
    | AckExpired
    | MaintenanceOver
    | BringForward
)

_MAY_PAGE = (Open, Unacknowledge, Escalate, EscalationDue, AckExpired, MaintenanceOver)


def needs_on_call(command: Command) -> bool:
    """Whether deciding ``command`` may page a step, so who is on call must be asked first."""
    if isinstance(command, Open):
        return command.maintenance is None and command.direct_to is None
    return isinstance(command, _MAY_PAGE)


class Refused(ValueError):
    """The command is not allowed in the incident's state; ``str()`` says why, for a person."""

    def __init__(self, reason: str, state: IncidentState | None = None) -> None:
        super().__init__(reason)
        self.state = state


# ----------------------------------------------------------------------------------- decide


def decide(facts: Facts, command: Command, on_call: OnCall, now: datetime) -> list[ev.Event]:
    """The events ``command`` causes; :class:`Refused` when it is not allowed now.

    Engine ticks that find nothing to do (the incident changed since it was found due) return
    no events rather than refusing: the tick raced a person, and the person won.
    """
    match command:
        case Open():
            return _open(facts, command, on_call, now)
        case EscalationDue():
            return _escalation_due(facts, on_call, now)
        case AckExpired():
            return _ack_expired(facts, on_call, now)
        case MaintenanceOver():
            return _maintenance_over(facts, on_call, now)
        case BringForward():
            return _bring_forward(facts, command)
        case AddNote():
            return [ev.NoteAdded(**command.actor.by(), text=command.text)]
        case JudgeDeploy():
            return _judge_deploy(facts, command)
    if facts.state is IncidentState.RESOLVED:
        raise Refused(_resolved_refusal(command), facts.state)
    match command:
        case Acknowledge():
            if facts.state is IncidentState.ACKNOWLEDGED:
                return []  # acknowledging twice is not news
            return [ev.Acknowledged(**command.actor.by())]
        case Unacknowledge():
            if facts.state is not IncidentState.ACKNOWLEDGED:
                raise Refused("only an acknowledged incident can be unacknowledged", facts.state)
            said: list[ev.Event] = [ev.Unacknowledged(**command.actor.by())]
            return said + _restart(
                facts,
                facts.position,
                on_call,
                now,
                reason=f"unacknowledged by {command.actor.name}",
                cause=EscalationCause.UNACKNOWLEDGED,
            )
        case Resolve():
            return [
                ev.Resolved(
                    **command.actor.by(),
                    automatic=command.actor.user_id is None,
                    note=command.note,
                )
            ]
        case Escalate():
            return _escalate(facts, command, on_call, now)
        case Reassign():
            return _reassign(facts, command)
        case SetUrgency():
            if facts.urgency == command.urgency:
                return []
            return [
                ev.UrgencyChanged(
                    **command.actor.by(),
                    urgency=command.urgency,
                    previous=facts.urgency,
                )
            ]
    raise TypeError(f"no rule decides {command!r}")  # a command class without a rule


def _resolved_refusal(command: Command) -> str:
    past = {
        Acknowledge: "acknowledged",
        Unacknowledge: "unacknowledged",
        Resolve: "resolved again",
        Escalate: "escalated",
        Reassign: "reassigned",
        SetUrgency: "changed",
    }[type(command)]
    return f"the incident is resolved; it cannot be {past} any more"


def _open_paging(facts: Facts, command: Open, on_call: OnCall, now: datetime) -> list[ev.Event]:
    opened = ev.Opened(
        **command.actor.by(),
        service_id=command.service_id,
        service_name=command.service_name,
        title=command.title,
        urgency=facts.urgency,
        details=command.details,
    )
    if command.direct_to is not None:
        return [
            opened,
            ev.Paged(user_id=command.direct_to, reason=f"paged directly by {command.actor.name}"),
        ]
    if command.maintenance is not None:
        held = ev.MaintenanceHold(
            service_name=command.service_name,
            until=command.maintenance.until,
            reason=command.maintenance.reason,
        )
        return [opened, held]
    if not facts.escalates:
        return [opened, ev.NoEscalationPolicy(service_name=command.service_name)]
    return [
        opened,
        *_page_from(
            facts, FIRST, on_call, now, reason="incident opened", cause=EscalationCause.OPENED
        ),
    ]


def _open(facts: Facts, command: Open, on_call: OnCall, now: datetime) -> list[ev.Event]:
    said = _open_paging(facts, command, on_call, now)
    if command.deploy is None:
        return said
    watch, deploy = command.deploy, command.deploy.deploy
    paged = {
        user
        for event in said
        for user in (
            event.responders
            if isinstance(event, ev.Escalated)
            else (event.user_id,)
            if isinstance(event, ev.Paged)
            else ()
        )
    }
    deployer = deploy.deployer_user_id
    told: ev.DeployerTold
    if watch.deployer_notice == "off" or deployer is None:
        told = "off"
    elif command.maintenance is not None and command.direct_to is None:
        told = "held"
    elif deployer in paged:
        told = "responder"
    else:
        told = watch.deployer_notice
    minutes = _minutes(deploy.deployed_at, now)
    nearby = ev.DeployNearby(
        deployment_id=deploy.deployment_id,
        version=deploy.version,
        previous_version=deploy.previous_version,
        environment=deploy.environment,
        deployer_user_id=deployer,
        deployer_name=deploy.deployer_name,
        deployed_at=deploy.deployed_at,
        minutes_before=minutes,
        deployer_told=told,
    )
    # The deploy comes right after the opening, so every page already knows of it.
    happened = [said[0], nearby, *said[1:]]
    if told == "page" and deployer is not None:
        happened.append(
            ev.Paged(user_id=deployer, reason=f"deployed {deploy.version} {minutes} min before")
        )
    return happened


def _minutes(earlier: datetime, later: datetime) -> int:
    return max(0, int((later - earlier).total_seconds() // 60))


def _judge_deploy(facts: Facts, command: JudgeDeploy) -> list[ev.Event]:
    deploy = facts.deploy
    if deploy is None or deploy.deployment_id != command.deployment_id:
        raise Refused(f"deploy {command.deployment_id} is not the deploy this incident followed")
    verdict: CauseVerdictName = "confirmed" if command.caused else "rejected"
    if deploy.verdict == verdict:
        return []  # judging the same way twice is not news
    kind = ev.DeployConfirmed if command.caused else ev.DeployRejected
    return [
        kind(
            **command.actor.by(),
            deployment_id=deploy.deployment_id,
            version=deploy.version,
            note=command.note,
        )
    ]


def _escalation_due(facts: Facts, on_call: OnCall, now: datetime) -> list[ev.Event]:
    if (
        facts.state is not IncidentState.TRIGGERED
        or facts.held_for_maintenance
        or facts.next_escalation_at is None
        or facts.next_escalation_at > now
    ):
        return []
    if facts.policy is None or not facts.escalates:
        return [ev.EscalationExhausted(because=ev.ExhaustedBecause.NO_STEPS)]
    waited = step_at(facts.policy, facts.position).delay_minutes
    following = next_position(facts.policy, facts.position)
    if following is None:
        return [
            ev.EscalationExhausted(
                because=ev.ExhaustedBecause.UNACKNOWLEDGED, waited_minutes=waited
            )
        ]
    reason = f"no acknowledgement after {waited} min"
    # The engine may have been down or behind: the timeline says so rather than pretend.
    late = int((now - facts.next_escalation_at).total_seconds() // 60)
    if late >= LATE_ENOUGH_TO_SAY:
        reason += f" (escalated {late} min late)"
    return _page_from(
        facts,
        following,
        on_call,
        now,
        reason=reason,
        cause=EscalationCause.TIMED_OUT,
        waited_minutes=waited,
    )


def _ack_expired(facts: Facts, on_call: OnCall, now: datetime) -> list[ev.Event]:
    if (
        facts.state is not IncidentState.ACKNOWLEDGED
        or facts.ack_expires_at is None
        or facts.ack_expires_at > now
    ):
        return []
    timed_out: list[ev.Event] = [ev.AckTimeout(minutes=facts.ack_timeout_minutes or 0)]
    return timed_out + _restart(
        facts,
        FIRST,
        on_call,
        now,
        reason="acknowledgement timed out",
        cause=EscalationCause.ACK_EXPIRED,
    )


def _maintenance_over(facts: Facts, on_call: OnCall, now: datetime) -> list[ev.Event]:
    if not facts.held_for_maintenance or facts.state is IncidentState.RESOLVED:
        return []
    ended: list[ev.Event] = [ev.MaintenanceEnded()]
    if facts.state is not IncidentState.TRIGGERED:
        return ended  # acknowledged while held: whoever has it keeps it
    return ended + _restart(
        facts,
        FIRST,
        on_call,
        now,
        reason="maintenance ended",
        cause=EscalationCause.MAINTENANCE_ENDED,
    )


def _escalate(facts: Facts, command: Escalate, on_call: OnCall, now: datetime) -> list[ev.Event]:
    if facts.policy is None or not facts.escalates:
        raise Refused("this incident has no escalation policy to escalate along")
    following = next_position(facts.policy, facts.position)
    if following is None:
        raise Refused("the incident is already at the last step of its escalation policy")
    requested: list[ev.Event] = [ev.EscalateRequested(**command.actor.by())]
    return requested + _page_from(
        facts,
        following,
        on_call,
        now,
        reason=f"escalated by {command.actor.name}",
        cause=EscalationCause.REQUESTED,
    )


def _reassign(facts: Facts, command: Reassign) -> list[ev.Event]:
    reassigned = ev.Reassigned(
        **command.actor.by(),
        from_=command.handed_from,
        from_names=command.handed_from_names,
        to=command.to,
        to_name=command.to_name,
        note=command.note,
    )
    paged = ev.Paged(
        user_id=command.to,
        reason=f"handed off by {command.actor.name}",
        step=facts.position.step,
        loop=facts.position.loop,
    )
    return [reassigned, paged]


def _bring_forward(facts: Facts, command: BringForward) -> list[ev.Event]:
    if (
        facts.state is not IncidentState.TRIGGERED
        or facts.held_for_maintenance
        or facts.urgency != "high"
        or facts.next_escalation_at is None
        or facts.policy is None
        or not facts.escalates
        or next_position(facts.policy, facts.position) is None
    ):
        return []
    return [ev.EscalationBroughtForward(notification=command.notification)]


def _restart(
    facts: Facts,
    start: Position,
    on_call: OnCall,
    now: datetime,
    *,
    reason: str,
    cause: EscalationCause,
) -> list[ev.Event]:
    """Escalation runs again from ``start`` (nothing to run without a policy)."""
    if not facts.escalates:
        return []
    return _page_from(facts, start, on_call, now, reason=reason, cause=cause)


def _page_from(
    facts: Facts,
    start: Position,
    on_call: OnCall,
    now: datetime,
    *,
    reason: str,
    cause: EscalationCause,
    waited_minutes: int | None = None,
) -> list[ev.Event]:
    """Page the first step at or after ``start`` that reaches anyone; log the empty ones."""
    policy = facts.policy
    assert policy is not None  # callers check facts.escalates
    where = _where(policy)
    skipped: list[ev.Event] = []
    position: Position | None = start
    for _ in range(total_positions(policy)):
        if position is None:
            break
        audience = on_call.get(position.step, NOBODY)
        if audience.empty:
            skipped.append(ev.StepEmpty(step=position.step, loop=position.loop, **where))
            position = next_position(policy, position)
            continue
        delay = timedelta(minutes=step_at(policy, position).delay_minutes)
        high = facts.urgency == "high"
        # Even after the last step the timer runs once more, so the timeline can say that
        # nobody acknowledged before the ladder ran out. Low urgency never escalates.
        escalated = ev.Escalated(
            step=position.step,
            loop=position.loop,
            **where,
            reason=reason,
            responders=audience.responders,
            shadows=audience.shadows,
            low_urgency=not high,
            next_escalation_at=now + delay if high else None,
            last_step=next_position(policy, position) is None,
            cause=cause,
            waited_minutes=waited_minutes,
        )
        return [*skipped, escalated]
    return [*skipped, ev.EscalationExhausted(because=ev.ExhaustedBecause.ALL_STEPS_EMPTY)]


class _Size(TypedDict):
    steps: int
    passes: int


def _where(policy: PolicySnapshot) -> _Size:
    """The policy's size, as every step event carries it (``events.StepEvent``)."""
    return {"steps": len(policy.steps), "passes": policy.repeat + 1}


# ----------------------------------------------------------------------------------- evolve


def evolve(facts: Facts, event: ev.Event, at: datetime) -> Facts:
    """The incident's state after ``event`` happened at ``at``."""
    match event:
        case ev.Escalated():
            return replace(
                facts,
                position=Position(event.loop, event.step),
                next_escalation_at=event.next_escalation_at,
                exhausted_at=None,
                escalated_past_first_step=(
                    facts.escalated_past_first_step or event.step >= 1 or event.loop >= 1
                ),
            )
        case ev.StepEmpty():
            # Passed over: when every step is empty the incident stands at the end of the ladder.
            return replace(facts, position=Position(event.loop, event.step))
        case ev.EscalationExhausted():
            return replace(facts, next_escalation_at=None, exhausted_at=at)
        case ev.MaintenanceHold():
            return replace(facts, held_for_maintenance=True, next_escalation_at=None)
        case ev.MaintenanceEnded():
            return replace(facts, held_for_maintenance=False)
        case ev.Acknowledged():
            expires = (
                at + timedelta(minutes=facts.ack_timeout_minutes)
                if facts.ack_timeout_minutes
                else None
            )
            return replace(
                facts,
                state=IncidentState.ACKNOWLEDGED,
                acknowledged_at=at,
                acknowledged_by=event.by_user_id,
                next_escalation_at=None,
                ack_expires_at=expires,
                first_acknowledged_at=facts.first_acknowledged_at or at,
            )
        case ev.AckTimeout():
            # Who acknowledged first stays on record: the time to acknowledge was theirs.
            return replace(facts, state=IncidentState.TRIGGERED, ack_expires_at=None)
        case ev.Unacknowledged() | ev.EscalateRequested():
            return _back_to_triggered(facts)
        case ev.Reassigned():
            after = _back_to_triggered(facts)
            # If the new owner does not acknowledge either, escalation carries on from here.
            keeps_escalating = (
                facts.policy is not None and facts.escalates and facts.urgency == "high"
            )
            return replace(
                after,
                next_escalation_at=(
                    at + timedelta(minutes=step_at(facts.policy, facts.position).delay_minutes)
                    if keeps_escalating and facts.policy is not None
                    else None
                ),
            )
        case ev.Resolved():
            return replace(
                facts,
                state=IncidentState.RESOLVED,
                resolved_at=at,
                resolved_by=event.by_user_id,
                next_escalation_at=None,
                ack_expires_at=None,
            )
        case ev.UrgencyChanged():
            changed = replace(facts, urgency=event.urgency)
            if event.urgency != "high":
                return replace(changed, next_escalation_at=None)
            restarts_timer = (
                facts.state is IncidentState.TRIGGERED
                and facts.escalates
                and facts.exhausted_at is None
                and not facts.held_for_maintenance
                and facts.policy is not None
            )
            if restarts_timer and facts.policy is not None:
                delay = step_at(facts.policy, facts.position).delay_minutes
                return replace(changed, next_escalation_at=at + timedelta(minutes=delay))
            return changed
        case ev.EscalationBroughtForward():
            if facts.next_escalation_at is None:
                return facts
            return replace(facts, next_escalation_at=min(facts.next_escalation_at, at))
        case ev.DeployNearby():
            return replace(
                facts,
                deploy=NearbyDeploy(
                    deployment_id=event.deployment_id,
                    version=event.version,
                    deployed_at=event.deployed_at,
                    previous_version=event.previous_version,
                    environment=event.environment,
                    deployer_user_id=event.deployer_user_id,
                    deployer_name=event.deployer_name,
                ),
            )
        case ev.DeployConfirmed() | ev.DeployRejected() if facts.deploy is not None:
            verdict: CauseVerdictName = (
                "confirmed" if isinstance(event, ev.DeployConfirmed) else "rejected"
            )
            return replace(facts, deploy=replace(facts.deploy, verdict=verdict))
    return facts


def evolve_all(facts: Facts, happened: Sequence[ev.Event], at: datetime) -> Facts:
    for event in happened:
        facts = evolve(facts, event, at)
    return facts


def _back_to_triggered(facts: Facts) -> Facts:
    """Someone must acknowledge again: whatever acknowledgement there was no longer holds."""
    return replace(
        facts,
        state=IncidentState.TRIGGERED,
        acknowledged_at=None,
        acknowledged_by=None,
        ack_expires_at=None,
    )
