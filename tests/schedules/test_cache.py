"""The compiled-schedule cache: one query when current, correct across replicas and rollbacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from app.core.auth import Principal, Role
from app.core.clock import ManualClock
from app.core.db import Database, make_engine
from app.core.errors import NotFound
from app.schedules import oncall_queries, overrides, schemas, service
from tests.factories import Factory
from tests.schedules.helpers import utc

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


@contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA")):
            statements.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


async def _schedule(db: Database, factory: Factory) -> tuple[int, int, int, Principal]:
    team = await factory.team()
    a, b = await factory.user(), await factory.user()
    admin = Principal(user_id=a.id, role=Role.ADMIN)
    body = schemas.ScheduleCreate(
        name="cached",
        team_id=team.id,
        layers=[
            schemas.LayerCreate(
                name="daily", participants=[a.id], shift_unit="days", start=utc(2026, 1, 1)
            )
        ],
    )
    async with db.transaction() as session:
        schedule = await service.create_schedule(session, admin, body)
    return schedule.id, a.id, b.id, admin


async def _responders(db: Database, schedule_id: int) -> list[int]:
    async with db.transaction() as session:
        answer = await service.oncall_at(session, schedule_id, NOW)
    return [r.user_id for r in answer.responders]


async def test_a_current_cache_costs_one_query(db: Database, factory: Factory) -> None:
    schedule_id, a, _, _ = await _schedule(db, factory)
    assert await _responders(db, schedule_id) == [a]  # compiles and caches
    with count_queries(db) as statements:
        assert await _responders(db, schedule_id) == [a]
    assert len(statements) == 1 and "revision" in statements[0]
    with count_queries(db) as statements:
        async with db.transaction() as session:
            answer = await oncall_queries.schedule_on_call(session, schedule_id, NOW)
    assert len(statements) == 1, "the page's names come with the revision check"
    assert [r.user_id for r in answer.responders] == [a]


async def test_another_replica_sees_a_change_at_once(
    db: Database, factory: Factory, database_url: str, clock: ManualClock
) -> None:
    schedule_id, a, b, admin = await _schedule(db, factory)
    other = Database(make_engine(database_url), clock)
    try:
        assert await _responders(db, schedule_id) == [a]
        assert await _responders(other, schedule_id) == [a]
        async with other.transaction() as session:
            await overrides.create_override(
                session,
                admin,
                schedule_id,
                schemas.OverrideCreate(start=NOW, end=utc(2026, 3, 3), user_id=b),
            )
        assert await _responders(db, schedule_id) == [b], "the revision told this replica"
        async with db.transaction() as session:
            page = await oncall_queries.schedule_on_call(session, schedule_id, NOW)
        assert [r.user_id for r in page.responders] == [b]
    finally:
        await other.dispose()


class _Rollback(Exception):
    pass


async def test_a_rolled_back_change_never_reaches_the_cache(db: Database, factory: Factory) -> None:
    schedule_id, a, b, admin = await _schedule(db, factory)
    assert await _responders(db, schedule_id) == [a]
    with pytest.raises(_Rollback):
        async with db.transaction() as session:
            await overrides.create_override(
                session,
                admin,
                schedule_id,
                schemas.OverrideCreate(start=NOW, end=utc(2026, 3, 3), user_id=b),
            )
            seen = await service.oncall_at(session, schedule_id, NOW)
            assert [r.user_id for r in seen.responders] == [b], "the change is visible inside"
            raise _Rollback
    assert await _responders(db, schedule_id) == [a]
    # A different change now commits with the revision number the rolled-back one had.
    async with db.transaction() as session:
        await service.update_schedule(
            session, admin, schedule_id, schemas.ScheduleUpdate(description="renamed")
        )
    assert await _responders(db, schedule_id) == [a]


async def test_unknown_schedules(db: Database) -> None:
    async with db.transaction() as session:
        assert await service.oncall_for_schedules(session, [12345], NOW) == {}
        with pytest.raises(NotFound):
            await service.oncall_at(session, 12345, NOW)
