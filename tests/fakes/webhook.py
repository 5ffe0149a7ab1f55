"""A recording HTTP receiver for outbound webhooks, with failure injection.

It is a real HTTP server on 127.0.0.1, so senders in other OS processes (multi-replica
tests) reach it too; ``count_by`` then answers "was each event delivered exactly once?".

    hook = webhook_receiver.url_for("/hooks/ops")
    event = await webhook_receiver.expect_event(path="/hooks/ops", match={"event": "paged"})
    assert webhook_receiver.verify_signature(event, "s3cret")
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tests.fakes._core import (
    DEFAULT_TIMEOUT,
    Contains,
    FakeHttpServer,
    Inbox,
    RawRequest,
    RawResponse,
    describe_contains,
    raise_problems,
    short,
    text_matches,
)


@dataclass(eq=False)
class WebhookRecord:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float
    status: int | None = None
    """What the receiver answered (None: held and dropped)."""
    accepted: bool = False
    """True when the receiver answered 2xx (even if the sender had already given up)."""
    consumed: bool = False

    def header(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @cached_property
    def json(self) -> Any:
        """The body parsed as JSON, or None."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def get(self, dotted: str, default: Any = None) -> Any:
        """A value from the JSON body by dotted path (``"incident.id"``, ``"alerts.0.status"``)."""
        node: Any = self.json
        for part in dotted.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return default
        return node

    def describe(self) -> str:
        state = "accepted" if self.accepted else f"answered {self.status}"
        return f"{self.method} {self.path} ({state}): {short(self.text)!r}"


@dataclass
class WebhookFailure:
    status: int = 500
    body: bytes = b"injected failure"
    hold: float = 0.0
    path: str | None = None
    times: int | None = 1
    hits: int = 0


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


@dataclass
class _Default:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/plain"})


class WebhookReceiver(FakeHttpServer):
    name = "webhook_receiver"

    def __init__(self, *, host: str = "127.0.0.1", status: int = 200, body: bytes = b"ok") -> None:
        super().__init__(host=host)
        self.default = _Default(status, body)
        self._events: Inbox[WebhookRecord] = Inbox(self.lock)
        self._failures: list[WebhookFailure] = []

    def url_for(self, path: str = "/hook") -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    @property
    def requests(self) -> list[WebhookRecord]:
        """Every request received, accepted or not, in arrival order."""
        return self._events.all()

    # -- failure injection -------------------------------------------------------------------

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = 1,
        path: str | None = None,
        body: bytes = b"injected failure",
    ) -> WebhookFailure:
        """Answer the next ``times`` requests (to ``path``, if given) with ``status``."""
        rule = WebhookFailure(status=status, body=body, path=path, times=times)
        with self.lock:
            self._failures.append(rule)
        return rule

    def hold(
        self,
        seconds: float,
        *,
        times: int | None = 1,
        path: str | None = None,
        status: int | None = None,
    ) -> WebhookFailure:
        """Hold the response ``seconds`` (the sender times out).

        With ``status=None`` the connection is then dropped and the request is not accepted;
        with a status (e.g. 200) the receiver then answers it, and a 2xx counts as accepted
        although the sender gave up: the at-least-once case that makes duplicates.
        """
        rule = WebhookFailure(status=status or 0, hold=seconds, path=path, times=times)
        with self.lock:
            self._failures.append(rule)
        return rule

    def _take_failure(self, path: str) -> WebhookFailure | None:
        with self.lock:
            for rule in self._failures:
                if rule.path not in (None, path):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._failures.remove(rule)
                return rule
        return None

    def handle(self, request: RawRequest) -> RawResponse:
        record = WebhookRecord(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            received_at=time.time(),
        )
        self._events.add(record)  # visible at once, even while its response is held
        rule = self._take_failure(request.path)
        if rule is not None and rule.hold:
            stopped = self.hold_request(rule.hold)
            response = (
                RawResponse(drop=True)
                if stopped or not rule.status
                else RawResponse.text("ok", status=rule.status)
            )
        elif rule is not None:
            response = RawResponse(
                status=rule.status, body=rule.body, headers={"Content-Type": "text/plain"}
            )
        else:
            response = RawResponse(
                self.default.status, self.default.body, dict(self.default.headers)
            )
        with self.lock:
            record.status = None if response.drop else response.status
            record.accepted = record.status is not None and 200 <= record.status < 300
        return response

    # -- expectations ------------------------------------------------------------------------

    @property
    def events(self) -> list[WebhookRecord]:
        """Accepted requests (answered 2xx)."""
        return self._events.all(lambda r: r.accepted)

    async def expect_event(
        self,
        contains: Contains = None,
        *,
        path: str | None = None,
        match: Mapping[str, Any] | Callable[[WebhookRecord], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> WebhookRecord:
        """Wait for an accepted request (to ``path``) whose body matches ``contains`` and
        whose JSON contains ``match`` (a recursive subset) or satisfies it (a predicate)."""

        def matches(r: WebhookRecord) -> bool:
            if not r.accepted or (path is not None and r.path != path):
                return False
            if not text_matches(r.text, contains):
                return False
            if match is None:
                return True
            if callable(match):
                return bool(match(r))
            return _subset(match, r.json)

        what = f"a webhook{f' to {path}' if path else ''} {describe_contains(contains)}"
        if match is not None and not callable(match):
            what += f" matching {match!r}"
        return await self._events.expect(
            matches, timeout=timeout, what=what, scope=lambda r: path is None or r.path == path
        )

    def count_by(
        self, key: str | Callable[[WebhookRecord], Hashable], *, accepted_only: bool = True
    ) -> Counter[Hashable]:
        """Count requests by a dotted JSON path, ``"header:Name"``, or a function.

        ``count_by("event_id")`` == ``Counter({"ev-1": 1, ...})`` proves exactly-once
        delivery. Does not consume anything (see ``consume_all``).
        """
        if callable(key):
            fn = key
        elif key.startswith("header:"):
            name = key[len("header:") :]

            def fn(r: WebhookRecord) -> Hashable:
                return r.header(name)
        else:

            def fn(r: WebhookRecord) -> Hashable:
                value = r.get(key)
                return (
                    json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value
                )

        return Counter(fn(r) for r in self._events.all(lambda r: r.accepted or not accepted_only))

    def consume_all(self, path: str | None = None) -> list[WebhookRecord]:
        """Mark every accepted request (to ``path``) as expected; returns them."""
        return self._events.consume_all(lambda r: r.accepted and (path is None or r.path == path))

    @staticmethod
    def verify_signature(
        record: WebhookRecord,
        secret: str | bytes,
        *,
        header: str = "X-Baton-Signature",
        prefix: str = "sha256=",
        timestamp_header: str | None = None,
        max_age: float | None = None,
        now: float | None = None,
    ) -> bool:
        """Check a hex HMAC-SHA256 signature of the raw body.

        With ``timestamp_header`` the signed message is ``"<timestamp>:<body>"`` (Grafana's
        scheme) and ``max_age`` bounds the timestamp's distance from ``now``.
        """
        value = record.header(header)
        if value is None or not value.startswith(prefix):
            return False
        message = record.body
        if timestamp_header is not None:
            ts = record.header(timestamp_header)
            if ts is None:
                return False
            if max_age is not None:
                try:
                    age = abs((now if now is not None else time.time()) - float(ts))
                except ValueError:
                    return False
                if age > max_age:
                    return False
            message = ts.encode() + b":" + record.body
        key = secret.encode() if isinstance(secret, str) else secret
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, value[len(prefix) :].lower())

    def assert_no_unexpected(self) -> None:
        problems = [
            f"unexpected {r.describe()}" for r in self._events.unconsumed(lambda r: r.accepted)
        ]
        problems += self._problems()
        raise_problems("webhook_receiver: unexpected deliveries", problems)

    def assert_nothing_sent(self) -> None:
        """Fail if an accepted request exists that no expectation consumed.

        An immediate check: first bring the sender to rest (``await engine.drain()`` in
        scenario tests), so "nothing yet" is "nothing at all" without waiting.
        """
        self._events.check_none_unconsumed("webhook_receiver", lambda r: r.accepted)
