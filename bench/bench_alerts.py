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
import itertools
import json
import random
import re
import statistics
import threading
import time
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
from bench.server import BARE_TABLE

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
    phases = (
        ("bare", "/bench/bare", 0),
        ("new_incidents", "/api/v1/integrations/alertmanager", 0),
        ("joining_groups", "/api/v1/integrations/alertmanager", 10),
    )
    results: dict[str, list[float]] = {name: [] for name, _, _ in phases}
    for _ in range(rounds):
        # Alternate, so every phase sees the same machine weather.
        for name, path, groups in phases:
            results[name].append(
                _wrk(f"{server.url}{path}", key, seconds, concurrency, groups=groups)
            )
    sampling.set()
    sampler.join()
    rate = {name: statistics.fmean(runs) for name, runs in results.items()}
    return {
        "bare_requests_per_s": round(rate["bare"], 1),
        "new_incidents": {
            "requests_per_s": round(rate["new_incidents"], 1),
            "alerts_per_s": round(rate["new_incidents"] * 10, 1),
            "ratio_to_bare": round(rate["new_incidents"] / rate["bare"], 3),
        },
        "joining_groups": {
            "requests_per_s": round(rate["joining_groups"], 1),
            "alerts_per_s": round(rate["joining_groups"] * 10, 1),
            "ratio_to_bare": round(rate["joining_groups"] / rate["bare"], 3),
        },
        "peak_rss_mb": round(max(rss), 1) if rss else None,
        "runs": results,
    }


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


def run(workers: int, seconds: float, rounds: int) -> dict[str, Any]:
    recorder = PageRecorder()
    with postgres_database("baton_bench") as url:
        server = Server(url, workers=workers).start()
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(BARE_TABLE)
            seeded = seed(server, recorder.url)
            result: dict[str, Any] = {
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
        finally:
            server.stop()
            recorder.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    seconds, rounds = (5.0, 1) if args.quick else (15.0, 2)
    runs = [run(w, seconds, rounds) for w in args.workers]
    report = {"date": today(), "machine": machine(), "runs": runs}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
