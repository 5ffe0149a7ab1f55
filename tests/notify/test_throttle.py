"""The per-contact-method throttle (notify/throttle.py): what goes out alone, what is folded
into one summary, and what waits, given what was sent in the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.ratelimit import RateLimit
from app.notify.throttle import DeliveryPlan, plan_delivery

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FOUR_PER_FIVE_MINUTES = RateLimit(4, timedelta(minutes=5))
TICK = timedelta(microseconds=1)


def minutes_ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("due", "recent", "expected"),
    [
        # Nothing due: nothing to plan, even with the budget spent.
        ([], [minutes_ago(1)] * 4, DeliveryPlan((), (), (), None)),
        # Within the budget, everything goes out on its own.
        ([1], [], DeliveryPlan((1,), (), (), None)),
        ([1, 2, 3, 4], [], DeliveryPlan((1, 2, 3, 4), (), (), None)),
        ([1, 2], [minutes_ago(1), minutes_ago(2)], DeliveryPlan((1, 2), (), (), None)),
        # Over the budget: all but the last allowed message alone, the rest as one summary.
        ([1, 2, 3, 4, 5], [], DeliveryPlan((1, 2, 3), (4, 5), (), None)),
        ([1, 2, 3], [minutes_ago(1), minutes_ago(2)], DeliveryPlan((1,), (2, 3), (), None)),
        # One message left: the summary is it.
        ([1, 2], [minutes_ago(1)] * 3, DeliveryPlan((), (1, 2), (), None)),
        # One message left and one due: it goes out as itself, no summary of one.
        ([1], [minutes_ago(1)] * 3, DeliveryPlan((1,), (), (), None)),
        # Budget spent: everything waits until the oldest send leaves the window.
        (
            [1, 2],
            [minutes_ago(1), minutes_ago(4), minutes_ago(2), minutes_ago(3)],
            DeliveryPlan((), (), (1, 2), minutes_ago(4) + timedelta(minutes=5)),
        ),
        # More sends than the limit (another replica raced): still waits for the oldest.
        (
            [7],
            [minutes_ago(m) for m in (1, 2, 3, 4, 4.5)],
            DeliveryPlan((), (), (7,), minutes_ago(4.5) + timedelta(minutes=5)),
        ),
        # Sends older than the window do not count, and do not set the wait.
        (
            [1],
            [minutes_ago(6), minutes_ago(1), minutes_ago(2), minutes_ago(3), minutes_ago(4)],
            DeliveryPlan((), (), (1,), minutes_ago(4) + timedelta(minutes=5)),
        ),
        ([1, 2], [minutes_ago(10)] * 4, DeliveryPlan((1, 2), (), (), None)),
        # The order of the ids is kept: oldest first goes out first.
        ([9, 3, 5, 1, 7], [], DeliveryPlan((9, 3, 5), (1, 7), (), None)),
    ],
)
def test_plan(due: list[int], recent: list[datetime], expected: DeliveryPlan) -> None:
    assert plan_delivery(due, recent, FOUR_PER_FIVE_MINUTES, NOW) == expected


def test_a_send_exactly_one_window_ago_has_left_the_window() -> None:
    window_start = NOW - FOUR_PER_FIVE_MINUTES.window
    left = [window_start] * 4
    assert plan_delivery([1], left, FOUR_PER_FIVE_MINUTES, NOW).send == (1,)
    inside = [window_start + TICK] * 4
    waiting = plan_delivery([1], inside, FOUR_PER_FIVE_MINUTES, NOW)
    assert waiting.defer == (1,)
    # ...for one microsecond: the earliest instant at which the send has left the window.
    assert waiting.defer_until == NOW + TICK


def test_the_wait_ends_when_the_next_message_is_allowed() -> None:
    sends = [minutes_ago(4), minutes_ago(3), minutes_ago(2), minutes_ago(1)]
    waiting = plan_delivery([1, 2], sends, FOUR_PER_FIVE_MINUTES, NOW)
    assert waiting.defer_until is not None
    at_the_end = plan_delivery([1, 2], sends, FOUR_PER_FIVE_MINUTES, waiting.defer_until)
    # One slot is free again: the two waiting pages go out as one summary.
    assert at_the_end == DeliveryPlan((), (1, 2), (), None)
    just_before = plan_delivery([1, 2], sends, FOUR_PER_FIVE_MINUTES, waiting.defer_until - TICK)
    assert just_before.defer == (1, 2)


def test_a_limit_of_one() -> None:
    one_per_minute = RateLimit(1, timedelta(minutes=1))
    assert plan_delivery([1], [], one_per_minute, NOW).send == (1,)
    assert plan_delivery([1, 2, 3], [], one_per_minute, NOW) == DeliveryPlan(
        (), (1, 2, 3), (), None
    )
    recent = [NOW - timedelta(seconds=10)]
    assert plan_delivery([1, 2], recent, one_per_minute, NOW) == DeliveryPlan(
        (), (), (1, 2), NOW + timedelta(seconds=50)
    )


# -- properties ------------------------------------------------------------------------------

limits = st.builds(
    RateLimit,
    count=st.integers(min_value=1, max_value=10),
    window=st.integers(min_value=1, max_value=3600).map(lambda s: timedelta(seconds=s)),
)
due_ids = st.lists(st.integers(min_value=1, max_value=10_000), unique=True, max_size=30)
sends = st.lists(
    st.integers(min_value=0, max_value=7200).map(lambda s: NOW - timedelta(seconds=s)),
    max_size=15,
)


@given(due=due_ids, recent=sends, limit=limits)
def test_every_due_id_is_planned_once_in_order(
    due: list[int], recent: list[datetime], limit: RateLimit
) -> None:
    plan = plan_delivery(due, recent, limit, NOW)
    assert [*plan.send, *plan.bundle, *plan.defer] == due


@given(due=due_ids, recent=sends, limit=limits)
def test_never_more_messages_than_the_limit_leaves_room_for(
    due: list[int], recent: list[datetime], limit: RateLimit
) -> None:
    plan = plan_delivery(due, recent, limit, NOW)
    room = max(limit.count - sum(1 for t in recent if t > NOW - limit.window), 0)
    messages_now = len(plan.send) + (1 if plan.bundle else 0)
    # As many as allowed go now: the throttle holds nothing back without a reason.
    assert messages_now == min(len(due), room)


@given(due=due_ids, recent=sends, limit=limits)
def test_a_summary_holds_at_least_two_and_a_wait_ends_in_the_future(
    due: list[int], recent: list[datetime], limit: RateLimit
) -> None:
    plan = plan_delivery(due, recent, limit, NOW)
    assert len(plan.bundle) != 1
    if plan.defer:
        assert not plan.send and not plan.bundle
        assert plan.defer_until is not None and NOW < plan.defer_until <= NOW + limit.window
    else:
        assert plan.defer_until is None
