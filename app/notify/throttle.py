"""Per-contact-method rate limits, pure: an alert storm becomes a summary, not a flood.

For each contact method the dispatcher asks: given what is due now and what was sent recently,
what goes out on its own, what is folded into one summary message, and what waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.core.ratelimit import RateLimit


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    send: tuple[int, ...]
    bundle: tuple[int, ...]
    defer: tuple[int, ...]
    defer_until: datetime | None


def plan_delivery(
    due: Sequence[int],
    recent_sends: Sequence[datetime],
    limit: RateLimit,
    now: datetime,
) -> DeliveryPlan:
    """Split the due notification ids (oldest first) of one contact method.

    ``recent_sends`` are the send times of messages already sent to this contact method.
    """
    window_start = now - limit.window
    in_window = [t for t in recent_sends if t > window_start]
    return plan_in_window(due, SendsInWindow(len(in_window), min(in_window, default=None)), limit)


@dataclass(frozen=True, slots=True)
class SendsInWindow:
    """What a contact method was sent within its limit's window: how many, and the oldest."""

    count: int
    oldest: datetime | None


def plan_in_window(due: Sequence[int], sent: SendsInWindow, limit: RateLimit) -> DeliveryPlan:
    """``plan_delivery`` from the window's count and oldest send, which one grouped query gives
    however many were sent."""
    if not due:
        return DeliveryPlan((), (), (), None)
    budget = limit.count - sent.count
    if budget <= 0:
        assert sent.oldest is not None
        # Wait until the oldest send leaves the window; then everything waiting goes as one.
        return DeliveryPlan((), (), tuple(due), sent.oldest + limit.window)
    if len(due) <= budget:
        return DeliveryPlan(tuple(due), (), (), None)
    individually = budget - 1
    return DeliveryPlan(tuple(due[:individually]), tuple(due[individually:]), (), None)
