"""Scenario helpers: build an on-call setup through the API and drive the engine in time.

Tests run the engine's jobs by hand (``tick``) with a movable clock instead of waiting for
APScheduler, so a five-minute escalation takes no time and nothing depends on timing luck.
To show that nothing (more) is sent, a test brings everything to rest with ``drain`` and then
asks the fake at once (``webhook_receiver.assert_nothing_sent()``): no test waits to see that
nothing arrives.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from app.core.clock import ManualClock
from app.core.db import Database
from app.engine import jobs
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident
from app.integrations.service import mark_overdue_heartbeats
from app.notify.console import ConsoleProvider
from app.notify.models import Notification, NotificationStatus
from tests.factories import Actor

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(relative))


class Settling(Protocol):
    """Something besides the engine that works on its own and can be waited for: a fake's
    automatic callbacks (Twilio status callbacks) may make Baton queue more work."""

    async def drain(self) -> None: ...


# More rounds than any scenario needs; reaching it means some work is due again and again.
MAX_DRAIN_ROUNDS = 50


class Engine:
    """The engine's jobs, run on demand against the test's clock."""

    def __init__(
        self,
        app: FastAPI,
        db: Database,
        clock: ManualClock,
        *,
        also_settle: Sequence[Settling] = (),
    ) -> None:
        self.app = app
        self.db = db
        self.clock = clock
        self.also_settle = tuple(also_settle)

    async def tick(self) -> None:
        """One run of each job, as one beat of the live engine."""
        await self._run_jobs_once()

    async def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        self.clock.advance(delta, **kwargs)
        await self.tick()

    async def drain(self) -> None:
        """Run the jobs until nothing is due at the clock's instant: what a live engine would
        have done by now, without the clock moving.

        One tick is not enough for that: a send that fails through to the next rule, or a
        recovered send that brings the next step forward, makes new work due at once. Fails
        if the work never settles, or if due work is left that no job picked up.
        """
        for _ in range(MAX_DRAIN_ROUNDS):
            for other in self.also_settle:
                await other.drain()
            await self.app.state.slack_work.idle()
            if not await self._run_jobs_once():
                left = await work_left(self.db)
                assert not left, f"the engine is at rest but work is still due: {left}"
                return
        raise AssertionError(
            f"the engine still had work after {MAX_DRAIN_ROUNDS} rounds at {self.clock.now()}: "
            f"{await work_left(self.db)}"
        )

    async def _run_jobs_once(self) -> int:
        """Run each job once (the dispatcher until it finds nothing); how much they did."""
        dispatcher = self.app.state.dispatcher
        done = await jobs.release_maintenance(self.db)
        done += await mark_overdue_heartbeats(self.db)
        done += await jobs.escalation_tick(self.db)
        done += await dispatcher.fail_stale_sends()
        for _ in range(10):
            sent = await dispatcher.run()
            if not sent:
                break
            done += sent
        return done


async def caught_up(db: Database, *, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait until an engine running on its own (APScheduler) has done all that is due at the
    clock's instant, sends in flight included: the signal that anything it was going to send
    by now has been sent. The clock does not move, so nothing new falls due meanwhile."""
    deadline = time.monotonic() + timeout
    while left := await work_left(db, in_flight=True):
        if time.monotonic() >= deadline:
            raise AssertionError(f"the running engine did not catch up in {timeout}s: {left}")
        await asyncio.sleep(0.01)


async def work_left(db: Database, *, in_flight: bool = False) -> list[str]:
    """What is due at the clock's instant and not done: notifications to send (or, with
    ``in_flight``, being sent; else only sends whose deadline passed), escalations and
    acknowledgement expiries. Empty when the engine has caught up."""
    async with db.new_session() as session:
        now = db.clock.now()
        sending = Notification.status == NotificationStatus.SENDING
        if not in_flight:
            sending = sending & (Notification.sending_deadline < now)
        notifications = (
            await session.execute(
                select(Notification.id, Notification.status).where(
                    (
                        (Notification.status == NotificationStatus.PENDING)
                        & (Notification.due_at <= now)
                    )
                    | sending
                )
            )
        ).all()
        incidents = (
            await session.execute(
                select(Incident.id, Incident.state).where(
                    (
                        (Incident.state == IncidentState.TRIGGERED)
                        & (Incident.next_escalation_at <= now)
                        & Incident.held_for_maintenance.is_(False)
                    )
                    | (
                        (Incident.state == IncidentState.ACKNOWLEDGED)
                        & (Incident.ack_expires_at <= now)
                    )
                )
            )
        ).all()
    return [f"notification {n.id} {n.status}" for n in notifications] + [
        f"incident {i.id} {i.state}: escalation or ack expiry due" for i in incidents
    ]


@dataclass
class ConsoleInbox:
    """The console provider as a device: expect messages, fail on anything unexpected."""

    console: ConsoleProvider
    consumed: int = 0
    seen: list[Any] = field(default_factory=list)

    def _new(self) -> list[Any]:
        records = list(self.console.sent)
        fresh = records[self.consumed :]
        return fresh

    def expect(self, address: str, contains: str = "") -> Any:
        fresh = self._new()
        for index, record in enumerate(fresh):
            message = record.message
            if message.address == address and contains in f"{message.subject} {message.text}":
                # Everything before the match must have been expected too: keep order strict.
                unexpected = fresh[:index]
                assert not unexpected, f"unexpected before the match: {_show(unexpected)}"
                self.consumed += index + 1
                return message
        raise AssertionError(f"no message to {address} containing {contains!r}; got {_show(fresh)}")

    def assert_no_unexpected(self) -> None:
        fresh = self._new()
        assert not fresh, f"unexpected messages: {_show(fresh)}"


def _show(records: list[Any]) -> str:
    return "; ".join(f"{r.message.address}: {r.message.subject}" for r in records) or "nothing"


async def api(
    client: httpx.AsyncClient, actor: Actor, method: str, path: str, **kwargs: Any
) -> Any:
    response = await client.request(method, path, headers=actor.headers, **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


async def add_contact(
    client: httpx.AsyncClient,
    admin: Actor,
    user_id: int,
    kind: str,
    address: str,
    *,
    after_minutes: int | None = 0,
    urgency: str = "high",
) -> dict[str, Any]:
    """A contact method and, unless ``after_minutes`` is None, a rule using it.

    Phone numbers added this way stay unverified (and so unpaged); tests that page phones use
    ``Factory.contact_method`` or the verification flow.
    """
    method = await api(
        client,
        admin,
        "POST",
        f"/api/v1/users/{user_id}/contact-methods",
        json={"type": kind, "address": address},
    )
    if after_minutes is not None:
        await api(
            client,
            admin,
            "POST",
            f"/api/v1/users/{user_id}/notification-rules",
            json={
                "contact_method_id": method["id"],
                "delay_minutes": after_minutes,
                "urgency": urgency,
            },
        )
    return method


async def integration(
    client: httpx.AsyncClient,
    admin: Actor,
    service_id: int,
    kind: str = "alertmanager",
    **extra: Any,
) -> dict[str, Any]:
    return await api(
        client,
        admin,
        "POST",
        f"/api/v1/services/{service_id}/integrations",
        json={"kind": kind, "name": f"{kind} test", **extra},
    )


class GenericSender:
    """Fires alerts at a service through its generic JSON integration (made on first use)."""

    def __init__(self, client: httpx.AsyncClient, admin: Actor, service_id: int) -> None:
        self.client = client
        self.admin = admin
        self.service_id = service_id
        self.key: str | None = None

    async def fire(self, summary: str = "checkout failing", **extra: Any) -> int:
        """Trigger an alert; returns the incident it opened or joined."""
        if self.key is None:
            self.key = (await integration(self.client, self.admin, self.service_id, "generic"))[
                "key"
            ]
        response = await self.client.post(
            "/api/v1/integrations/generic",
            json={"summary": summary, **extra},
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 202, response.text
        return response.json()["incidents"][0]
