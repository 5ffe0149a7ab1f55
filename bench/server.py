"""The app under benchmark: Baton as configured from the environment, plus one bare endpoint
that inserts one row per request — the baseline ingestion is compared with in the same run."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import text

from app.core.auth import public_route
from app.main import Overrides, create_app_from_environment

BARE_TABLE = "CREATE TABLE IF NOT EXISTS bench_bare (id BIGSERIAL PRIMARY KEY, body TEXT)"
BARE_TABLE_SQLITE = "CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, body TEXT)"


def create_bench_app() -> FastAPI:
    baseline = APIRouter()

    # Mounted first, where the alert endpoints also sit: the comparison is about the work
    # behind the endpoint, not about where the router finds it.
    @baseline.post("/bench/bare", openapi_extra=public_route("benchmark"))
    async def bare(request: Request) -> dict[str, bool]:
        body = await request.body()
        async with request.app.state.db.transaction() as session:
            await session.execute(
                text("INSERT INTO bench_bare (body) VALUES (:body)"), {"body": body[:200].decode()}
            )
        return {"ok": True}

    return create_app_from_environment(Overrides(routers=[baseline]))
