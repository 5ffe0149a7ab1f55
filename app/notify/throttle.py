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
    if not due:
        return DeliveryPlan((), (), (), None)
    window_start = now - limit.window
    in_window = sorted(t for t in recent_sends if t > window_start)
    budget = limit.count - len(in_window)
    if budget <= 0:
        # Wait until the oldest send leaves the window; then everything waiting goes as one.
        return DeliveryPlan((), (), tuple(due), in_window[0] + limit.window)
    if len(due) <= budget:
        return DeliveryPlan(tuple(due), (), (), None)
    individually = budget - 1
    return DeliveryPlan(tuple(due[:individually]), tuple(due[individually:]), (), None)
