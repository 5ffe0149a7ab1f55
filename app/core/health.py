"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.auth import bearer_token, public_route
from app.core.authguard import Credential, auth_guard, source_address
from app.core.db import Database
from app.core.errors import Unauthenticated
from app.core.metrics import SCHEMA_UP_TO_DATE
from app.core.migrations import current_revision
from app.core.security import constant_time_equals
from app.core.settings import Settings

router = APIRouter(tags=["operations"])

# A readiness check returns the problems it found; an empty list means ready.
ReadinessCheck = Callable[[], Awaitable[list[str]]]


@router.get("/healthz", openapi_extra=public_route("none"))
async def healthz() -> dict[str, str]:
    """The process is alive and serving HTTP."""
    return {"status": "ok"}


@router.get("/readyz", openapi_extra=public_route("none"))
async def readyz(request: Request) -> JSONResponse:
    """Ready to take traffic: database reachable, schema current, engine keeping up."""
    problems: list[str] = []
    details: dict[str, Any] = {}
    db: Database = request.app.state.db
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current = await current_revision(db.engine)
    except Exception as exc:
        problems.append(f"database unreachable: {type(exc).__name__}")
        current = None
    else:
        expected = request.app.state.schema_head
        details["schema"] = {"current": current, "expected": expected}
        up_to_date = current == expected
        SCHEMA_UP_TO_DATE.set(1 if up_to_date else 0)
        if not up_to_date:
            problems.append(
                f"database schema is at {current or 'nothing'}, expected {expected}: "
                "run `baton migrate`"
            )
    checks: list[ReadinessCheck] = request.app.state.readiness_checks
    for check in checks:
        problems.extend(await check())
    body = {"status": "ok" if not problems else "not_ready", "problems": problems, **details}
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", openapi_extra=public_route("metrics-token"), response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus text format. With ``BATON_METRICS_TOKEN`` set, the scraper sends it as a
    bearer token; unset, the endpoint is open (keep it on a private network then)."""
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None and settings.metrics_token.get_secret_value():
        _require_metrics_token(request, settings.metrics_token.get_secret_value())
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _require_metrics_token(request: Request, expected: str) -> None:
    given = bearer_token(request)
    if given is None:
        raise Unauthenticated("/metrics needs the metrics token as a bearer token")
    guard, address = auth_guard(request), source_address(request)
    guard.check(address, Credential.METRICS_TOKEN)
    if not constant_time_equals(given, expected):
        guard.failed(address, Credential.METRICS_TOKEN)
        raise Unauthenticated("the metrics token is wrong")
