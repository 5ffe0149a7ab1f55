"""How big the database gets over a simulated year of a 50-person organisation, with retention.

The organisation is the web benchmark's large one scaled down: 50 people in 5 teams, 10
schedules (weekly rotations of five), 5 escalation policies (two schedules each, 10 minutes
apart), 10 services, each with a generic integration. The app runs in process with a moved
clock and the console notifier. Events run in time order (a heap): each day's alerts and deploys
at random instants, and the acknowledgements and resolutions they lead to; the engine's jobs
(escalation, dispatch) run at every event's instant, and the prune jobs once a simulated day
with the default retention periods.

Traffic per simulated day (seeded, the same every run): about 2 incidents per service (20 for
the organisation, 7,300 a year), each from 1 to 5 alerts (the repeats join it); 70 % are
acknowledged within 5 minutes by the person paged, the rest after the second step was paged
(at 10 minutes); all resolve
30 to 90 minutes after they opened. 3 deploys per service and day. Every page goes out by
e-mail (one notification rule each).

Measured at the end of each simulated month: the database size (SQLite: the file after a WAL
checkpoint; PostgreSQL: ``pg_database_size`` after ``VACUUM``) and the rows of the
largest tables. Retention keeps incidents two years, so within the first year it removes only
payloads after 30 days and receipts after 7; the figure to quote is the size per incident
and how the payload blanking holds the outbox down. Run: ``python -m bench.bench_storage``
(``--days 365``; ``--quick`` for 60 days; ``--backends sqlite`` or ``postgresql``).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import random
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select, text

from app.alerts.models import Alert
from app.core.clock import ManualClock
from app.core.db import Database, make_engine
from app.core.settings import Environment, Settings
from app.deploys.models import Deployment
from app.deploys.retention import prune as prune_deploys
from app.engine import jobs
from app.incidents.models import Incident, IncidentEvent
from app.incidents.retention import prune as prune_incidents
from app.main import Overrides, create_app
from app.notify.console import ConsoleProvider
from app.notify.models import Notification
from app.notify.retention import prune as prune_outbox
from bench.bench_web import apply_file, large_config
from bench.harness import machine, postgres_database, today

TOKEN = "baton_bench-storage-token-0123456789abcdef0123"  # noqa: S105 - a benchmark's own
START = datetime(2026, 1, 12, 0, 0, tzinfo=UTC)  # the rotations begin on the 5th, 09:00 Berlin
INCIDENTS_PER_SERVICE_DAY = 2
DEPLOYS_PER_SERVICE_DAY = 3
TABLES = (
    ("incidents", Incident),
    ("incident_events", IncidentEvent),
    ("alerts", Alert),
    ("notifications", Notification),
    ("deployments", Deployment),
)


class _Null:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        return None


async def _size(db: Database, sqlite_path: Path | None) -> int:
    """The bytes on disk: SQLite's file after a checkpoint; PostgreSQL's database after a VACUUM
    (what autovacuum leaves reusable is not counted as growth)."""
    if sqlite_path is not None:
        return await asyncio.to_thread(_checkpointed_size, sqlite_path)
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.exec_driver_sql("VACUUM")
        size = await conn.execute(text("SELECT pg_database_size(current_database())"))
        return int(size.scalar_one())


def _checkpointed_size(path: Path) -> int:
    """The file once the write-ahead log is folded back in (the app is idle between steps)."""
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


async def _rows(db: Database) -> dict[str, int]:
    async with db.new_session() as session:
        return {
            name: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for name, model in TABLES
        }


async def simulate(url: str, days: int, sqlite_path: Path | None) -> dict[str, Any]:
    async_url = url.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "sqlite://", "sqlite+aiosqlite://", 1
    )
    await apply_file(async_url, large_config(people=50, teams=5, schedules=10), "bench")
    clock = ManualClock(START)
    db = Database(make_engine(async_url), clock)
    settings = Settings(
        env=Environment.TEST,
        database_url=async_url,
        engine_enabled=False,
        bootstrap_token=TOKEN,
        log_format="text",
        log_level="WARNING",
    )
    console = ConsoleProvider(clock, stream=_Null(), keep=10)  # type: ignore[arg-type]
    app = create_app(
        settings, clock=clock, overrides=Overrides(database=db, providers={"console": console})
    )
    rng = random.Random(2026)
    monthly: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            services = (
                await client.get("/api/v1/services", params={"limit": 100}, headers=headers)
            ).json()["items"]
            keys = {}
            for service in services:
                made = await client.post(
                    f"/api/v1/services/{service['id']}/integrations",
                    json={"kind": "generic", "name": "bench"},
                    headers=headers,
                )
                keys[service["id"]] = made.json()["key"]
            dispatcher = app.state.dispatcher
            serial = 0
            # Everything that happens, in time order: the day's alerts and deploys, and the
            # acknowledgements and resolutions they lead to (which may fall on the next day).
            queue: list[tuple[datetime, int, str, Any]] = []
            order = itertools.count()
            for day in range(1, days + 1):
                midnight = START + timedelta(days=day - 1)
                for at, action, detail in _day_plan(rng, midnight, services):
                    heapq.heappush(queue, (at, next(order), action, detail))
                while queue and queue[0][0] < midnight + timedelta(days=1):
                    at, _, action, detail = heapq.heappop(queue)
                    clock.set(at)
                    # The engine at this instant: escalations due by now, then the outbox.
                    await jobs.escalation_tick(db)
                    await dispatcher.run()
                    if action == "alert":
                        service, repeats = detail
                        serial += 1
                        for _ in range(repeats):
                            answer = await client.post(
                                "/api/v1/integrations/generic",
                                json={"summary": f"{service['name']} trouble {serial}"},
                                headers={"Authorization": f"Bearer {keys[service['id']]}"},
                            )
                        incident = int(answer.json()["incidents"][0])
                        ack_after, resolve_after = _responses(rng)
                        heapq.heappush(
                            queue, (at + ack_after, next(order), "acknowledge", incident)
                        )
                        heapq.heappush(
                            queue, (at + resolve_after, next(order), "resolve", incident)
                        )
                        await dispatcher.run()
                    elif action == "deploy":
                        await client.post(
                            "/api/v1/deployments",
                            json={
                                "service": detail["name"],
                                "environment": "production",
                                "version": f"v{day}.{at:%H%M%S}",
                            },
                            headers=headers,
                        )
                    else:
                        await client.post(f"/api/v1/incidents/{detail}/{action}", headers=headers)
                clock.set(midnight + timedelta(days=1))
                await prune_incidents(db, timedelta(days=settings.incident_retention_days))
                await prune_deploys(db, timedelta(days=settings.incident_retention_days))
                await prune_outbox(
                    db,
                    payload_retention=timedelta(days=settings.delivery_payload_retention_days),
                    receipt_retention=timedelta(days=settings.inbound_receipt_retention_days),
                    history_retention=timedelta(days=settings.incident_retention_days),
                )
                if day % 30 == 0 or day == days:
                    size = await _size(db, sqlite_path)
                    rows = await _rows(db)
                    monthly.append({"day": day, "bytes": size, **rows})
                    print(json.dumps(monthly[-1]), flush=True)
    await db.dispose()
    return {"months": monthly, "incidents": serial}


def _day_plan(
    rng: random.Random, midnight: datetime, services: list[dict[str, Any]]
) -> list[tuple[datetime, str, Any]]:
    """The day's alerts and deploys at random instants, in time order."""
    plan: list[tuple[datetime, str, Any]] = []
    for service in services:
        for _ in range(_poisson(rng, INCIDENTS_PER_SERVICE_DAY)):
            at = midnight + timedelta(seconds=rng.randrange(86_400))
            plan.append((at, "alert", (service, rng.randint(1, 5))))
        for _ in range(_poisson(rng, DEPLOYS_PER_SERVICE_DAY)):
            at = midnight + timedelta(seconds=rng.randrange(86_400))
            plan.append((at, "deploy", service))
    return sorted(plan, key=lambda item: (item[0], item[1]))


def _responses(rng: random.Random) -> tuple[timedelta, timedelta]:
    """When the incident is acknowledged (70 % within 5 minutes, the rest after the second
    step was paged at 10) and resolved."""
    ack = timedelta(minutes=rng.uniform(1, 5) if rng.random() < 0.7 else rng.uniform(12, 20))
    return ack, timedelta(minutes=rng.uniform(30, 90))


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw by counting exponential gaps (small means only)."""
    count, total = 0, rng.expovariate(1.0)
    while total < mean:
        count += 1
        total += rng.expovariate(1.0)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--quick", action="store_true", help="60 simulated days")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    args = parser.parse_args()
    days = 60 if args.quick else args.days
    print(f"machine: {machine()}; date: {today()}; simulated days: {days}", flush=True)
    results = {}
    if "sqlite" in args.backends:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "storage.db"
            results["sqlite"] = asyncio.run(simulate(f"sqlite:///{path}", days, path))
    if "postgresql" in args.backends:
        with postgres_database("baton_bench_storage") as url:
            results["postgresql"] = asyncio.run(simulate(url, days, None))
    for backend, result in results.items():
        last = result["months"][-1]
        per_incident = last["bytes"] / max(last["incidents"], 1) / 1e3
        print(
            f"{backend}: {result['incidents']} incidents, {last['bytes'] / 1e6:.1f} MB after "
            f"{last['day']} days ({per_incident:.1f} kB per incident kept)"
        )


if __name__ == "__main__":
    main()
