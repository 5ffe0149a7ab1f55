"""The embedded SQLite database runs in WAL mode with a busy timeout and foreign keys on."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from app.core.db import Database

pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture(autouse=True)
def _sqlite_only(database_backend: str) -> None:
    if database_backend != "sqlite":
        pytest.skip("SQLite pragmas")


async def test_pragmas(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 10_000
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_concurrent_writers_wait_instead_of_failing(db: Database, factory) -> None:
    """Two transactions that read then write do not fail with 'database is locked'."""
    from app.people.models import User

    user = await factory.user()

    async def rename(suffix: str) -> None:
        async with db.transaction() as session:
            row = await session.get(User, user.id)
            await asyncio.sleep(0.05)
            row.name = row.name + suffix

    await asyncio.gather(*(rename(str(i)) for i in range(5)))
    async with db.transaction() as session:
        name = (await session.get(User, user.id)).name
    assert sorted(name[-5:]) == list("01234")
