"""The shared test harness: databases, an app with a movable clock, an HTTP client, factories."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.core.clock import ManualClock
from app.core.db import Database, make_engine
from app.core.settings import Environment, Settings
from app.integrations.slack import background
from app.main import Overrides, create_app
from app.notify.console import ConsoleProvider
from app.wiring import wire
from tests import dbutil
from tests.factories import Factory

pytest_plugins = ["tests.fakes.plugin"]

PUBLIC_URL = "http://baton.test"
TEST_ALLOWED_NETWORKS = "127.0.0.0/8"
# A Monday morning, away from any DST change; tests that need other instants set the clock.
DEFAULT_NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

# What every Baton process does at start-up; tests that call services directly need it too.
wire()


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(autouse=True)
def _slack_answers_wait_for_the_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Slack's 3-second window for an inline answer is wall-clock time; on a loaded CI machine
    the first command of a test could miss it and answer "working on it" instead, failing a
    test about what the command does. Tests of the deferral set their own short window."""
    monkeypatch.setattr(background, "INLINE_SECONDS", 30.0)


@pytest.fixture(scope="session")
def database_backend() -> str:
    return "postgresql" if dbutil.postgres_base_url() else "sqlite"


@pytest.fixture(scope="session")
def _template_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = dbutil.postgres_base_url()
    if base:
        url = dbutil.create_postgres_database(base, f"tests_{_worker_id()}")
        asyncio.run(dbutil.migrate_url(url))
        yield url
        dbutil.drop_postgres_database(url)
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = dbutil.sqlite_url(path)
        asyncio.run(dbutil.migrate_url(url))
        yield str(path)


@pytest.fixture
async def database_url(_template_database: str, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database for this test alone."""
    if dbutil.postgres_base_url():
        yield _template_database
        await dbutil.truncate_all(_template_database)
    else:
        yield dbutil.copy_sqlite(Path(_template_database), tmp_path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DEFAULT_NOW)


@pytest.fixture
async def db(database_url: str, clock: ManualClock) -> AsyncIterator[Database]:
    database = Database(make_engine(database_url), clock)
    yield database
    await database.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=database_url,
        public_url=PUBLIC_URL,
        engine_enabled=False,
        log_format="text",
        # The fake receivers listen on loopback; production allows no private network.
        webhook_allowed_networks=TEST_ALLOWED_NETWORKS,
        # Tests send many wrong tokens on purpose (the authorization sweep); the lockout's own
        # tests ask for a low limit.
        auth_failure_limit="100000/1m",
    )


@pytest.fixture
def console(clock: ManualClock) -> ConsoleProvider:
    return ConsoleProvider(clock, stream=_NullStream())


@pytest.fixture
async def app(settings: Settings, clock: ManualClock, db: Database, console: ConsoleProvider):
    application = create_app(
        settings, clock=clock, overrides=Overrides(database=db, providers={"console": console})
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as http:
        yield http


@pytest.fixture
async def factory(db: Database) -> Factory:
    return Factory(db)


class _NullStream:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass
