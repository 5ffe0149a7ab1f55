"""Pacing: keep requests to one sender (a Twilio number, a Slack channel) under its rate.

Providers rate-limit per sender: Twilio sends about one SMS per second from a long code and
places one call per second per account by default; Slack posts about one message per second
per channel. Sending faster only earns 429s and queueing delays on their side.

This measures real elapsed seconds between HTTP requests, so it runs on the event loop's
monotonic clock, not on Baton's injected clock (which tests stop or move in jumps). It is per
process: replicas each pace themselves, and the providers' 429s cover the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Pacer:
    """Spaces requests per key; never delays one by more than ``max_wait`` seconds.

    A page is never failed or retried because of Baton's own pacing: past ``max_wait`` it goes
    out anyway and the provider queues it (Twilio holds excess messages in its queue) or
    answers 429, which is retried with Retry-After like any rate limit.
    """

    def __init__(
        self,
        per_second: float,
        *,
        max_wait: float = 3.0,
        monotonic: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self.interval = 1.0 / per_second
        self.max_wait = max_wait
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def _now(self) -> float:
        if self._monotonic is not None:
            return self._monotonic()
        return asyncio.get_running_loop().time()

    def reserve(self, key: str) -> float:
        """Book ``key``'s next slot; the seconds to wait for it (at most ``max_wait``)."""
        now = self._now()
        wait = min(max(self._next.get(key, now) - now, 0.0), self.max_wait)
        # Booked from the capped start, so an overloaded key does not drift ever further out.
        self._next[key] = now + wait + self.interval
        return wait

    async def acquire(self, key: str) -> float:
        wait = self.reserve(key)
        if wait > 0:
            await self._sleep(wait)
        return wait
