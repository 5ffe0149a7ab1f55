"""Test databases: a migrated template per test session, a fresh copy (or a clean slate) per test.

SQLite: the template file is migrated once and copied for every test.
PostgreSQL (``BATON_TEST_DATABASE_URL``): one migrated database per pytest worker, emptied with
TRUNCATE after each test; migration tests get databases of their own.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.db import Base, make_engine
from app.core.migrations import upgrade
from app.core.settings import normalize_database_url


def postgres_base_url() -> str | None:
    url = os.environ.get("BATON_TEST_DATABASE_URL")
    return normalize_database_url(url) if url else None


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url).set(drivername="postgresql", database="postgres")
    return parsed.render_as_string(hide_password=False)


def create_postgres_database(base_url: str, suffix: str) -> str:
    parsed = make_url(base_url)
    name = f"{parsed.database}_{suffix}"[:63]
    with psycopg.connect(_admin_conninfo(base_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parsed.set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    parsed = make_url(url)
    with psycopg.connect(_admin_conninfo(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


async def migrate_url(url: str) -> None:
    engine = make_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def copy_sqlite(template: Path, directory: Path) -> str:
    target = directory / f"baton-{uuid.uuid4().hex[:8]}.db"
    shutil.copyfile(template, target)
    return sqlite_url(target)


async def truncate_all(url: str) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if not tables:
        return
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            quoted = ", ".join(f'"{t}"' for t in tables)
            await conn.execute(text(f"TRUNCATE TABLE {quoted} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()
