"""Every rule of escalation and the incident lifecycle, decided without a database.

One table row per rule: the incident's facts, a command or tick, who is on call, and the events
that must come out (or the refusal). Then properties over random histories: acknowledged
incidents do not escalate on their own, steps are reached in order, a ladder runs out once,
and a resolved incident only takes notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.escalation.policy import FIRST, PolicySnapshot, Position, StepSnapshot, TargetSnapshot
from app.incidents import decide
from app.incidents import events as ev
from app.incidents.decide import Audience, Facts, Refused
from app.incidents.events import Channel, EscalationCause
from app.incidents.lifecycle import IncidentState

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
ALICE = decide.Actor(1, "Alice", Channel.SLACK)
BOB = decide.Actor(2, "Bob", Channel.SMS)
SOURCE = decide.Actor(None, "Baton", Channel.INTEGRATION)


def policy(*delays: int, repeat: int = 0) -> PolicySnapshot:
    return PolicySnapshot(
        policy_id=1,
        name="payments",
        repeat=repeat,
        steps=tuple(
            StepSnapshot(delay_minutes=d, targets=(TargetSnapshot(kind="schedule", schedule_id=i),))
            for i, d in enumerate(delays)
        ),
    )


TWO_STEPS = policy(5, 10)
EVERYONE = {0: Audience(responders=(1,), shadows=(3,)), 1: Audience(responders=(2,))}


def triggered(**changes: object) -> Facts:
    """Step 1 of a two-step policy paged at NOW - 5 min; its timer runs out at NOW."""
    base = Facts(
        state=IncidentState.TRIGGERED,
        urgency="high",
        policy=TWO_STEPS,
        position=FIRST,
        next_escalation_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def acknowledged(**changes: object) -> Facts:
    facts = triggered(
        state=IncidentState.ACKNOWLEDGED,
        next_escalation_at=None,
        acknowledged_at=NOW - timedelta(minutes=1),
        acknowledged_by=1,
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def resolved() -> Facts:
    return triggered(state=IncidentState.RESOLVED, next_escalation_at=None, resolved_at=NOW)


def escalated(step: int, loop: int = 0, **fields: object) -> ev.Escalated:
    """The event a step of TWO_STEPS (with EVERYONE on call) pages with, high urgency."""
    who = EVERYONE[step]
    delay = TWO_STEPS.steps[step].delay_minutes
    base = ev.Escalated(
        step=step,
        loop=loop,
        steps=2,
        passes=1,
        reason="",
        responders=who.responders,
        shadows=who.shadows,
        next_escalation_at=NOW + timedelta(minutes=delay),
        last_step=step == 1,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


OPEN = decide.Open(actor=SOURCE, service_id=7, service_name="payments-api", title="5xx")
OPENED = ev.Opened(
    by_user_id=None,
    by_name="Baton",
    channel=Channel.INTEGRATION,
    service_id=7,
    service_name="payments-api",
    title="5xx",
    urgency="high",
)
NEW = Facts(state=IncidentState.TRIGGERED, urgency="high", policy=TWO_STEPS)


@dataclass(frozen=True)
class Rule:
    name: str
    facts: Facts
    command: decide.Command
    expected: list[ev.Event]
    on_call: dict[int, Audience] | None = None


RULES = [
    # ------------------------------------------------------------------ opening
    Rule(
        "opening pages the first step",
        NEW,
        OPEN,
        [OPENED, escalated(0, reason="incident opened", cause=EscalationCause.OPENED)],
    ),
    Rule(
        "opening skips a step nobody is on call for",
        NEW,
        OPEN,
        [
            OPENED,
            ev.StepEmpty(step=0, loop=0, steps=2, passes=1),
            escalated(1, reason="incident opened", cause=EscalationCause.OPENED),
        ],
        on_call={1: EVERYONE[1]},
    ),
    Rule(
        "opening with every step empty exhausts the policy at once",
        replace(NEW, policy=policy(5, 10, repeat=1)),
        OPEN,
        [
            OPENED,
            ev.StepEmpty(step=0, loop=0, steps=2, passes=2),
            ev.StepEmpty(step=1, loop=0, steps=2, passes=2),
            ev.StepEmpty(step=0, loop=1, steps=2, passes=2),
            ev.StepEmpty(step=1, loop=1, steps=2, passes=2),
            ev.EscalationExhausted(because=ev.ExhaustedBecause.ALL_STEPS_EMPTY),
        ],
        on_call={},
    ),
    Rule(
        "a step naming only a channel is not empty",
        NEW,
        OPEN,
        [
            OPENED,
            escalated(
                0, responders=(), shadows=(), reason="incident opened", cause=EscalationCause.OPENED
            ),
        ],
        on_call={0: Audience(channels=1)},
    ),
    Rule(
        "low urgency pages its step once and sets no timer",
        replace(NEW, urgency="low"),
        OPEN,
        [
            replace(OPENED, urgency="low"),
            escalated(
                0,
                reason="incident opened",
                cause=EscalationCause.OPENED,
                low_urgency=True,
                next_escalation_at=None,
            ),
        ],
    ),
    Rule(
        "opened during maintenance: held, nobody paged",
        NEW,
        replace(OPEN, maintenance=decide.MaintenanceWindow(NOW + timedelta(hours=1), "upgrade")),
        [
            OPENED,
            ev.MaintenanceHold(
                service_name="payments-api", until=NOW + timedelta(hours=1), reason="upgrade"
            ),
        ],
    ),
    Rule(
        "paging someone by name is never held by maintenance",
        replace(NEW, policy=None),
        replace(
            OPEN,
            direct_to=2,
            actor=ALICE,
            maintenance=decide.MaintenanceWindow(NOW + timedelta(hours=1)),
        ),
        [
            replace(OPENED, by_user_id=1, by_name="Alice", channel=Channel.SLACK),
            ev.Paged(user_id=2, reason="paged directly by Alice"),
        ],
    ),
    Rule(
        "a service without steps opens without paging",
        replace(NEW, policy=policy()),
        OPEN,
        [OPENED, ev.NoEscalationPolicy(service_name="payments-api")],
    ),
    # ------------------------------------------------------------------- the timer
    Rule(
        "a timed-out step pages the next",
        triggered(),
        decide.EscalationDue(),
        [
            escalated(
                1,
                reason="no acknowledgement after 5 min",
                cause=EscalationCause.TIMED_OUT,
                waited_minutes=5,
            )
        ],
    ),
    Rule(
        "the timer running out on the last step exhausts the policy",
        triggered(position=Position(0, 1)),
        decide.EscalationDue(),
        [ev.EscalationExhausted(because=ev.ExhaustedBecause.UNACKNOWLEDGED, waited_minutes=10)],
    ),
    Rule(
        "a repeated policy starts its next pass",
        triggered(policy=policy(5, 10, repeat=1), position=Position(0, 1)),
        decide.EscalationDue(),
        [
            replace(
                escalated(
                    0,
                    loop=1,
                    reason="no acknowledgement after 10 min",
                    cause=EscalationCause.TIMED_OUT,
                    waited_minutes=10,
                ),
                passes=2,
            )
        ],
    ),
    Rule(
        "a timer not yet due does nothing",
        triggered(next_escalation_at=NOW + timedelta(seconds=1)),
        decide.EscalationDue(),
        [],
    ),
    Rule(
        "the timer does nothing to an acknowledged incident",
        acknowledged(next_escalation_at=NOW),
        decide.EscalationDue(),
        [],
    ),
    Rule(
        "the timer does nothing while held",
        triggered(held_for_maintenance=True),
        decide.EscalationDue(),
        [],
    ),
    Rule(
        "the timer does nothing to a resolved incident",
        replace(resolved(), next_escalation_at=NOW),
        decide.EscalationDue(),
        [],
    ),
    Rule(
        "a timer on a policy without steps ends the escalation",
        triggered(policy=None),
        decide.EscalationDue(),
        [ev.EscalationExhausted(because=ev.ExhaustedBecause.NO_STEPS)],
    ),
    # ------------------------------------------------------------- acknowledging
    Rule(
        "acknowledging a triggered incident",
        triggered(),
        decide.Acknowledge(ALICE),
        [ev.Acknowledged(by_user_id=1, by_name="Alice", channel=Channel.SLACK)],
    ),
    Rule("acknowledging twice is not news", acknowledged(), decide.Acknowledge(BOB), []),
    Rule(
        "an expired acknowledgement re-triggers and restarts from the first step",
        acknowledged(position=Position(0, 1), ack_timeout_minutes=30, ack_expires_at=NOW),
        decide.AckExpired(),
        [
            ev.AckTimeout(minutes=30),
            escalated(0, reason="acknowledgement timed out", cause=EscalationCause.ACK_EXPIRED),
        ],
    ),
    Rule(
        "an acknowledgement not yet expired stands",
        acknowledged(ack_timeout_minutes=30, ack_expires_at=NOW + timedelta(minutes=1)),
        decide.AckExpired(),
        [],
    ),
    Rule(
        "un-acknowledging restarts at the step the incident stood at",
        acknowledged(position=Position(0, 1)),
        decide.Unacknowledge(BOB),
        [
            ev.Unacknowledged(by_user_id=2, by_name="Bob", channel=Channel.SMS),
            escalated(1, reason="unacknowledged by Bob", cause=EscalationCause.UNACKNOWLEDGED),
        ],
    ),
    # --------------------------------------------------------------- escalating
    Rule(
        "escalating by hand pages the next step",
        acknowledged(),
        decide.Escalate(ALICE),
        [
            ev.EscalateRequested(by_user_id=1, by_name="Alice", channel=Channel.SLACK),
            escalated(1, reason="escalated by Alice", cause=EscalationCause.REQUESTED),
        ],
    ),
    # ----------------------------------------------------------------- handing off
    Rule(
        "handing off pages the new owner at the current step",
        triggered(position=Position(0, 1)),
        decide.Reassign(ALICE, to=2, to_name="Bob", handed_from=(1,), handed_from_names=("Alice",)),
        [
            ev.Reassigned(
                by_user_id=1,
                by_name="Alice",
                channel=Channel.SLACK,
                from_=(1,),
                from_names=("Alice",),
                to=2,
                to_name="Bob",
            ),
            ev.Paged(user_id=2, reason="handed off by Alice", step=1, loop=0),
        ],
    ),
    # --------------------------------------------------------------- the rest
    Rule(
        "resolving by a person",
        acknowledged(),
        decide.Resolve(ALICE, note="rolled back"),
        [
            ev.Resolved(
                by_user_id=1,
                by_name="Alice",
                channel=Channel.SLACK,
                automatic=False,
                note="rolled back",
            )
        ],
    ),
    Rule(
        "resolving at the source is automatic",
        triggered(),
        decide.Resolve(SOURCE),
        [
            ev.Resolved(
                by_user_id=None, by_name="Baton", channel=Channel.INTEGRATION, automatic=True
            )
        ],
    ),
    Rule(
        "a resolved incident still takes notes",
        resolved(),
        decide.AddNote(ALICE, "root cause: expired cert"),
        [
            ev.NoteAdded(
                by_user_id=1,
                by_name="Alice",
                channel=Channel.SLACK,
                text="root cause: expired cert",
            )
        ],
    ),
    Rule(
        "changing the urgency",
        triggered(),
        decide.SetUrgency(ALICE, "low"),
        [
            ev.UrgencyChanged(
                by_user_id=1, by_name="Alice", channel=Channel.SLACK, urgency="low", previous="high"
            )
        ],
    ),
    Rule(
        "setting the urgency it has is not news", triggered(), decide.SetUrgency(ALICE, "high"), []
    ),
    Rule(
        "maintenance ending pages a triggered incident from the first step",
        triggered(held_for_maintenance=True, next_escalation_at=None),
        decide.MaintenanceOver(),
        [
            ev.MaintenanceEnded(),
            escalated(0, reason="maintenance ended", cause=EscalationCause.MAINTENANCE_ENDED),
        ],
    ),
    Rule(
        "maintenance ending leaves an acknowledged incident with its owner",
        acknowledged(held_for_maintenance=True),
        decide.MaintenanceOver(),
        [ev.MaintenanceEnded()],
    ),
    Rule(
        "maintenance ending does nothing to an incident it did not hold",
        triggered(),
        decide.MaintenanceOver(),
        [],
    ),
]

REF = ev.NotificationRef(
    id=9, message_kind="page", contact_type="sms", contact_method_id=4, address="+1 ••• 0100"
)


@pytest.mark.parametrize("rule", RULES, ids=[r.name for r in RULES])
def test_rule(rule: Rule) -> None:
    on_call = EVERYONE if rule.on_call is None else rule.on_call
    assert decide.decide(rule.facts, rule.command, on_call, NOW) == rule.expected


REFUSALS = [
    (
        "acknowledge a resolved incident",
        resolved(),
        decide.Acknowledge(ALICE),
        "cannot be acknowledged",
    ),
    ("resolve twice", resolved(), decide.Resolve(ALICE), "cannot be resolved again"),
    ("escalate a resolved incident", resolved(), decide.Escalate(ALICE), "cannot be escalated"),
    (
        "hand off a resolved incident",
        resolved(),
        decide.Reassign(ALICE, to=2, to_name="Bob"),
        "cannot be reassigned",
    ),
    (
        "change a resolved incident",
        resolved(),
        decide.SetUrgency(ALICE, "low"),
        "cannot be changed",
    ),
    (
        "un-acknowledge a triggered incident",
        triggered(),
        decide.Unacknowledge(ALICE),
        "only an acknowledged",
    ),
    (
        "escalate past the last step",
        triggered(position=Position(0, 1)),
        decide.Escalate(ALICE),
        "last step",
    ),
    (
        "escalate with no policy",
        triggered(policy=None),
        decide.Escalate(ALICE),
        "no escalation policy",
    ),
]


@pytest.mark.parametrize(
    ("facts", "command", "reason"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_refusal(facts: Facts, command: decide.Command, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        decide.decide(facts, command, EVERYONE, NOW)


@pytest.mark.parametrize(
    ("facts", "brought_forward"),
    [
        (triggered(next_escalation_at=NOW + timedelta(minutes=4)), True),
        (triggered(position=Position(0, 1)), False),  # nothing follows the last step
        (triggered(urgency="low", next_escalation_at=None), False),
        (acknowledged(), False),
        (triggered(held_for_maintenance=True), False),
    ],
)
def test_a_page_that_may_not_have_arrived_brings_the_next_step_forward(
    facts: Facts, brought_forward: bool
) -> None:
    happened = decide.decide(facts, decide.BringForward(REF), EVERYONE, NOW)
    assert happened == ([ev.EscalationBroughtForward(notification=REF)] if brought_forward else [])
    if brought_forward:
        assert decide.evolve_all(facts, happened, NOW).next_escalation_at == NOW


# ---------------------------------------------------------------------- what events do


def test_an_acknowledgement_stops_the_timer_and_starts_its_own() -> None:
    facts = triggered(ack_timeout_minutes=30)
    after = decide.evolve(
        facts, ev.Acknowledged(by_user_id=1, by_name="Alice", channel=Channel.API), NOW
    )
    assert after.state is IncidentState.ACKNOWLEDGED
    assert after.next_escalation_at is None
    assert after.ack_expires_at == NOW + timedelta(minutes=30)
    assert (after.acknowledged_at, after.acknowledged_by) == (NOW, 1)


def test_raising_the_urgency_starts_the_current_step_timer_unless_the_ladder_ran_out() -> None:
    raised = ev.UrgencyChanged(
        by_user_id=1, by_name="Alice", channel=Channel.API, urgency="high", previous="low"
    )
    low = triggered(urgency="low", next_escalation_at=None, position=Position(0, 1))
    assert decide.evolve(low, raised, NOW).next_escalation_at == NOW + timedelta(minutes=10)
    ran_out = replace(low, exhausted_at=NOW - timedelta(minutes=1))
    assert decide.evolve(ran_out, raised, NOW).next_escalation_at is None
    lowered = replace(raised, urgency="low", previous="high")
    assert decide.evolve(triggered(), lowered, NOW).next_escalation_at is None


def test_a_hand_off_keeps_escalating_from_the_current_step() -> None:
    handed = ev.Reassigned(
        by_user_id=1,
        by_name="Alice",
        channel=Channel.API,
        from_=(1,),
        from_names=("Alice",),
        to=2,
        to_name="Bob",
    )
    after = decide.evolve(acknowledged(position=Position(0, 1)), handed, NOW)
    assert after.state is IncidentState.TRIGGERED and after.acknowledged_by is None
    assert after.next_escalation_at == NOW + timedelta(minutes=10)
    assert decide.evolve(triggered(urgency="low"), handed, NOW).next_escalation_at is None


# ------------------------------------------------------------------------- properties

COMMANDS = st.sampled_from(
    [
        "tick",
        "tick",
        "tick",
        "acknowledge",
        "unacknowledge",
        "resolve",
        "escalate",
        "reassign",
        "note",
        "low",
        "high",
    ]
)
# Anything after one of these may escalate again: the ladder restarts or a person moved it.
RESTARTS = (
    ev.Unacknowledged,
    ev.AckTimeout,
    ev.EscalateRequested,
    ev.Reassigned,
    ev.MaintenanceEnded,
)


def _command(name: str) -> decide.Command:
    return {
        "acknowledge": decide.Acknowledge(ALICE),
        "unacknowledge": decide.Unacknowledge(ALICE),
        "resolve": decide.Resolve(ALICE),
        "escalate": decide.Escalate(BOB),
        "reassign": decide.Reassign(ALICE, to=2, to_name="Bob"),
        "note": decide.AddNote(ALICE, "looking"),
        "low": decide.SetUrgency(ALICE, "low"),
        "high": decide.SetUrgency(ALICE, "high"),
    }[name]


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Facts, dict[int, Audience], list[str]]:
    steps = draw(st.integers(min_value=1, max_value=4))
    delays = draw(st.lists(st.integers(0, 30), min_size=steps, max_size=steps))
    repeat = draw(st.integers(0, 2))
    staffed = draw(st.lists(st.booleans(), min_size=steps, max_size=steps))
    on_call = {i: Audience(responders=(10 + i,)) for i, yes in enumerate(staffed) if yes}
    facts = Facts(
        state=IncidentState.TRIGGERED,
        urgency=draw(st.sampled_from(["high", "low"])),
        policy=policy(*delays, repeat=repeat),
        ack_timeout_minutes=draw(st.sampled_from([None, 15])),
    )
    return facts, on_call, draw(st.lists(COMMANDS, max_size=40))


def _run(
    facts: Facts, on_call: dict[int, Audience], script: list[str]
) -> list[tuple[Facts, ev.Event]]:
    """Open the incident, then play ``script``: ticks move the clock to the next thing due."""
    now = NOW
    history: list[tuple[Facts, ev.Event]] = []

    def play(command: decide.Command) -> None:
        nonlocal facts
        try:
            happened = decide.decide(facts, command, on_call, now)
        except Refused:
            return
        for event in happened:
            history.append((facts, event))
        facts = decide.evolve_all(facts, happened, now)

    play(OPEN)
    for name in script:
        if name == "tick":
            due = [t for t in (facts.next_escalation_at, facts.ack_expires_at) if t is not None]
            now = max(now, min(due)) if due else now + timedelta(minutes=1)
            play(decide.EscalationDue())
            play(decide.AckExpired())
        else:
            play(_command(name))
    return history


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_an_acknowledged_incident_escalates_only_after_a_restart(world: tuple) -> None:
    acknowledged_since = False
    for facts, event in _run(*world):
        if isinstance(event, ev.Acknowledged):
            acknowledged_since = True
        elif isinstance(event, RESTARTS):
            acknowledged_since = False
        elif isinstance(event, ev.Escalated | ev.StepEmpty | ev.EscalationExhausted):
            assert not acknowledged_since, f"{event.kind} while acknowledged ({facts})"


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_steps_are_reached_in_order(world: tuple) -> None:
    last: Position | None = None
    for _, event in _run(*world):
        if isinstance(event, ev.AckTimeout | ev.MaintenanceEnded):
            last = None  # starts again at the first step
        elif isinstance(event, ev.Unacknowledged):
            last = None  # starts again where it stood
        elif isinstance(event, ev.Escalated | ev.StepEmpty):
            here = Position(event.loop, event.step)
            assert last is None or here > last, f"{here} after {last}"
            last = here


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_a_ladder_runs_out_at_most_once_per_run_and_exactly_once_when_ignored(world: tuple) -> None:
    facts, on_call, script = world
    exhausted = 0
    for _, event in _run(facts, on_call, script):
        if isinstance(event, RESTARTS):
            exhausted = 0
        elif isinstance(event, ev.EscalationExhausted):
            exhausted += 1
            assert exhausted == 1
    ignored = _run(replace(facts, urgency="high"), on_call, ["tick"] * 20)
    assert sum(isinstance(e, ev.EscalationExhausted) for _, e in ignored) == 1


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_a_resolved_incident_only_takes_notes(world: tuple) -> None:
    resolved_yet = False
    for _, event in _run(*world):
        if resolved_yet:
            assert isinstance(event, ev.NoteAdded), f"{event.kind} after resolve"
        resolved_yet = resolved_yet or isinstance(event, ev.Resolved)


def test_the_properties_see_the_histories_they_are_about() -> None:
    """The random histories reach every kind the properties reason about."""
    seen = {
        type(e)
        for script in (
            ["tick"] * 6,
            ["acknowledge", "unacknowledge", "tick", "tick"],
            ["resolve", "note"],
        )
        for _, e in _run(replace(NEW, ack_timeout_minutes=15), EVERYONE, script)
    }
    assert {
        ev.Escalated,
        ev.EscalationExhausted,
        ev.Acknowledged,
        ev.Unacknowledged,
        ev.Resolved,
        ev.NoteAdded,
    } <= seen


@pytest.mark.parametrize(
    ("command", "asks"),
    [
        (OPEN, True),
        (replace(OPEN, maintenance=decide.MaintenanceWindow(NOW)), False),
        (replace(OPEN, direct_to=2), False),
        (decide.EscalationDue(), True),
        (decide.Acknowledge(ALICE), False),
        (decide.Resolve(ALICE), False),
        (decide.AddNote(ALICE, "x"), False),
    ],
)
def test_who_is_on_call_is_asked_only_when_a_step_may_be_paged(
    command: decide.Command, asks: bool
) -> None:
    assert decide.needs_on_call(command) is asks


def test_an_escalation_the_engine_made_late_says_so() -> None:
    on_time = decide.decide(triggered(), decide.EscalationDue(), EVERYONE, NOW)
    late = decide.decide(
        triggered(), decide.EscalationDue(), EVERYONE, NOW + timedelta(minutes=53, seconds=20)
    )
    assert [e.reason for e in on_time if isinstance(e, ev.Escalated)] == [
        "no acknowledgement after 5 min"
    ]
    assert [e.reason for e in late if isinstance(e, ev.Escalated)] == [
        "no acknowledgement after 5 min (escalated 53 min late)"
    ]
