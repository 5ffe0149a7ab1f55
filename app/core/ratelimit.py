"""A rate limit as settings write it (``"4/5m"``): so many events per window, pure.

Settings check every limit when they load; the notification throttle and the authentication
guard count against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours"}


@dataclass(frozen=True, slots=True)
class RateLimit:
    count: int
    window: timedelta

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"4/5m"`` is four messages per five minutes; ``"10/m"`` ten per minute."""
        match = _LIMIT.match(text)
        if not match:
            raise ValueError(f"rate limit {text!r} is not like '4/5m', '10/1m' or '1/30s'")
        count, amount, unit = int(match[1]), int(match[2] or 1), match[3]
        if count < 1 or amount < 1:
            raise ValueError(f"rate limit {text!r} must allow at least one message")
        return cls(count, timedelta(**{_UNITS[unit]: amount}))

    def __str__(self) -> str:
        return f"{self.count}/{int(self.window.total_seconds())}s"
