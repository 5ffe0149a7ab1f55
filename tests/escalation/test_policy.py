"""The escalation ladder (escalation/policy.py): the position after this one, when to move on,
and the policy snapshot an incident keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.escalation.policy import (
    FIRST,
    PolicySnapshot,
    Position,
    StepSnapshot,
    TargetSnapshot,
    has_steps,
    next_escalation_at,
    next_position,
    step_at,
    total_positions,
)

PAGED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ALICE = TargetSnapshot(kind="user", user_id=1)
BOB = TargetSnapshot(kind="user", user_id=2)
ROTA = TargetSnapshot(kind="schedule", schedule_id=7)
LEADS = TargetSnapshot(kind="slack_channel", address="#incident-leads")


def policy(*delays: int, repeat: int = 0) -> PolicySnapshot:
    """A ladder with one step per delay (each paging somebody)."""
    steps = tuple(
        StepSnapshot(d, (TargetSnapshot("user", user_id=n),)) for n, d in enumerate(delays)
    )
    return PolicySnapshot(policy_id=1, name="payments", repeat=repeat, steps=steps)


@pytest.mark.parametrize(
    ("ladder", "position", "after"),
    [
        # Within a pass: the next step.
        (policy(5, 10), Position(0, 0), Position(0, 1)),
        (policy(5, 10, 15), Position(0, 1), Position(0, 2)),
        # The last step with no passes left: nothing after it.
        (policy(5, 10), Position(0, 1), None),
        (policy(5), FIRST, None),
        # The last step with passes left: the first step again, one pass on.
        (policy(5, 10, repeat=1), Position(0, 1), Position(1, 0)),
        (policy(5, 10, repeat=2), Position(1, 1), Position(2, 0)),
        (policy(5, repeat=3), Position(2, 0), Position(3, 0)),
        # The last pass is the one numbered ``repeat``.
        (policy(5, 10, repeat=2), Position(2, 1), None),
        (policy(5, 10, repeat=2), Position(2, 0), Position(2, 1)),
    ],
)
def test_next_position(ladder: PolicySnapshot, position: Position, after: Position | None) -> None:
    assert next_position(ladder, position) == after


@pytest.mark.parametrize(
    ("ladder", "position", "moves_on_at"),
    [
        # Moving on waits for the delay of the step that was paged, not of the next one.
        (policy(5, 10), Position(0, 0), PAGED + timedelta(minutes=5)),
        (policy(3, 10, 20), Position(0, 1), PAGED + timedelta(minutes=10)),
        # The last step of a pass that repeats waits its own delay before the next pass.
        (policy(5, 10, repeat=1), Position(0, 1), PAGED + timedelta(minutes=10)),
        # A delay of zero moves on at the instant of the page.
        (policy(0, 10), Position(0, 0), PAGED),
        # The very last step: nothing to move on to, so no time to move on at.
        (policy(5, 10), Position(0, 1), None),
        (policy(5, 10, repeat=1), Position(1, 1), None),
        (policy(30), FIRST, None),
    ],
)
def test_next_escalation_at(
    ladder: PolicySnapshot, position: Position, moves_on_at: datetime | None
) -> None:
    assert next_escalation_at(ladder, position, PAGED) == moves_on_at


def test_step_at_is_the_same_step_in_every_pass() -> None:
    ladder = policy(5, 10, repeat=2)
    assert step_at(ladder, Position(0, 1)) == step_at(ladder, Position(2, 1)) == ladder.steps[1]
    assert step_at(ladder, FIRST).delay_minutes == 5


@pytest.mark.parametrize(
    ("ladder", "positions"),
    [
        (policy(5), 1),
        (policy(5, 10), 2),
        (policy(5, 10, repeat=1), 4),
        (policy(5, 10, 15, repeat=2), 9),
        (PolicySnapshot(1, "empty", 0, ()), 0),
        (PolicySnapshot(1, "empty", 3, ()), 0),
    ],
)
def test_total_positions(ladder: PolicySnapshot, positions: int) -> None:
    assert total_positions(ladder) == positions


def test_has_steps() -> None:
    assert has_steps(policy(5))
    assert not has_steps(PolicySnapshot(1, "empty", 0, ()))
    assert not has_steps(PolicySnapshot(1, "empty but repeating", 2, ()))
    assert not has_steps(None)


def test_positions_order_by_pass_then_step() -> None:
    assert Position(loop=0, step=0) == FIRST
    assert Position(0, 1) < Position(1, 0) < Position(1, 1)
    assert sorted([Position(1, 0), Position(0, 2), FIRST]) == [
        FIRST,
        Position(0, 2),
        Position(1, 0),
    ]


# -- the snapshot an incident stores -----------------------------------------------------------


def test_snapshot_json_round_trip() -> None:
    snapshot = PolicySnapshot(
        policy_id=12,
        name="payments",
        repeat=1,
        steps=(
            StepSnapshot(5, (ROTA, LEADS)),
            StepSnapshot(10, (BOB, TargetSnapshot("webhook", address="https://hooks.example"))),
        ),
    )
    stored = json.loads(json.dumps(snapshot.to_json()))
    assert stored["steps"][0]["targets"][1] == {
        "kind": "slack_channel",
        "user_id": None,
        "schedule_id": None,
        "address": "#incident-leads",
    }
    assert PolicySnapshot.from_json(stored) == snapshot


def test_snapshot_from_json_tolerates_missing_target_fields_and_string_numbers() -> None:
    """Rows written by older versions left unused target keys out."""
    restored = PolicySnapshot.from_json(
        {
            "policy_id": "3",
            "name": "old",
            "repeat": "0",
            "steps": [{"delay_minutes": "5", "targets": [{"kind": "user", "user_id": 1}]}],
        }
    )
    assert restored == PolicySnapshot(3, "old", 0, (StepSnapshot(5, (ALICE,)),))


def test_an_empty_snapshot_round_trips() -> None:
    empty = PolicySnapshot(policy_id=1, name="nobody", repeat=0, steps=())
    assert PolicySnapshot.from_json(empty.to_json()) == empty


# -- properties ------------------------------------------------------------------------------

targets = st.one_of(
    st.builds(TargetSnapshot, kind=st.just("user"), user_id=st.integers(1, 10_000)),
    st.builds(TargetSnapshot, kind=st.just("schedule"), schedule_id=st.integers(1, 10_000)),
    st.builds(TargetSnapshot, kind=st.just("slack_channel"), address=st.text(min_size=1)),
    st.builds(TargetSnapshot, kind=st.just("webhook"), address=st.text(min_size=1)),
)
steps = st.builds(
    StepSnapshot,
    delay_minutes=st.integers(0, 24 * 60),
    targets=st.lists(targets, min_size=1, max_size=4).map(tuple),
)
policies = st.builds(
    PolicySnapshot,
    policy_id=st.integers(1, 10_000),
    name=st.text(max_size=40),
    repeat=st.integers(0, 5),
    steps=st.lists(steps, min_size=1, max_size=6).map(tuple),
)


def walk(ladder: PolicySnapshot) -> list[Position]:
    seen = [FIRST]
    while (following := next_position(ladder, seen[-1])) is not None:
        seen.append(following)
        assert len(seen) <= total_positions(ladder), "the ladder never ends"
    return seen


@given(policies)
def test_the_ladder_visits_every_step_of_every_pass_in_order_then_ends(
    ladder: PolicySnapshot,
) -> None:
    expected = [Position(p, s) for p in range(ladder.repeat + 1) for s in range(len(ladder.steps))]
    assert walk(ladder) == expected
    assert len(expected) == total_positions(ladder)


@given(policies, st.data())
def test_a_time_to_move_on_exactly_when_there_is_somewhere_to_go(
    ladder: PolicySnapshot, data: st.DataObject
) -> None:
    position = data.draw(st.sampled_from(walk(ladder)))
    moves_on_at = next_escalation_at(ladder, position, PAGED)
    if next_position(ladder, position) is None:
        assert moves_on_at is None
    else:
        assert moves_on_at == PAGED + timedelta(minutes=step_at(ladder, position).delay_minutes)


@given(policies)
def test_snapshots_survive_storage(ladder: PolicySnapshot) -> None:
    assert PolicySnapshot.from_json(json.loads(json.dumps(ladder.to_json()))) == ladder
