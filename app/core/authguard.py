"""Failed authentication is slowed down, per source address.

After ``max_failures`` failed attempts (API tokens, integration keys, calendar feed tokens, the
metrics token) from one address within ``window``, that address is answered 429 with
``Retry-After`` until ``window`` has passed since it was locked, even when it sends a correct
credential: answering a correct one differently would let the guessing go on. Other addresses
are not affected. A success does not clear the count, or anyone holding one valid token could
reset it between guesses. Only presented credentials count: a request without one guesses
nothing.

The state is per process and in memory, like the gateway's per-key rate limit: with several
processes or replicas an address gets that many attempts in each. It is bounded: at most
``max_addresses`` addresses are remembered, the least recently seen forgotten first.

The address is the ASGI client host. Behind a reverse proxy that is the proxy, unless uvicorn
trusts the proxy's ``X-Forwarded-For`` (``FORWARDED_ALLOW_IPS``, see docs/operations.md); a
proxy that is not trusted would lock out everyone behind it at once.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from fastapi import Request

from app.core.clock import Clock
from app.core.errors import RateLimited
from app.core.metrics import AUTH_FAILURES, AUTH_LOCKOUTS, AUTH_REFUSED

log = logging.getLogger(__name__)

UNKNOWN_ADDRESS = "unknown"


class Credential(StrEnum):
    API_TOKEN = "api-token"  # noqa: S105 - a kind of credential, not one
    INTEGRATION_KEY = "integration-key"
    FEED_TOKEN = "feed-token"  # noqa: S105
    METRICS_TOKEN = "metrics-token"  # noqa: S105


@dataclass
class _Source:
    failures: deque[datetime]
    locked_until: datetime | None = None
    kinds: set[str] = field(default_factory=set)


class AuthFailureGuard:
    def __init__(
        self,
        clock: Clock,
        *,
        max_failures: int,
        window: timedelta,
        max_addresses: int = 10_000,
    ) -> None:
        self._clock = clock
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self._sources: OrderedDict[str, _Source] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sources)

    def check(self, address: str, kind: Credential) -> None:
        """Refuse (429) an address that failed too often, before its credential is looked at."""
        source = self._sources.get(address)
        if source is None or source.locked_until is None:
            return
        now = self._clock.now()
        if now >= source.locked_until:
            source.locked_until = None
            source.failures.clear()
            return
        AUTH_REFUSED.labels(credential=kind).inc()
        wait = (source.locked_until - now).total_seconds()
        raise RateLimited(
            "too many failed authentication attempts from this address; retry later",
            retry_after_seconds=max(1, math.ceil(wait)),
        )

    def failed(self, address: str, kind: Credential) -> None:
        """Count a wrong credential from ``address``; the last one allowed locks it."""
        now = self._clock.now()
        source = self._sources.get(address)
        if source is None:
            source = self._sources[address] = _Source(deque(maxlen=self.max_failures))
            while len(self._sources) > self.max_addresses:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(address)
            if source.locked_until is not None and now >= source.locked_until:
                source.locked_until = None
                source.failures.clear()
        AUTH_FAILURES.labels(credential=kind).inc()
        failures = source.failures
        failures.append(now)
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        source.kinds.add(kind)
        # Never the credential itself: a typo of a real token is most of that token.
        log.warning(
            "authentication failed",
            extra={"source_address": address, "credential": str(kind), "failures": len(failures)},
        )
        if len(failures) >= self.max_failures and source.locked_until is None:
            source.locked_until = now + self.window
            AUTH_LOCKOUTS.labels(credential=kind).inc()
            log.warning(
                "address locked out after failed authentication",
                extra={
                    "source_address": address,
                    "credentials": sorted(source.kinds),
                    "failures": len(failures),
                    "locked_seconds": int(self.window.total_seconds()),
                },
            )


def source_address(request: Request) -> str:
    return request.client.host if request.client and request.client.host else UNKNOWN_ADDRESS


def auth_guard(request: Request) -> AuthFailureGuard:
    return request.app.state.auth_guard
