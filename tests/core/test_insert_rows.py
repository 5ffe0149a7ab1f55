"""``insert_rows`` (one JSON document unpacked by PostgreSQL) stores what an INSERT would: the
rows in their order, column types applied, and Python-side defaults for the columns a row
leaves out. ``update_rows`` changes what an UPDATE per row would, and ``written_together``
sends a block's writes as one statement with the same outcome as one by one."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.exc import IntegrityError

from app.core.db import (
    BigIntegerType,
    Database,
    JSONType,
    UTCDateTime,
    insert_rows,
    str_enum,
    update_rows,
    written_together,
)


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
    Column("count", Integer, nullable=False, default=0),
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


async def _seed(db: Database, table: Table, n: int) -> None:
    async with db.transaction() as session:
        await insert_rows(session, table, [{"colour": Colour.RED, "count": i} for i in range(n)])


async def test_updated_rows_take_the_values_and_added_columns_grow(
    db: Database, table: Table
) -> None:
    await _seed(db, table, 4)
    at = datetime(2026, 12, 4, 3, 0, 0, 123456, tzinfo=UTC)
    ids = [row["id"] for row in await _stored(db)]
    async with db.transaction() as session:
        await update_rows(
            session,
            table,
            [
                {"id": ids[3], "count": 10, "at": at, "colour": Colour.BLUE},
                {"id": ids[1], "count": -1, "at": None, "colour": Colour.BLUE},
            ],
            added=frozenset({"count"}),
        )
    stored = await _stored(db)
    assert [row["count"] for row in stored] == [0, 0, 2, 13]
    assert [row["at"] for row in stored] == [None, None, None, at]
    assert [row["colour"] for row in stored] == [Colour.RED, Colour.BLUE, Colour.RED, Colour.BLUE]
    assert [row["note"] for row in stored] == ["none"] * 4, "columns not named stay"


async def test_writes_together_land_as_one_by_one_would(db: Database, table: Table) -> None:
    await _seed(db, table, 2)
    first, second = (row["id"] for row in await _stored(db))
    async with db.transaction() as session, written_together(session):
        await update_rows(session, table, [{"id": first, "count": 5}], added=frozenset({"count"}))
        await insert_rows(session, table, [{"colour": Colour.BLUE, "note": "a"}])
        await update_rows(session, table, [{"id": second, "note": "changed"}])
        await insert_rows(
            session, table, [{"colour": Colour.BLUE, "note": f"b{i}"} for i in range(3)]
        )
    stored = await _stored(db)
    assert [(row["note"], row["count"]) for row in stored] == [
        ("none", 5),
        ("changed", 1),
        ("a", 0),
        ("b0", 0),
        ("b1", 0),
        ("b2", 0),
    ]
    ids = [row["id"] for row in stored]
    assert ids == sorted(ids), "inserted in their order"


async def test_a_failed_write_together_leaves_none_of_them(db: Database, table: Table) -> None:
    await _seed(db, table, 1)
    (taken,) = (row["id"] for row in await _stored(db))
    with pytest.raises(IntegrityError):
        async with db.transaction() as session, written_together(session):
            await update_rows(
                session, table, [{"id": taken, "count": 1}], added=frozenset({"count"})
            )
            await insert_rows(session, table, [{"id": taken, "colour": Colour.RED}])
    assert [row["count"] for row in await _stored(db)] == [0]
