"""What the deploy watch costs when an incident opens, on SQLite and PostgreSQL.

Target (issue 14): looking up deploys in the watch window adds at most 5 % to the cost of
opening an incident. One server, services on the same escalation policy, each with its
own Alertmanager key:

* ``none``: no deploys (and ``control``, another such service: the noise floor);
* ``past``: 10,000 deploys spread over the last 90 days, the latest two hours ago (outside its
  30-minute watch): the lookup runs and finds nothing, as for most incidents;
* ``nearby``: the same 10,000 deploys, the latest five minutes ago: every incident also names
  the deploy (timeline event, link, the deploy marked suspect) — the whole feature, for scale.

``wrk`` sends single-alert Alertmanager webhooks, each opening an incident that pages someone
(the alert benchmark's new-incident phase), to each service in turn: phases interleaved and
rotated every round, so each sees the same machine weather. Reported: new incidents/s and the
median request latency of each phase, and their ratios to ``none``.

Run: ``python -m bench.bench_deploy_watch`` (``--quick`` for a short run; ``--backends sqlite``
or ``postgresql`` for one). PostgreSQL as in the alert benchmark (``BATON_BENCH_PG``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, insert, select

from app.catalog.models import Service
from app.core.clock import SystemClock
from app.core.db import Database, make_engine
from app.deploys import service as deploys
from app.deploys.models import Deployment, DeploySource, DeployStatus
from bench.bench_alerts import WRK_SCRIPT
from bench.harness import PageRecorder, Server, machine, postgres_database, run_wrk, seed, today

DEPLOYS = 10_000
SPREAD = timedelta(days=90)
# "control" is a second service without deploys: its ratio to "none" is the noise floor.
PHASES = ("none", "control", "past", "nearby")
LATEST = {"past": timedelta(hours=2), "nearby": timedelta(minutes=5)}
# Few enough that requests do not queue behind each other (a saturated server's latency is its
# queue), enough to keep the server busy.
CONNECTIONS = 4


def _sync_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _async_url(url: str) -> str:
    return _sync_url(url).replace("sqlite://", "sqlite+aiosqlite://", 1)


def insert_deploys(database_url: str, service_id: int, latest_ago: timedelta) -> None:
    """10,000 finished deploys evenly over the 90 days before ``latest_ago``, in bulk."""
    now = datetime.now(UTC)
    last = now - latest_ago
    step = (SPREAD - latest_ago) / (DEPLOYS - 1)
    rows = []
    for n in range(DEPLOYS):
        started = now - SPREAD + n * step
        rows.append(
            {
                "service_id": service_id,
                "environment": "production",
                "version": f"v{n + 1}",
                "previous_version": f"v{n}" if n else "",
                "commit_sha": f"{n:040x}",
                "status": DeployStatus.SUCCEEDED,
                "source": DeploySource.API,
                "started_at": started,
                "finished_at": min(started + timedelta(minutes=4), last),
                "links": [],
                "details": {},
                "created_at": started,
                "updated_at": started,
            }
        )
    engine = create_engine(_sync_url(database_url))
    try:
        with engine.begin() as conn:
            for start in range(0, DEPLOYS, 1000):
                conn.execute(insert(Deployment.__table__), rows[start : start + 1000])
    finally:
        engine.dispose()


_LATENCY_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, key: str, seconds: float, connections: int) -> tuple[float, float]:
    """(requests/s, median latency in ms) of single-alert webhooks, each a new incident."""
    lua = WRK_SCRIPT % {"alerts": 1, "key": key, "groups": 0}
    out = run_wrk(url, lua, seconds, connections, latency=True)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    median = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    if rate is None or median is None:
        raise RuntimeError(out)
    return float(rate.group(1)), float(median.group(1)) * _LATENCY_UNITS[median.group(2)]


def _service_with_key(server: Server, name: str, team_id: int, policy_id: int) -> dict[str, Any]:
    service = server.api(
        "POST",
        "/api/v1/services",
        json={"name": name, "team_id": team_id, "escalation_policy_id": policy_id},
    )
    key = server.api(
        "POST",
        f"/api/v1/services/{service['id']}/integrations",
        json={"kind": "alertmanager", "name": "bench"},
    )["key"]
    return {"service": service, "key": key}


def _named_a_deploy(server: Server, service_id: int) -> bool:
    """Whether the service's latest incident followed a deploy (the watch found one)."""
    latest = server.api("GET", "/api/v1/incidents", params={"service_id": service_id, "limit": 1})
    incident = latest["items"][0]["id"]
    return bool(server.api("GET", f"/api/v1/incidents/{incident}/deploys"))


async def _lookup_costs(database_url: str, service_ids: dict[str, int]) -> dict[str, float]:
    """In process, for scale: the watch's lookup (``deploys.nearby``) per service, and the
    cheapest query there is (a primary-key read) as the floor, in ms per call."""
    db = Database(make_engine(_async_url(database_url)), SystemClock())
    costs: dict[str, float] = {}
    try:
        async with db.transaction() as session:
            for phase, service_id in service_ids.items():
                service = await session.get(Service, service_id)
                assert service is not None
                now = datetime.now(UTC)
                started = time.perf_counter()
                for _ in range(300):
                    await deploys.nearby(session, service, now)
                costs[f"lookup_{phase}_ms"] = round((time.perf_counter() - started) / 0.3, 3)
            started = time.perf_counter()
            for _ in range(300):
                await session.scalar(select(Service.id).where(Service.id == service_id))
            costs["primary_key_read_ms"] = round((time.perf_counter() - started) / 0.3, 3)
    finally:
        await db.dispose()
    return costs


def run(
    backend: str, database_url: str, seconds: float, rounds: int, phases: tuple[str, ...]
) -> dict[str, Any]:
    recorder = PageRecorder()
    # The recording pager listens on loopback; production allows no private network.
    server = Server(database_url, {"BATON_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8"}).start()
    try:
        seeded = seed(server, recorder.url)
        base = seeded["service"]
        services = {"none": {"service": base, "key": seeded["key"]}}
        for phase in phases[1:]:
            services[phase] = _service_with_key(
                server, f"bench-{phase}", base["team_id"], base["escalation_policy_id"]
            )
            if phase in LATEST:
                insert_deploys(database_url, services[phase]["service"]["id"], LATEST[phase])
        url = f"{server.url}/api/v1/integrations/alertmanager"
        # Warm-up: first requests pay for imports, caches and connections.
        for phase in phases:
            wrk(url, services[phase]["key"], 2, CONNECTIONS)
        rates: dict[str, list[float]] = {p: [] for p in phases}
        medians: dict[str, list[float]] = {p: [] for p in phases}
        for n in range(rounds):
            turn = n % len(phases)
            order = phases[turn:] + phases[:turn]
            for phase in order:
                rate, median = wrk(url, services[phase]["key"], seconds, CONNECTIONS)
                rates[phase].append(rate)
                medians[phase].append(median)
            time.sleep(0.5)  # let the pages of the round drain
        found = {p: _named_a_deploy(server, services[p]["service"]["id"]) for p in phases}
    finally:
        server.stop()
        recorder.close()
    assert found == {p: p == "nearby" for p in phases}, found
    ids = {p: services[p]["service"]["id"] for p in ("none", "past")}

    def ratios(values: dict[str, list[float]], phase: str) -> list[float]:
        return [round(a / b, 3) for a, b in zip(values[phase], values["none"], strict=True)]

    result: dict[str, Any] = {
        "backend": backend,
        "rounds": rounds,
        "seconds": seconds,
        "in_process": asyncio.run(_lookup_costs(database_url, ids)),
    }
    for phase in phases:
        result[phase] = {
            "incidents_per_s": round(statistics.fmean(rates[phase]), 1),
            "median_ms": round(statistics.median(medians[phase]), 2),
            "runs_per_s": rates[phase],
            "runs_median_ms": medians[phase],
        }
        if phase != "none":
            result[phase]["rate_ratio"] = round(
                statistics.fmean(rates[phase]) / statistics.fmean(rates["none"]), 3
            )
            result[phase]["median_ratio"] = round(
                statistics.median(medians[phase]) / statistics.median(medians["none"]), 3
            )
            # Each round's ratio compares phases seconds apart: their median is the figure least
            # moved by the machine's weather.
            result[phase]["round_rate_ratios"] = ratios(rates, phase)
            result[phase]["round_median_ratios"] = ratios(medians, phase)
            result[phase]["median_round_rate_ratio"] = statistics.median(ratios(rates, phase))
            result[phase]["median_round_latency_ratio"] = statistics.median(ratios(medians, phase))
    return result


def _phases(backend: str, nearby: list[str]) -> tuple[str, ...]:
    return PHASES if backend in nearby else PHASES[:3]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument(
        "--nearby",
        nargs="*",
        default=["sqlite", "postgresql"],
        help="Backends that also run the `nearby` phase (default: both).",
    )
    args = parser.parse_args()
    seconds, rounds = (2.0, 3) if args.quick else (2.0, 8)
    runs = []
    for backend in args.backends:
        if backend == "sqlite":
            with tempfile.TemporaryDirectory() as where:
                url = f"sqlite:///{where}/bench-deploys.db"
                runs.append(run(backend, url, seconds, rounds, _phases(backend, args.nearby)))
        else:
            with postgres_database("baton_bench_deploys") as url:
                runs.append(run(backend, url, seconds, rounds, _phases(backend, args.nearby)))
    print(json.dumps({"date": today(), "machine": machine(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
