"""The composition root: settings, database, providers, engine and routers come together here."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter, FastAPI

from app.audit import service as audit
from app.audit.api import router as audit_router
from app.catalog.api import router as catalog_router
from app.core.authguard import AuthFailureGuard
from app.core.clock import Clock, SystemClock
from app.core.db import Database, EscalationFallback, make_engine
from app.core.errors import Conflict
from app.core.handlers import install_error_handlers
from app.core.health import ReadinessCheck
from app.core.health import router as health_router
from app.core.jsondepth import MAX_JSON_DEPTH
from app.core.logging import configure_logging
from app.core.middleware import (
    BodySizeLimitMiddleware,
    InputShapeMiddleware,
    RequestContextMiddleware,
)
from app.core.migrations import head_revision
from app.core.ratelimit import RateLimit
from app.core.schemas import ERROR_RESPONSES
from app.core.settings import Environment, Settings, load_settings
from app.deploys.api import router as deploys_router
from app.engine.scheduler import Engine, EngineIntervals
from app.escalation.api import router as escalation_router
from app.incidents.api import router as incidents_router
from app.integrations.api import INBOUND
from app.integrations.api import router as integrations_router
from app.integrations.service import Gateway
from app.integrations.slack.api import router as slack_router
from app.integrations.slack.background import BackgroundWork
from app.integrations.slack.chatops_api import router as slack_app_router
from app.integrations.slack.jobs import slack_engine_jobs
from app.integrations.twilio.api import router as twilio_router
from app.notify.api import router as channels_router
from app.notify.base import DeliveryResult, MessageKind, Notifier, OutboundMessage, Provider
from app.notify.console import ConsoleProvider
from app.notify.dispatcher import Dispatcher, DispatchPolicy
from app.notify.webhook import WebhookProvider
from app.notify.webhook_keys import WebhookSigning
from app.people import service as people_service
from app.people.api import router as people_router
from app.people.models import ContactType
from app.providers import providers_from_settings
from app.readiness.api import router as readiness_router
from app.review.api import router as reviews_router
from app.review.metrics_api import router as metrics_router
from app.schedules.api import router as schedules_router
from app.web.application import mount_pages
from app.web.retention import prune as prune_web_sign_ins
from app.wiring import wire

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
WEB_PRUNE_SECONDS = 3600.0

# Routes are matched in this order, one by one: the inbound alert endpoints (the hot path, hit
# by every sender's retry) and the health checks come first.
ROUTERS: list[APIRouter] = [
    integrations_router,
    deploys_router,
    health_router,
    incidents_router,
    people_router,
    schedules_router,
    escalation_router,
    catalog_router,
    channels_router,
    twilio_router,
    slack_router,
    slack_app_router,
    audit_router,
    reviews_router,
    metrics_router,
    readiness_router,
]


@dataclass
class Overrides:
    """What tests and embedders may hand in instead of what settings would build."""

    database: Database | None = None
    # Providers by contact type ("sms", "slack", ...) or "console" for the fallback.
    providers: dict[str, Provider] = field(default_factory=dict)
    # Routers matched before Baton's own (benchmarks mount their baseline endpoint here).
    routers: list[APIRouter] = field(default_factory=list)


def build_notifier(settings: Settings, clock: Clock, overrides: Overrides) -> Notifier:
    console = overrides.providers.get("console") or ConsoleProvider(
        clock, show_codes=settings.env is Environment.DEVELOPMENT, public_url=settings.public_url
    )
    providers: dict[ContactType, Provider] = {
        ContactType.WEBHOOK: WebhookProvider(clock, settings.network_policy),
        **providers_from_settings(settings, clock),
    }
    for kind in ContactType:
        if kind.value in overrides.providers:
            providers[kind] = overrides.providers[kind.value]
    return Notifier(providers=providers, fallback=console)


def verification_sender(notifier: Notifier) -> people_service.SendVerification:
    """Verification codes go straight to the contact method they verify, not through the outbox."""

    async def send(message: people_service.VerificationMessage) -> DeliveryResult:
        return await notifier.send(
            OutboundMessage(
                contact_type=message.contact_type,
                address=message.address,
                kind=MessageKind.VERIFICATION,
                subject=message.subject,
                text=message.text,
                user_id=message.user_id,
                context={"contact_method_id": message.contact_method_id},
            )
        )

    return send


def webhook_signing(settings: Settings) -> WebhookSigning:
    return WebhookSigning(
        settings.secret_key.get_secret_value(), timedelta(hours=settings.webhook_key_grace_hours)
    )


def dispatch_policy(settings: Settings) -> DispatchPolicy:
    return DispatchPolicy(
        limits={
            ContactType.SMS: RateLimit.parse(settings.rate_limit_sms),
            ContactType.VOICE: RateLimit.parse(settings.rate_limit_voice),
            ContactType.EMAIL: RateLimit.parse(settings.rate_limit_email),
            ContactType.SLACK: RateLimit.parse(settings.rate_limit_slack),
            ContactType.WEBHOOK: RateLimit.parse(settings.rate_limit_webhook),
        },
        batch_size=settings.dispatch_batch_size,
        concurrency=settings.dispatch_concurrency,
        send_timeout=timedelta(seconds=settings.send_timeout_seconds),
        max_attempts=settings.send_max_attempts,
    )


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    overrides: Overrides | None = None,
) -> FastAPI:
    settings = settings or load_settings()
    settings.check_production_safety()
    wire()
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
        db.network_policy = settings.network_policy
        db.escalation_fallback = EscalationFallback(
            email=settings.escalation_fallback_email,
            slack_channel=settings.escalation_fallback_slack_channel,
        )
        notifier = build_notifier(settings, clock, overrides)
        signing = webhook_signing(settings)
        dispatcher = Dispatcher(db, notifier, dispatch_policy(settings), signing)
        app.state.db = db
        app.state.webhook_signing = signing
        app.state.notifier = notifier
        app.state.send_verification = verification_sender(notifier)
        app.state.dispatcher = dispatcher
        app.state.slack_work = BackgroundWork()
        app.state.gateway = Gateway(
            db,
            rate_per_second=settings.integration_rate_per_second,
            burst=settings.integration_burst,
            # SQLite has one writer at a time: a second transaction in flight would only wait.
            max_in_flight=1 if settings.is_sqlite else 2,
        )
        engine = _build_engine(settings, db, dispatcher, notifier)
        app.state.engine = engine
        if settings.bootstrap_token is not None:
            await _ensure_bootstrap_token(db, settings)
        if engine is not None:
            app.state.readiness_checks.append(engine.readiness)
            engine.start()
        log.info(
            "baton started", extra={"public_url": settings.public_url, "engine": engine is not None}
        )
        try:
            yield
        finally:
            if engine is not None:
                await engine.stop(grace_seconds=settings.graceful_shutdown_seconds)
            await app.state.slack_work.drain(settings.graceful_shutdown_seconds)
            for provider in {*notifier.providers(), notifier.fallback}:
                close = getattr(provider, "aclose", None)
                if close is not None:
                    await close()
            if owns_database:
                await db.dispose()
            log.info("baton stopped")

    app = FastAPI(
        title="Baton",
        version="0.1.0",
        description="On-call rotations, paging and incident management.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    app.state.clock = clock
    app.state.resolve_token = people_service.principal_for_token
    auth_limit = RateLimit.parse(settings.auth_failure_limit)
    app.state.auth_guard = AuthFailureGuard(
        clock, max_failures=auth_limit.count, window=auth_limit.window
    )
    app.state.schema_head = head_revision()
    app.state.readiness_checks: list[ReadinessCheck] = []
    install_error_handlers(app)
    for router in [*overrides.routers, *ROUTERS]:
        app.include_router(router)
    # The web pages (app/web): every path the API has no route for, outside /api/.
    mount_pages(app)
    # The inbound alert endpoints parse their raw bodies with the same depth limit, and answer
    # in each sender's own error shape.
    app.add_middleware(InputShapeMiddleware, max_depth=MAX_JSON_DEPTH, own_parsers=(INBOUND,))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(RequestContextMiddleware)
    return app


def _build_engine(
    settings: Settings, db: Database, dispatcher: Dispatcher, notifier: Notifier
) -> Engine | None:
    if not settings.engine_enabled:
        return None
    tick = settings.engine_tick_seconds
    return Engine(
        db,
        dispatcher,
        intervals=EngineIntervals(dispatch_seconds=tick, escalation_seconds=tick),
        extra_jobs={
            **slack_engine_jobs(db, notifier),
            # Ended web sessions and spent sign-in links of people who never sign in again.
            "web-prune": (WEB_PRUNE_SECONDS, lambda: prune_web_sign_ins(db)),
        },
        audit_retention=timedelta(days=settings.audit_retention_days),
        incident_retention=timedelta(days=settings.incident_retention_days),
        payload_retention=timedelta(days=settings.delivery_payload_retention_days),
        receipt_retention=timedelta(days=settings.inbound_receipt_retention_days),
    )


def create_app_from_environment(overrides: Overrides | None = None) -> FastAPI:
    """The app as ``baton serve`` runs it, in each worker process: settings and logging from
    the environment."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, overrides=overrides)
    freeze_start_up_objects()
    return app


def freeze_start_up_objects() -> None:
    """Move everything alive once the app is built (modules, routes, SQLAlchemy's mappers: a
    few hundred thousand objects that live as long as the process) out of the collector's
    reach. Otherwise every full collection walks them all again, and a request that builds many
    objects (a metrics report over ten thousand incidents) pays for several such walks.

    Then collect the youngest generation less often. Every request builds thousands of
    short-lived objects (ORM rows, statements, events) that reference counting frees anyway;
    at Python's default of one collection per 700 allocations, the collector took 9.5 % of the
    server's CPU in an alert storm (1.5 % at this threshold; docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVER_GC_THRESHOLDS)


# Allocations before a young collection, then young collections per middle one, then middle
# ones per full one (Python's defaults: 700, 10, 10).
SERVER_GC_THRESHOLDS = (50_000, 20, 10)


async def _ensure_bootstrap_token(db: Database, settings: Settings) -> None:
    assert settings.bootstrap_token is not None
    try:
        async with db.transaction() as session:
            audit.act_as(session, audit.Actor.system("bootstrap"))
            await people_service.ensure_bootstrap_admin(
                session,
                email=settings.bootstrap_admin_email,
                name=settings.bootstrap_admin_name,
                token_secret=settings.bootstrap_token.get_secret_value(),
            )
    except Conflict as exc:
        # Someone revoked the bootstrap token on purpose: keep it revoked, and keep serving.
        log.error("bootstrap token not applied", extra={"reason": exc.detail})
