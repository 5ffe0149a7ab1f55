"""HTTP benchmark: "who is on call now" for one schedule against a trivial endpoint.

Run from the repository root: ``python bench/bench_oncall_http.py`` (``--quick`` for a short
run, ``--database-url postgresql://postgres@127.0.0.1:5432/baton_bench`` for PostgreSQL; that
database is dropped and created again).

The app is served by uvicorn on 127.0.0.1 in a thread of this process, with a database holding
one schedule of 3 layers, 30 participants and 500 overrides. A keep-alive HTTP client measures
``GET /api/v1/schedules/{id}/oncall`` and ``GET /api/v1/whoami`` (authenticated, no database work
beyond the token lookup) in the same run, interleaved and alternating which goes first, and
prints their median and p99 and the ratio. The target is a ratio within 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import sys
import tempfile
import threading
import time as clock
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import uvicorn
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.clock import SystemClock
from app.core.db import Database, make_engine
from app.core.logging import configure_logging
from app.core.migrations import upgrade
from app.core.settings import Environment, Settings, normalize_database_url
from app.main import create_app
from app.people.models import Team, TeamKind, User
from app.schedules.models import Schedule, ScheduleOverride
from app.schedules.oncall import ShiftUnit
from app.schedules.rotation import Rotation
from app.schedules.service import add_layer_rotation

TOKEN = "baton_bench_" + "t" * 40
WEEKDAYS = (1, 2, 3, 4, 5)
EVERY_DAY = (1, 2, 3, 4, 5, 6, 7)


def fresh_database(url: str | None) -> str:
    if url is None:
        path = Path(tempfile.mkdtemp(prefix="baton-bench-")) / "bench.db"
        return f"sqlite+aiosqlite:///{path}"
    url = normalize_database_url(url)
    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')
    return url


async def build_schedule(url: str, overrides: int) -> int:
    """Three layers (business hours, nights, a 12-hour backstop), 10 people each."""
    db = Database(make_engine(url), SystemClock())
    try:
        await upgrade(db.engine)
        async with db.transaction() as session:
            team = Team(name="bench", kind=TeamKind.OPS)
            users = [
                User(name=f"Person {n}", email=f"p{n}@example.com", time_zone="UTC")
                for n in range(30)
            ]
            session.add_all([team, *users])
            await session.flush()
            schedule = Schedule(name="bench", team_id=team.id, time_zone="Europe/Berlin")
            session.add(schedule)
            await session.flush()
            ids = [u.id for u in users]
            anchor = datetime(2019, 3, 4, 8, tzinfo=UTC)
            layers = (
                ("business", 3, ids[:10], 1, ShiftUnit.DAYS, ((WEEKDAYS, "09:00", "17:00"),)),
                ("nights", 2, ids[10:20], 7, ShiftUnit.DAYS, ((EVERY_DAY, "17:00", "09:00"),)),
                ("backstop", 1, ids[20:], 12, ShiftUnit.HOURS, ()),
            )
            for name, priority, people, length, unit, windows in layers:
                rotation = Rotation(
                    priority, tuple(people), (), length, unit, anchor, anchor, None, windows
                )
                await add_layer_rotation(session, schedule, name, rotation, by=None)
            session.add_all(_overrides(schedule.id, ids, overrides, random.Random(7)))
            return schedule.id
    finally:
        await db.dispose()


def _overrides(
    schedule_id: int, ids: list[int], count: int, rng: random.Random
) -> list[ScheduleOverride]:
    """Past and future overrides written straight to the table (setup only; the API refuses
    to create overrides in the past). One every ~35 hours over two years, so none overlap."""
    start = datetime.now(UTC) - timedelta(days=365)
    rows = []
    for index in range(count):
        begin = start + timedelta(hours=35 * index + rng.randrange(10))
        user, replaced = rng.sample(ids, 2)
        rows.append(
            ScheduleOverride(
                schedule_id=schedule_id,
                starts_at=begin,
                ends_at=begin + timedelta(hours=rng.randint(1, 24)),
                user_id=user,
                replaces_user_id=None if index % 3 == 0 else replaced,
            )
        )
    return rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(url: str, port: int) -> uvicorn.Server:
    settings = Settings(
        env=Environment.TEST,
        database_url=url,
        engine_enabled=False,
        bootstrap_token=TOKEN,
        bootstrap_admin_email="bench-admin@example.com",
        log_level="WARNING",
        log_format="text",
    )
    configure_logging(settings.log_level, settings.log_format)
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    deadline = clock.monotonic() + 30
    while not server.started:
        if clock.monotonic() > deadline:
            raise SystemExit("the server did not start")
        clock.sleep(0.05)
    return server


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(base: str, schedule_id: int, requests: int, warmup: int) -> dict[str, list[float]]:
    paths = {"oncall": f"/api/v1/schedules/{schedule_id}/oncall", "whoami": "/api/v1/whoami"}
    samples: dict[str, list[float]] = {name: [] for name in paths}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        for round_number in range(warmup + requests):
            order = list(paths) if round_number % 2 == 0 else list(reversed(paths))
            for name in order:
                began = clock.perf_counter_ns()
                response = http.get(paths[name])
                elapsed = (clock.perf_counter_ns() - began) / 1e6
                if response.status_code != 200:
                    raise SystemExit(f"{name}: HTTP {response.status_code} {response.text}")
                if round_number >= warmup:
                    samples[name].append(elapsed)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (default: SQLite)")
    parser.add_argument("--overrides", type=int, default=500)
    options = parser.parse_args()
    requests = 500 if options.quick else 5_000
    url = fresh_database(options.database_url)
    schedule_id = asyncio.run(build_schedule(url, options.overrides))
    port = free_port()
    server = serve(url, port)
    try:
        samples = measure(f"http://127.0.0.1:{port}", schedule_id, requests, warmup=200)
    finally:
        server.should_exit = True
    backend = make_url(url).get_backend_name()
    print(f"Python {sys.version.split()[0]}, {backend}, {requests} requests each, interleaved")
    print(f"schedule: 3 layers, 30 participants, {options.overrides} overrides\n")
    for name, values in samples.items():
        print(
            f"  {name:<7} median {statistics.median(values):6.2f} ms   "
            f"p99 {percentile(values, 0.99):6.2f} ms"
        )
    median_ratio = statistics.median(samples["oncall"]) / statistics.median(samples["whoami"])
    p99_ratio = percentile(samples["oncall"], 0.99) / percentile(samples["whoami"], 0.99)
    print(f"\n  ratio oncall/whoami: median {median_ratio:.2f}x   p99 {p99_ratio:.2f}x")
    print(f"  target: within 1.5x -> {'met' if median_ratio <= 1.5 else 'NOT met'} (median)")


if __name__ == "__main__":
    main()
