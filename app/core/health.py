"""Liveness, readiness and metrics endpoints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.auth import public_route
from app.core.db import Database
from app.core.metrics import SCHEMA_UP_TO_DATE
from app.core.migrations import current_revision

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


@router.get("/metrics", openapi_extra=public_route("none"), response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
