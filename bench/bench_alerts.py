"""Alert ingestion and paging on PostgreSQL, against a real `baton serve`-like server.

Measured side by side in one run:

* throughput of the Alertmanager endpoint (webhooks of 10 alerts, distinct fingerprints, each a
  new incident that pages someone) against a bare endpoint of the same app that inserts one row
  per request, in alternating phases;
* latency from "alert accepted" (the 2xx reached the sender) to "first notification handed to
  the provider" (the page reached a webhook pager) at a steady 100 alerts/s;
* peak RSS of the server process under that load.

Run: ``python -m bench.bench_alerts`` (``--quick`` for a short run). Needs PostgreSQL
(``BATON_BENCH_PG``, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from bench.harness import (
    PageRecorder,
    Server,
    machine,
    postgres_database,
    run_wrk,
    seed,
    summary,
    today,
)
from bench.server import BARE_TABLE, BARE_TABLE_SQLITE

_ids = itertools.count(random.randrange(1, 2**40))


def webhook(alerts: int) -> dict[str, Any]:
    n = next(_ids)
    items = []
    for i in range(alerts):
        labels = {
            "alertname": "BenchAlert",
            "service": "bench-api",
            "shard": f"{n}-{i}",
            "severity": "critical",
        }
        items.append(
            {
                "status": "firing",
                "labels": labels,
                "annotations": {"summary": f"shard {n}-{i} is unhappy"},
                "startsAt": "2026-03-14T09:26:53.512Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": f"{(n * 64 + i):016x}",
            }
        )
    return {
        "receiver": "baton",
        "status": "firing",
        "alerts": items,
        "groupLabels": {"alertname": "BenchAlert", "group": str(n)},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am",
        "version": "4",
        "groupKey": f'{{}}:{{group="{n}"}}',
        "truncatedAlerts": 0,
    }


WRK_SCRIPT = r"""
-- Each request is an Alertmanager webhook of %(alerts)d new alerts (distinct fingerprints): in a
-- new group each time when groups is 0 (every request opens an incident and pages), else in
-- one of that many groups (the alerts join open incidents).
local counter = 0
local prefix = 0
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = math.random(1, 2147483647)
end
request = function()
  counter = counter + 1
  local items = {}
  for i = 0, %(alerts)d - 1 do
    local shard = prefix .. "-" .. counter .. "-" .. i
    local fp = string.format("%%08x%%08x", prefix, counter * 64 + i)
    items[#items + 1] = '{"status":"firing","labels":{"alertname":"BenchAlert",' ..
      '"service":"bench-api","shard":"' .. shard .. '","severity":"critical"},' ..
      '"annotations":{"summary":"shard ' .. shard .. ' is unhappy"},' ..
      '"startsAt":"2026-03-14T09:26:53.512Z","endsAt":"0001-01-01T00:00:00Z",' ..
      '"generatorURL":"","fingerprint":"' .. fp .. '"}'
  end
  local group = prefix .. "-" .. (%(groups)d > 0 and (counter %% %(groups)d) or counter)
  local body = '{"receiver":"baton","status":"firing","alerts":[' .. table.concat(items, ",") ..
    '],"groupLabels":{"alertname":"BenchAlert","group":"' .. group .. '"},' ..
    '"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am","version":"4",' ..
    '"groupKey":"group-' .. group .. '","truncatedAlerts":0}'
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer %(key)s"}, body)
end
"""


def _wrk(
    url: str, key: str, seconds: float, connections: int, alerts: int = 10, groups: int = 0
) -> float:
    """Requests per second that wrk sustained against ``url``."""
    lua = WRK_SCRIPT % {"alerts": alerts, "key": key, "groups": groups}
    out = run_wrk(url, lua, seconds, connections)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(out)
    return float(match.group(1))


PHASES = (
    # name, path, alerts per webhook, groups (0: every webhook opens an incident and pages)
    ("bare", "/bench/bare", 1, 0),
    ("single_alert_new_incidents", "/api/v1/integrations/alertmanager", 1, 0),
    ("ten_alert_new_incidents", "/api/v1/integrations/alertmanager", 10, 0),
    ("ten_alerts_joining_groups", "/api/v1/integrations/alertmanager", 10, 10),
)


def throughput(
    server: Server, key: str, *, seconds: float, rounds: int, concurrency: int
) -> dict[str, Any]:
    rss: list[float] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            rss.append(server.rss_mb())
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    results: dict[str, list[float]] = {name: [] for name, *_ in PHASES}
    for _ in range(rounds):
        # Alternate, so every phase sees the same machine weather.
        for name, path, alerts, groups in PHASES:
            results[name].append(
                _wrk(f"{server.url}{path}", key, seconds, concurrency, alerts=alerts, groups=groups)
            )
    sampling.set()
    sampler.join()
    rate = {name: statistics.fmean(runs) for name, runs in results.items()}
    bare = rate["bare"]
    report: dict[str, Any] = {"bare_requests_per_s": round(bare, 1)}
    for name, _, alerts, _ in PHASES[1:]:
        report[name] = {
            "requests_per_s": round(rate[name], 1),
            "alerts_per_s": round(rate[name] * alerts, 1),
            "requests_ratio_to_bare": round(rate[name] / bare, 3),
            "alerts_ratio_to_bare": round(rate[name] * alerts / bare, 3),
        }
    report["peak_rss_mb"] = round(max(rss), 1) if rss else None
    report["runs"] = results
    return report


def profile(
    server: Server, key: str, *, seconds: float, concurrency: int, alerts: int, groups: int
) -> dict[str, Any]:
    """Where the server's CPU goes under one phase's load: py-spy samples the process while wrk
    drives it; the result is the share of samples by the library each frame's code lives in
    (self time) and the hottest functions (self time)."""
    assert server.process is not None
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(server.process.pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    requests = _wrk(
        f"{server.url}/api/v1/integrations/alertmanager",
        key,
        seconds,
        concurrency,
        alerts=alerts,
        groups=groups,
    )
    spy.wait(timeout=seconds + 30)
    stacks = raw.read_text().splitlines()
    raw.unlink()
    return {"requests_per_s": requests, **folded_profile(stacks)}


_LIBRARIES = (
    ("sqlalchemy/orm", "SQLAlchemy ORM"),
    ("sqlalchemy/", "SQLAlchemy Core (statements, results)"),
    ("psycopg", "psycopg (driver)"),
    ("aiosqlite", "aiosqlite (driver)"),
    ("sqlite3", "sqlite3 (driver)"),
    ("pydantic", "pydantic"),
    ("starlette/", "Starlette/FastAPI"),
    ("fastapi/", "Starlette/FastAPI"),
    ("uvicorn/", "uvicorn, httptools"),
    ("asyncio/", "asyncio"),
    ("json/", "json"),
    ("prometheus_client", "prometheus_client"),
    ("app/", "Baton"),
)


def _library(frame: str) -> str:
    for needle, name in _LIBRARIES:
        if needle in frame:
            return name
    return "other (Python, stdlib)"


def folded_profile(lines: list[str]) -> dict[str, Any]:
    """Self-time shares from py-spy's folded stacks ("frame;frame;frame count")."""
    by_library: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        leaf = frames[-1]
        count = int(count_text)
        busy += count
        by_library[_library(leaf)] += count
        by_function[leaf.split(" (")[0] + " (" + _short(leaf) + ")"] += count
    share = {name: round(100 * n / busy, 1) for name, n in by_library.most_common()} if busy else {}
    hot = [
        {"function": name, "percent": round(100 * n / busy, 1)}
        for name, n in by_function.most_common(15)
    ]
    return {"busy_samples": busy, "self_time_percent_by_library": share, "hottest": hot}


def _short(frame: str) -> str:
    inside = frame.rpartition(" (")[2].rstrip(")")
    for marker in ("site-packages/", "/work/", "lib/python3"):
        if marker in inside:
            inside = inside.split(marker, 1)[1]
    return inside.rsplit(":", 1)[0]


async def _open_loop(
    url: str,
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
    alerts: int,
    accepted: dict[int, float],
) -> int:
    """Send webhooks at a fixed rate whatever the answers do (an open loop, like senders)."""
    interval = 1 / rate
    sent = 0
    start = time.perf_counter()

    async def one(session: aiohttp.ClientSession) -> None:
        async with session.post(url, data=json.dumps(webhook(alerts)), headers=headers) as r:
            now = time.time()
            if r.status == 200:
                for incident in (await r.json())["created_incidents"]:
                    accepted[incident] = now

    tasks = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        while time.perf_counter() - start < seconds:
            tasks.append(asyncio.create_task(one(session)))
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
    return sent


def latency(
    server: Server,
    key: str,
    recorder: PageRecorder,
    *,
    alerts_per_second: float,
    alerts_per_webhook: int,
    seconds: float,
) -> dict[str, Any]:
    """From "accepted" (the sender got its 2xx) to "the page reached the pager", for webhooks
    that each open an incident; ``alerts_per_webhook`` alerts travel in each."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    accepted: dict[int, float] = {}
    before = set(recorder.arrivals)
    sent = asyncio.run(
        _open_loop(
            f"{server.url}/api/v1/integrations/alertmanager",
            headers,
            rate=alerts_per_second / alerts_per_webhook,
            seconds=seconds,
            alerts=alerts_per_webhook,
            accepted=accepted,
        )
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not set(accepted) <= set(recorder.arrivals):
        time.sleep(0.2)
    lags = [
        max(0.0, recorder.arrivals[i] - t) * 1000
        for i, t in accepted.items()
        if i in recorder.arrivals and i not in before
    ]
    return {
        "alerts_per_second": alerts_per_second,
        "alerts_per_webhook": alerts_per_webhook,
        "webhooks_sent": sent,
        "incidents": len(accepted),
        "paged": len(lags),
        "missing": len(set(accepted) - set(recorder.arrivals)),
        "ms": {k: round(v, 1) for k, v in summary(lags).items()},
    }


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh database of ``backend`` with the bare endpoint's table."""
    if backend == "postgresql":
        with postgres_database("baton_bench") as url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(BARE_TABLE)
            yield url
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.db"
        with sqlite3.connect(path) as conn:
            conn.execute(BARE_TABLE_SQLITE)
        yield f"sqlite+aiosqlite:///{path}"


def run(backend: str, workers: int, seconds: float, rounds: int, profiled: bool) -> dict[str, Any]:
    recorder = PageRecorder()
    with database(backend) as url:
        server = Server(url, workers=workers).start()
        try:
            seeded = seed(server, recorder.url)
            result: dict[str, Any] = {
                "backend": backend,
                "workers": workers,
                "throughput": throughput(
                    server, seeded["key"], seconds=seconds, rounds=rounds, concurrency=16
                ),
            }
            time.sleep(5)  # let the pages of the throughput phases drain
            result["latency"] = [
                latency(
                    server,
                    seeded["key"],
                    recorder,
                    alerts_per_second=100,
                    alerts_per_webhook=per_webhook,
                    seconds=seconds * 2,
                )
                for per_webhook in (10, 1)
            ]
            if profiled and workers == 1:
                result["profile_single_alert_new_incidents"] = profile(
                    server, seeded["key"], seconds=seconds, concurrency=16, alerts=1, groups=0
                )
        finally:
            server.stop()
            recorder.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--backend", nargs="+", default=["postgresql", "sqlite"], choices=["postgresql", "sqlite"]
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the single-alert phase")
    args = parser.parse_args()
    seconds, rounds = (5.0, 1) if args.quick else (15.0, 2)
    runs = [
        run(backend, w, seconds, rounds, args.profile)
        for backend in args.backend
        for w in args.workers
    ]
    report = {"date": today(), "machine": machine(), "runs": runs}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
