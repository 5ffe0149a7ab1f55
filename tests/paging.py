"""Scenario helpers: build an on-call setup through the API and drive the engine in time.

Tests run the engine's jobs by hand (``tick``) with a movable clock instead of waiting for
APScheduler, so a five-minute escalation takes no time and nothing depends on timing luck.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from app.core.clock import ManualClock
from app.core.db import Database
from app.engine import jobs
from app.integrations.service import mark_overdue_heartbeats
from app.notify.console import ConsoleProvider
from tests.factories import Actor

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def fixture_json(relative: str) -> dict[str, Any]:
    return json.loads(fixture_bytes(relative))


class Engine:
    """The engine's jobs, run on demand against the test's clock."""

    def __init__(self, app: FastAPI, db: Database, clock: ManualClock) -> None:
        self.app = app
        self.db = db
        self.clock = clock

    async def tick(self) -> None:
        await jobs.release_maintenance(self.db)
        await mark_overdue_heartbeats(self.db)
        await jobs.escalation_tick(self.db)
        await self.app.state.dispatcher.fail_stale_sends()
        for _ in range(10):
            if not await self.app.state.dispatcher.run():
                break

    async def advance(self, delta: timedelta | None = None, **kwargs: float) -> None:
        self.clock.advance(delta, **kwargs)
        await self.tick()


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
