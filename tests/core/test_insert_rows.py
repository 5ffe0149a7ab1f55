"""``insert_rows`` (one JSON document unpacked by PostgreSQL) stores what an INSERT would: the
rows in their order, column types applied, and Python-side defaults for the columns a row
leaves out."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from app.core.db import BigIntegerType, Database, JSONType, UTCDateTime, insert_rows, str_enum


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


metadata = MetaData()
scratch = Table(
    "insert_rows_scratch",
    metadata,
    Column("id", BigIntegerType, primary_key=True, autoincrement=True),
    Column("colour", str_enum(Colour), nullable=False),
    Column("at", UTCDateTime(), nullable=True),
    Column("note", String(100), nullable=False, default="none"),
    Column("data", JSONType, nullable=False, default=dict),
    Column("extra", JSONType, nullable=True),
)


@pytest.fixture
async def table(db: Database) -> AsyncIterator[Table]:
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield scratch
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)


async def _stored(db: Database) -> list[dict[str, object]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(select(scratch).order_by(scratch.c.id))
        return [dict(row._mapping) for row in rows]


@pytest.mark.parametrize("largest", [2**53, 10**30], ids=["64-bit numbers", "larger numbers"])
async def test_rows_go_in_as_an_insert_would_put_them(
    db: Database, table: Table, largest: int
) -> None:
    start = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    rows = [
        {
            "colour": Colour.RED if i % 2 else Colour.BLUE,
            "at": start + timedelta(seconds=i, microseconds=i) if i % 3 else None,
            "extra": {
                "i": i,
                "text": 'tab\\tquote" back\\\\slash \u00e9 \U0001f525 \u2028',
                "numbers": [largest, -largest, 0.1, 1e300, True, None],
                "nested": {"list": [{"deep": "x"}], "empty": {}},
            }
            if i % 4
            else None,
        }
        for i in range(25)
    ]
    async with db.transaction() as session:
        await insert_rows(session, table, rows)
    copied = await _stored(db)
    async with db.engine.begin() as connection:
        await connection.execute(table.delete())
        await connection.execute(insert(table), rows)
    inserted = await _stored(db)

    def without_ids(found: list[dict[str, object]]) -> list[dict[str, object]]:
        return [{k: v for k, v in row.items() if k != "id"} for row in found]

    assert without_ids(copied) == without_ids(inserted)
    assert [row["note"] for row in copied] == ["none"] * 25, "the Python default filled in"
    assert [row["data"] for row in copied] == [{}] * 25
    ids = [row["id"] for row in copied]
    assert ids == sorted(ids), "in their order"
    assert copied[1]["at"] == start + timedelta(seconds=1, microseconds=1)
    assert copied[0]["extra"] is None and copied[1]["extra"]["i"] == 1
    assert copied[1]["extra"]["numbers"][:2] == [largest, -largest]


async def test_nothing_is_written_when_the_transaction_rolls_back(
    db: Database, table: Table
) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await insert_rows(session, table, [{"colour": Colour.RED}])
            raise RuntimeError("the rest of the operation failed")
    assert await _stored(db) == []


async def test_a_conflict_is_sqlalchemys_integrity_error_as_for_any_insert(
    db: Database, table: Table
) -> None:
    """The gateway retries a lost insert race on ``IntegrityError`` and the API maps database
    errors to answers by SQLAlchemy's types: the rows' insert raises those too."""
    async with db.transaction() as session:
        await insert_rows(session, table, [{"id": 7, "colour": Colour.RED}])
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await insert_rows(
                session, table, [{"id": 8, "colour": Colour.BLUE}, {"id": 7, "colour": Colour.RED}]
            )
    assert [row["id"] for row in await _stored(db)] == [7], "nothing of the failed batch"
