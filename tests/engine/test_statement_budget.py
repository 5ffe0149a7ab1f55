"""An alert storm's cost in statements does not grow with its size: the webhooks that share a
transaction open their incidents with one statement per table, and a dispatcher pass records its
sent pages with one statement per table, however many there are.

SQLite cannot hand back the ids of a multi-row insert in the order of its rows, so there the
rows whose ids are needed (incidents, pages) go in one at a time; what is shared is still
shared."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from app.core.db import Database
from tests.engine.conftest import Setup
from tests.engine.test_group_commit_ingest import AM, webhook
from tests.fakes.webhook import WebhookReceiver
from tests.paging import Engine

# Rows whose ids are needed back, each a statement of its own on SQLite (see above): a new
# incident and its page. Timeline events and notifications need none: they go in together.
SQLITE_ROWS_NEEDING_IDS_PER_INCIDENT = 2
SQLITE_ROWS_NEEDING_IDS_PER_SENT_PAGE = 0


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @property
    def count(self) -> int:
        return len(self.seen)


@contextmanager
def counting(db: Database) -> Iterator[Statements]:
    statements = Statements()

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.seen.append(" ".join(statement.split())[:100])

    sync_engine = db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(sync_engine, "before_cursor_execute", seen)


async def storm(
    client: httpx.AsyncClient, app: Any, setup: Setup, db: Database, *, size: int, name: str
) -> int:
    """``size`` webhooks, each a new group, arriving together: the statements of the one
    transaction the last ``size - 1`` of them share (the first goes alone, as in a real storm
    the first request finds the database idle)."""
    headers = {"Authorization": f"Bearer {setup.key}"}
    together = app.state.gateway._together
    # One transaction at a time, so that each one's statements are counted on their own.
    together._max_in_flight = 1
    release = asyncio.Event()
    commit = together._run
    shared: list[int] = []

    async def held(items: Any) -> Any:
        await release.wait()
        with counting(db) as statements:
            done = await commit(items)
        if len(items) > 1:
            shared.append(statements.count)
        return done

    together._run = held
    try:
        bodies = [webhook(f"{name}-{i}", "a") for i in range(size)]
        sending = asyncio.gather(*(client.post(AM, json=b, headers=headers) for b in bodies))
        for _ in range(1_000):
            if together.waiting + together.in_flight_items == size:
                break
            await asyncio.sleep(0.005)
        assert together.waiting + together.in_flight_items == size
        release.set()
        answers = await sending
    finally:
        together._run = commit
    assert [a.status_code for a in answers] == [200] * size
    assert all(len(a.json()["created_incidents"]) == 1 for a in answers)
    assert len(shared) == 1, "the requests that waited shared one transaction"
    return shared[0]


async def dispatch(app: Any, db: Database, receiver: WebhookReceiver, pages: int) -> int:
    with counting(db) as statements:
        sent = await app.state.dispatcher.run()
    assert sent == pages
    for _ in range(pages):
        await receiver.expect_event(path="/alice")
    return statements.count


async def test_statements_of_a_storm_do_not_grow_with_its_size(
    client: httpx.AsyncClient,
    app: Any,
    setup: Setup,
    db: Database,
    engine: Engine,
    webhook_receiver: WebhookReceiver,
) -> None:
    await setup.only_alice(client)
    # Warm: the key and the service are cached after the first request.
    await storm(client, app, setup, db, size=3, name="warm")
    await dispatch(app, db, webhook_receiver, 3)

    small_ingest = await storm(client, app, setup, db, size=4, name="small")
    small_dispatch = await dispatch(app, db, webhook_receiver, 4)
    large_ingest = await storm(client, app, setup, db, size=16, name="large")
    large_dispatch = await dispatch(app, db, webhook_receiver, 16)

    extra = 16 - 4
    postgres = db.engine.dialect.name == "postgresql"
    per_incident = 0 if postgres else SQLITE_ROWS_NEEDING_IDS_PER_INCIDENT
    per_page = 0 if postgres else SQLITE_ROWS_NEEDING_IDS_PER_SENT_PAGE
    assert large_ingest == small_ingest + per_incident * extra, (
        f"16 incidents took {large_ingest} statements, 4 took {small_ingest}"
    )
    assert large_dispatch == small_dispatch + per_page * extra, (
        f"16 pages took {large_dispatch} statements to claim and record, 4 took {small_dispatch}"
    )
    await engine.drain()
    webhook_receiver.assert_nothing_sent()
