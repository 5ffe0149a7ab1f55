"""Database engine, sessions, the declarative base and the column types every domain shares.

A request's session commits or rolls back at the edge (``get_session``); services never commit.
Side effects that must only happen once data is durable (waking the dispatcher, sending a
verification code) are registered with :func:`on_commit` and run right after the commit.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Any, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Enum,
    Integer,
    MetaData,
    Table,
    bindparam,
    event,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeDecorator

from app.core.clock import Clock
from app.core.errors import BatonError
from app.core.netguard import NetworkPolicy

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An instant stored in UTC and always read back timezone-aware.

    SQLite has no time zone support, so without this a value would come back naive and
    silently compare wrong against aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass an aware UTC instant")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigIntegerType = BigInteger().with_variant(Integer(), "sqlite")

E = TypeVar("E", bound=enum.Enum)


def str_enum(enum_class: type[E], length: int = 32) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, no native PostgreSQL type."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=True,
        length=length,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


IntPK = Annotated[int, mapped_column(BigIntegerType, primary_key=True, autoincrement=True)]
Instant = Annotated[datetime, mapped_column(UTCDateTime())]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class TimestampMixin:
    """``created_at``/``updated_at`` stamped from the session's injected clock at flush."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


def session_network_policy(session: Session | AsyncSession) -> NetworkPolicy:
    """The outgoing-network policy URLs are checked against when they are saved."""
    policy = session.info.get("network_policy")
    return policy if isinstance(policy, NetworkPolicy) else NetworkPolicy()


@dataclass(frozen=True)
class EscalationFallback:
    """The global fallback (``BATON_ESCALATION_FALLBACK_*``); a service's own fallback wins."""

    email: str = ""
    slack_channel: str = ""


def session_escalation_fallback(session: Session | AsyncSession) -> EscalationFallback:
    fallback = session.info.get("escalation_fallback")
    return fallback if isinstance(fallback, EscalationFallback) else EscalationFallback()


def session_clock(session: Session | AsyncSession) -> Clock:
    clock = session.info.get("clock")
    if clock is None:
        raise RuntimeError("session has no clock; create sessions through Database.session()")
    return clock


@event.listens_for(Session, "before_flush")
def _stamp_timestamps(session: Session, _context: Any, _instances: Any) -> None:
    stamped = [o for o in session.new if isinstance(o, TimestampMixin)]
    stamped += [o for o in session.dirty if isinstance(o, TimestampMixin)]
    if not stamped:
        return
    now = session_clock(session).now()
    for obj in session.new:
        if isinstance(obj, TimestampMixin):
            if getattr(obj, "created_at", None) is None:
                obj.created_at = now
            obj.updated_at = now
    for obj in session.dirty:
        if isinstance(obj, TimestampMixin) and session.is_modified(obj, include_collections=False):
            obj.updated_at = now


AfterCommit = Callable[[], Awaitable[None] | None]


def on_commit(session: AsyncSession | Session, callback: AfterCommit) -> None:
    """Run ``callback`` once the surrounding transaction has committed (never on rollback)."""
    session.info.setdefault("after_commit", []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            result = callback()
            if inspect.isawaitable(result):
                await result
        except Exception:
            # The data is committed; a failed side effect must not turn into an error answer.
            log.exception("after-commit callback failed")


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so every transaction can start with
        # BEGIN IMMEDIATE: SQLite has one writer, and a deferred transaction that upgrades to a
        # write lock fails with SQLITE_BUSY instead of waiting.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(
    url: str,
    *,
    pool_size: int = 20,
    max_overflow: int = 10,
    sqlite_busy_timeout_ms: int = 10_000,
    echo: bool = False,
) -> AsyncEngine:
    # No pre-ping: it would add a round trip to every transaction. A connection that died
    # (a database restart) fails its transaction once; engine jobs retry on their next tick
    # and senders get a 503 they retry.
    kwargs: dict[str, Any] = {"echo": echo, "pool_recycle": 1800}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_ms / 1000}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_async_engine(url, **kwargs)
    if url.startswith("sqlite"):
        _configure_sqlite(engine, sqlite_busy_timeout_ms)
    return engine


async def insert_ignoring_duplicates(
    session: AsyncSession, table: Table, rows: list[dict[str, Any]], unique: list[str]
) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on both databases: saves asking first."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    connection = await session.connection()
    await connection.execute(insert(table).on_conflict_do_nothing(index_elements=unique), rows)


_WRITTEN_TOGETHER = "db.written_together"


@dataclass
class _Deferred:
    table: str
    text: str
    document: str


@asynccontextmanager
async def written_together(session: AsyncSession) -> AsyncIterator[None]:
    """On PostgreSQL, the plain writes of the block (``insert_rows``, ``update_rows``) go to the
    server at its end as one statement, each a data-modifying ``WITH`` part of it: one round
    trip for a storm batch's counters, alerts and events instead of one each. The parts of one
    statement see none of each other's rows and run in no set order, so a second write to a
    table sends those before it first (ids follow the calls' order, as one by one). Nothing in
    the block may read what it writes, nor change ORM objects after deferring a write (the
    ORM's pending changes go in first, at the block's end). A block inside another writes with
    the outer; elsewhere than PostgreSQL each write goes at once."""
    if _WRITTEN_TOGETHER in session.info or session.get_bind().dialect.name != "postgresql":
        yield
        return
    deferred: list[_Deferred] = []
    session.info[_WRITTEN_TOGETHER] = deferred
    try:
        yield
    finally:
        session.info.pop(_WRITTEN_TOGETHER, None)
    await _send_deferred(session, deferred)


async def _send_deferred(session: AsyncSession, deferred: list[_Deferred]) -> None:
    if not deferred:
        return
    # What the ORM holds pending was done before the writes.
    await session.flush()
    *parts, last = deferred
    text = "".join(
        f"{'WITH' if n == 0 else ','} written_{n} AS ({part.text}) " for n, part in enumerate(parts)
    )
    documents = tuple(part.document for part in deferred)
    deferred.clear()
    connection = await session.connection()
    await connection.exec_driver_sql(text + last.text, documents)


async def _write(session: AsyncSession, table: str, text: str, document: str) -> None:
    deferred: list[_Deferred] | None = session.info.get(_WRITTEN_TOGETHER)
    if deferred is None:
        # Through SQLAlchemy, not the driver: its errors arrive as SQLAlchemy's (a lost insert
        # race is an IntegrityError the gateway retries, a lost connection one that answers 503).
        connection = await session.connection()
        await connection.exec_driver_sql(text, (document,))
        return
    if any(part.table == table for part in deferred):
        await _send_deferred(session, deferred)
    deferred.append(_Deferred(table, text, document))


async def insert_rows(session: AsyncSession, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows into ``table`` whose ids nobody needs back, in their order, in the session's
    transaction. On PostgreSQL the rows travel as one JSON document that the server unpacks
    (``json_populate_recordset``): one round trip (COPY takes two) and under half the client
    CPU of COPY for a storm batch's 80 alert rows, most of which went to Python encoding JSON
    columns value by value (decision 31). Elsewhere, one executemany. Every row names
    the same columns; a column's Python-side default fills one left out, as in an INSERT."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        await connection.execute(insert(table), rows)
        return
    named = list(rows[0])
    defaults = {
        column.name: _default_value(column.default)
        for column in table.columns
        if column.name not in named and column.default is not None and not column.primary_key
    }
    columns = [table.c[name] for name in [*named, *defaults]]
    document = _json_document(dialect, columns, [{**row, **defaults} for row in rows], owned=True)
    await _write(
        session,
        table.name,
        _json_insert_text(dialect, table.name, tuple(c.name for c in columns)),
        document,
    )


async def update_rows(
    session: AsyncSession,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    key: str = "id",
    added: frozenset[str] = frozenset(),
) -> None:
    """Set columns of many rows of ``table``, each found by its ``key`` column: one statement
    for all (on PostgreSQL the rows travel as one JSON document, as in ``insert_rows``). Columns
    in ``added`` grow by the value given instead of taking it. Every row names the same
    columns."""
    if not rows:
        return
    connection = await session.connection()
    dialect = connection.dialect
    named = [name for name in rows[0] if name != key]
    if dialect.name != "postgresql":
        await connection.execute(
            _update_statement(table, key, tuple(named), added),
            [{f"given_{name}": value for name, value in row.items()} for row in rows],
        )
        return
    columns = [table.c[name] for name in [key, *named]]
    document = _json_document(dialect, columns, rows)
    await _write(
        session,
        table.name,
        _json_update_text(dialect, table.name, key, tuple(named), frozenset(added)),
        document,
    )


@lru_cache(maxsize=64)
def _update_statement(
    table: Table, key: str, columns: tuple[str, ...], added: frozenset[str]
) -> Update:
    # Built once per shape: a storm's batches each run it (decision 30).
    return (
        update(table)
        .where(table.c[key] == bindparam(f"given_{key}"))
        .values(
            {
                name: table.c[name] + bindparam(f"given_{name}")
                if name in added
                else bindparam(f"given_{name}")
                for name in columns
            }
        )
    )


def _json_document(
    dialect: Dialect, columns: list[Any], rows: list[dict[str, Any]], *, owned: bool = False
) -> str:
    """The rows as one JSON document. JSON columns take the value as it is; the rest go through
    their types' bind processing (UTC instants, enum values), as in an INSERT, in place when
    the caller made the rows for this (``owned``)."""
    processed = [
        (column.name, process)
        for column in columns
        if not isinstance(impl := column.type.dialect_impl(dialect), sqltypes.JSON)
        and (process := impl.bind_processor(dialect)) is not None
    ]
    if processed:
        if not owned:
            rows = [dict(row) for row in rows]
        for values in rows:
            for name, process in processed:
                values[name] = process(values[name])
    return _json_text(rows)


@lru_cache(maxsize=64)
def _json_update_text(
    dialect: Dialect, table: str, key: str, columns: tuple[str, ...], added: frozenset[str]
) -> str:
    # Names from the table's own metadata, quoted by the dialect: no input reaches this text.
    quote = dialect.identifier_preparer.quote
    target = quote(table)
    assignments = ", ".join(
        f"{quote(name)} = {target}.{quote(name)} + given.{quote(name)}"
        if name in added
        else f"{quote(name)} = given.{quote(name)}"
        for name in columns
    )
    return (
        f"UPDATE {target} SET {assignments} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{target}, %s::json) AS given "
        f"WHERE {target}.{quote(key)} = given.{quote(key)}"
    )


@lru_cache(maxsize=64)
def _json_insert_text(dialect: Dialect, table: str, columns: tuple[str, ...]) -> str:
    # Names from the table's own metadata, quoted by the dialect: no input reaches this text.
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    return (
        f"INSERT INTO {quote(table)} ({names}) SELECT {names} "  # noqa: S608
        f"FROM json_populate_recordset(NULL::{quote(table)}, %s::json) WITH ORDINALITY AS given "
        # The ids follow the rows' order: the sequence is read as the sorted rows go in.
        "ORDER BY given.ordinality"
    )


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # orjson stops at 64-bit integers; a sender's larger ones are valid JSON all the same.
        return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    # What orjson writes natively and the json module does not (enums are str or int there).
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _default_value(default: Any) -> Any:
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    raise ValueError(f"a column default an insert of rows cannot compute: {default!r}")


class Database:
    """The engine plus a session factory whose sessions carry the injected clock."""

    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        # Set by the engine when it runs in this process; outbox writes call it after commit.
        self.dispatcher_wake: Callable[[], None] | None = None
        # Where saved URLs may point; the composition root sets it from the settings.
        self.network_policy = NetworkPolicy()
        # Who hears of an exhausted escalation besides the owner team's managers.
        self.escalation_fallback = EscalationFallback()

    def wake_dispatcher(self) -> None:
        if self.dispatcher_wake is not None:
            self.dispatcher_wake()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def new_session(self) -> AsyncSession:
        session = self._sessionmaker()
        session.info["clock"] = self.clock
        session.info["wake_dispatcher"] = self.wake_dispatcher
        session.info["network_policy"] = self.network_policy
        session.info["escalation_fallback"] = self.escalation_fallback
        return session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work outside a request (CLI, engine jobs): commit, then side effects."""
        async with self.new_session() as session:
            try:
                yield session
                await session.commit()
            except BatonError as exc:
                await (session.commit() if exc.keep_changes else session.rollback())
                session.info.pop("after_commit", None)
                raise
            except BaseException:
                await session.rollback()
                session.info.pop("after_commit", None)
                raise
        await run_after_commit(session)

    async def dispose(self) -> None:
        await self.engine.dispose()
