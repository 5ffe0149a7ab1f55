"""The composition root: settings, database, providers and routers come together here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI

from app.core.clock import Clock, SystemClock
from app.core.db import Database, make_engine
from app.core.handlers import install_error_handlers
from app.core.health import ReadinessCheck
from app.core.health import router as health_router
from app.core.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from app.core.migrations import head_revision
from app.core.settings import Settings, load_settings
from app.notify.base import Notifier, Provider
from app.notify.console import ConsoleProvider
from app.people import service as people_service
from app.people.api import router as people_router

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024

ROUTERS: list[APIRouter] = [health_router, people_router]


@dataclass
class Overrides:
    """What tests and embedders may hand in instead of what settings would build."""

    database: Database | None = None
    providers: dict[str, Provider] = field(default_factory=dict)


def build_notifier(settings: Settings, clock: Clock, overrides: Overrides) -> Notifier:
    console = ConsoleProvider(clock)
    return Notifier(providers={}, fallback=overrides.providers.get("console", console))


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    overrides: Overrides | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    settings.check_production_safety()
    clock = clock or SystemClock()
    overrides = overrides or Overrides()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_database = overrides.database is None
        db = overrides.database or Database(
            make_engine(
                settings.database_url,
                pool_size=settings.db_pool_size,
                max_overflow=settings.db_max_overflow,
                sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                echo=settings.db_echo,
            ),
            clock,
        )
        app.state.db = db
        app.state.notifier = build_notifier(settings, clock, overrides)
        if settings.bootstrap_token is not None:
            await _ensure_bootstrap_token(db, settings)
        log.info("baton started", extra={"public_url": settings.public_url})
        try:
            yield
        finally:
            if owns_database:
                await db.dispose()
            log.info("baton stopped")

    app = FastAPI(
        title="Baton",
        version="0.1.0",
        description="On-call rotations, paging and incident management.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.resolve_token = people_service.principal_for_token
    app.state.schema_head = head_revision()
    app.state.readiness_checks: list[ReadinessCheck] = []
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestContextMiddleware)
    return app


async def _ensure_bootstrap_token(db: Database, settings: Settings) -> None:
    assert settings.bootstrap_token is not None
    async with db.transaction() as session:
        await people_service.ensure_bootstrap_admin(
            session,
            email=settings.bootstrap_admin_email,
            name=settings.bootstrap_admin_name,
            token_secret=settings.bootstrap_token.get_secret_value(),
        )
