"""Web pages benchmark: how long each page takes to answer, for the demo organisation and for
a large one, against ``GET /api/v1/whoami`` measured in the same run.

Run from the repository root: ``python -m bench.bench_web`` (``--quick`` for a short run;
``--database-url postgresql://postgres@127.0.0.1:5432/baton_bench_web`` by default, PostgreSQL
only: the copies are made with ``generate_series``). The databases ``<name>_demo`` and
``<name>_large`` are dropped and created again.

- demo: ``config/demo.yaml`` (6 people, 2 teams, 2 schedules, 2 services) and 30 incidents
  opened through a generic-event integration.
- large: 500 people in 25 teams, 100 schedules (a weekly layer of 5 people each), 50
  escalation policies, 100 services, and 10,000 incidents: 100 opened through integrations
  (real alerts, timelines, assignees), the rest bulk copies of those (resolved, with their
  alerts, timelines and assignees), inserted with one statement per table.

The app is served by uvicorn on 127.0.0.1 in a thread of this process (no engine: nothing is
paged while measuring). The admin signs in with the API token through the sign-in page, as a
browser would, and a keep-alive client asks for every page and for ``whoami`` (bearer token) in
interleaved rounds, the order shuffled every round. Reported: median and p90 of each, and the
median as a ratio to whoami's. Targets: each page's median under 100 ms for the demo and under
300 ms for the large organisation.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import time as clock
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.alerts.models import Alert
from app.core.clock import SystemClock
from app.core.db import Database, make_engine
from app.core.migrations import upgrade
from app.declarative.apply import apply_config, parse_config
from app.incidents.models import Incident, IncidentAssignee, IncidentEvent
from bench.bench_oncall_http import TOKEN, fresh_database, serve
from bench.harness import free_port, machine, percentile, today

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "config" / "demo.yaml"
DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/baton_bench_web"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
TARGETS_MS = {"demo": 100.0, "large": 300.0}

PAGES = (
    "/",
    "/incidents",
    "/incidents/{incident}",
    "/schedules",
    "/schedules/{schedule}",
    "/me",
    "/services",
    "/services/{service}",
    "/pager-load",
    "/people",
)


# ------------------------------------------------------------------------------ the worlds


def large_config(people: int = 500, teams: int = 25, schedules: int = 100) -> str:
    """A declarative file for the large organisation (the same format as the demo's)."""
    users = [
        {
            "email": f"person{n}@example.com",
            "name": f"Person {n}",
            "time_zone": ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")[n % 4],
            "role": "member",
            "contact_methods": [{"type": "email", "address": f"person{n}@example.com"}],
            "notification_rules": [{"contact": "email", "after_minutes": 0}],
        }
        for n in range(people)
    ]
    per_team = people // teams
    team_list = [
        {
            "name": f"team-{t}",
            "kind": "dev" if t % 2 else "ops",
            "members": [f"person{n}@example.com" for n in range(t * per_team, (t + 1) * per_team)],
        }
        for t in range(teams)
    ]
    schedule_list = []
    for s in range(schedules):
        team = s % teams
        members = team_list[team]["members"]
        offset = (s // teams) % len(members)
        schedule_list.append(
            {
                "name": f"schedule-{s}",
                "team": f"team-{team}",
                "time_zone": "Europe/Berlin",
                "layers": [
                    {
                        "name": "weekly",
                        "participants": [members[(offset + k) % len(members)] for k in range(5)],
                        "shift_unit": "weeks",
                        "shift_length": 1,
                        "start": "2026-01-05",
                        "handoff_time": "09:00",
                    }
                ],
            }
        )
    policies = [
        {
            "name": f"policy-{p}",
            "team": f"team-{p % teams}",
            "steps": [
                {"after_minutes": 10, "targets": [{"schedule": f"schedule-{2 * p}"}]},
                {"after_minutes": 10, "targets": [{"schedule": f"schedule-{2 * p + 1}"}]},
            ],
        }
        for p in range(schedules // 2)
    ]
    services = [
        {
            "name": f"service-{v}",
            "team": f"team-{(v // 2) % teams}",
            "escalation_policy": f"policy-{v // 2}",
            "description": f"Service {v}.",
        }
        for v in range(schedules)
    ]
    config = {
        "version": 1,
        "users": users,
        "teams": team_list,
        "schedules": schedule_list,
        "escalation_policies": policies,
        "services": services,
    }
    return yaml.safe_dump(config, sort_keys=False)


async def apply_file(url: str, config_text: str, source: str) -> None:
    db = Database(make_engine(url), SystemClock())
    try:
        await upgrade(db.engine)
        async with db.transaction() as session:
            await apply_config(
                session, parse_config(config_text, source), by="bench", source=source
            )
    finally:
        await db.dispose()


def open_incidents(base: str, services: list[dict[str, Any]], count: int) -> list[int]:
    """Incidents opened the way monitoring opens them: a generic event per alert."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    opened = []
    with (
        httpx.Client(base_url=base, headers=headers, timeout=30) as http,
        # The key is the credential: a bearer token beside it would be taken instead.
        httpx.Client(base_url=base, timeout=30) as monitoring,
    ):
        keys = []
        for service in services:
            answer = http.post(
                f"/api/v1/services/{service['id']}/integrations",
                json={"kind": "generic", "name": "bench"},
            )
            answer.raise_for_status()
            keys.append(httpx.URL(answer.json()["url_with_key"]).path)
        for n in range(count):
            answer = monitoring.post(
                keys[n % len(keys)],
                json={"summary": f"Error rate above 5% on node {n}", "severity": "critical"},
            )
            answer.raise_for_status()
            opened.extend(answer.json()["incidents"])
    return opened


def _columns(table: Table, *, without: tuple[str, ...] = ("id",)) -> list[str]:
    return [c.name for c in table.columns if c.name not in without]


async def copy_incidents(url: str, copies: int) -> int:
    """Each incident ``copies`` times again, resolved, with its alerts, timeline and assignees,
    one INSERT ... SELECT per table (copy k of incident i gets id i + k * step)."""
    db = Database(make_engine(url), SystemClock())
    incidents: Table = Incident.__table__  # type: ignore[assignment]
    try:
        async with db.transaction() as session:
            step = int(await session.scalar(select(func.max(Incident.id))) or 0) + 1
            series = f"generate_series(1, {int(copies)}) AS k(k)"
            shifted = {
                "state": "'resolved'",
                "group_key": "NULL",
                "next_escalation_at": "NULL",
                "ack_expires_at": "NULL",
                "created_at": "i.created_at - k.k * INTERVAL '37 minutes'",
            }
            shifted["resolved_at"] = shifted["created_at"]
            names = _columns(incidents, without=())
            chosen = [
                f"i.id + k.k * {step}" if n == "id" else shifted.get(n, f"i.{n}") for n in names
            ]
            await session.execute(
                text(
                    f"INSERT INTO incidents ({', '.join(names)}) "  # noqa: S608 - our own names
                    f"SELECT {', '.join(chosen)} FROM incidents i, {series} WHERE i.id < {step}"
                )
            )
            for model, status in (
                (IncidentEvent, None),
                (IncidentAssignee, None),
                (Alert, "'resolved'"),
            ):
                table: Table = model.__table__  # type: ignore[assignment]
                names = _columns(table)
                chosen = [
                    f"t.incident_id + k.k * {step}"
                    if n == "incident_id"
                    else (status if n == "status" and status else f"t.{n}")
                    for n in names
                ]
                await session.execute(
                    text(
                        f"INSERT INTO {table.name} ({', '.join(names)}) "  # noqa: S608
                        f"SELECT {', '.join(chosen)} FROM {table.name} t, {series} "
                        f"WHERE t.incident_id < {step}"
                    )
                )
            await session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('incidents', 'id'), max(id))"
                    " FROM incidents"
                )
            )
            return int(await session.scalar(select(func.count()).select_from(Incident)) or 0)
    finally:
        await db.dispose()


# -------------------------------------------------------------------------------- measuring


@dataclass
class World:
    name: str
    base: str
    cookie: dict[str, str]
    paths: dict[str, str]


def sign_in_cookies(base: str) -> dict[str, str]:
    """The admin's session, opened as a browser opens it: the sign-in page, then its token form."""
    with httpx.Client(base_url=base, timeout=30) as http:
        form = http.get("/sign-in")
        token = CSRF_FIELD.search(form.text)
        if token is None:
            raise SystemExit("no CSRF token on the sign-in page")
        answer = http.post(
            "/sign-in/token", data={"csrf_token": token.group(1), "token": TOKEN, "next": "/"}
        )
        if answer.status_code != 303 or "baton_session" not in http.cookies:
            raise SystemExit(f"sign-in failed: {answer.status_code} {answer.text[:300]}")
        return dict(http.cookies)


def page_paths(base: str, incident: int) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        schedule = http.get("/api/v1/schedules", params={"limit": 1}).json()["items"][0]["id"]
        service = http.get("/api/v1/services", params={"limit": 1}).json()["items"][0]["id"]
    return {
        template: template.format(incident=incident, schedule=schedule, service=service)
        for template in PAGES
    }


def measure(world: World, rounds: int, warmup: int) -> dict[str, list[float]]:
    names = ["whoami", *world.paths]
    samples: dict[str, list[float]] = {name: [] for name in names}
    shuffle = random.Random(13)
    with (
        httpx.Client(base_url=world.base, cookies=world.cookie, timeout=30) as pages,
        httpx.Client(
            base_url=world.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        ) as api,
    ):
        for round_number in range(warmup + rounds):
            order = names[:]
            shuffle.shuffle(order)
            for name in order:
                client, path = (
                    (api, "/api/v1/whoami") if name == "whoami" else (pages, world.paths[name])
                )
                began = clock.perf_counter_ns()
                response = client.get(path)
                elapsed = (clock.perf_counter_ns() - began) / 1e6
                if response.status_code != 200:
                    raise SystemExit(f"{world.name} {path}: HTTP {response.status_code}")
                if round_number >= warmup:
                    samples[name].append(elapsed)
    return samples


def report(results: dict[str, dict[str, list[float]]]) -> bool:
    worlds = list(results)
    met = True
    header = " | ".join(f"{w} median / p90 | {w} ratio" for w in worlds)
    print(f"| page | {header} |")
    print("| --- |" + " --- | --- |" * len(worlds))
    rows = ["whoami", *[name for name in results[worlds[0]] if name != "whoami"]]
    for name in rows:
        cells = []
        for world in worlds:
            values = results[world][name]
            median = statistics.median(values)
            ratio = median / statistics.median(results[world]["whoami"])
            mark = ""
            if name != "whoami" and median >= TARGETS_MS[world]:
                mark, met = " (over)", False
            cells.append(f"{median:.1f} / {percentile(values, 90):.1f} ms{mark}")
            cells.append(f"{ratio:.1f}x")
        print(f"| `{name}` | " + " | ".join(cells) + " |")
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE, help="PostgreSQL URL")
    parser.add_argument("--incidents", type=int, default=10_000)
    options = parser.parse_args()
    rounds, warmup = (20, 3) if options.quick else (100, 10)

    def database(suffix: str) -> str:
        return fresh_database(f"{options.database_url}_{suffix}")

    results: dict[str, dict[str, list[float]]] = {}
    began = clock.monotonic()
    for name in ("demo", "large"):
        url = database(name)
        if name == "demo":
            asyncio.run(apply_file(url, DEMO_CONFIG.read_text(), str(DEMO_CONFIG)))
        else:
            asyncio.run(apply_file(url, large_config(), "large organisation"))
        port = free_port()
        server = serve(url, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}) as h:
                services = h.get("/api/v1/services", params={"limit": 200}).json()["items"]
            opened = open_incidents(base, services, 30 if name == "demo" else 100)
            if name == "large":
                copies = max(0, options.incidents // len(opened) - 1)
                total = asyncio.run(copy_incidents(url, copies))
                print(f"large: {total} incidents ({clock.monotonic() - began:.0f}s so far)")
            world = World(name, base, sign_in_cookies(base), page_paths(base, opened[-1]))
            results[name] = measure(world, rounds, warmup)
        finally:
            server.should_exit = True
            clock.sleep(0.5)
    backend = make_url(options.database_url)
    print(
        f"\n{machine()}, {today()}, {backend.get_backend_name()}, {rounds} rounds, "
        f"every page and whoami in each, shuffled; built in {clock.monotonic() - began:.0f}s\n"
    )
    met = report(results)
    print(
        f"\ntargets: median < {TARGETS_MS['demo']:.0f} ms (demo), "
        f"< {TARGETS_MS['large']:.0f} ms (large) -> {'met' if met else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
