"""How often sign-in links may be asked for: per e-mail address and per source address.

Counted per process and in memory, like the authentication guard (decision 18): it stops one
browser from flooding someone's inbox, not a distributed attack. The key is the address typed,
whether or not anyone has it, so being refused says nothing about who exists.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from datetime import datetime

from app.core.clock import Clock
from app.core.errors import RateLimited
from app.core.ratelimit import RateLimit


class SlidingWindow:
    """At most ``limit.count`` events per key within any ``limit.window``."""

    def __init__(self, clock: Clock, limit: RateLimit, *, max_keys: int = 10_000) -> None:
        self._clock = clock
        self.limit = limit
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[datetime]] = OrderedDict()

    def take(self, key: str, refusal: str) -> None:
        """Count one event for ``key``, or refuse it (429) when the window is full."""
        now = self._clock.now()
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit.count)
            while len(self._events) > self.max_keys:
                self._events.popitem(last=False)
        else:
            self._events.move_to_end(key)
        while events and events[0] <= now - self.limit.window:
            events.popleft()
        if len(events) >= self.limit.count:
            wait = (events[0] + self.limit.window - now).total_seconds()
            raise RateLimited(refusal, retry_after_seconds=max(1, math.ceil(wait)))
        events.append(now)
