"""PostgreSQL restarts under load: the engine pauses, nothing acknowledged is lost, paging resumes.

Two real ``baton serve`` processes (API and engine both) on a PostgreSQL cluster of the test's
own. Alerts are fired at them in parallel, each retried by its sender until one answers 2xx
(Alertmanager does); midway the database is stopped for a few seconds and started again, as a
failover to a standby does to clients. Every alert that was answered 2xx must be an incident,
every incident's page must reach the receiver, a delivery may repeat only with the same
``X-Baton-Delivery`` (its outcome was unknown while the database was away), and while the
database is down Baton must answer 503, never 500.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.local_postgres import LocalPostgres
from tests.e2e.processes import BatonProcess, migrate, seed_paging, wait_until
from tests.fakes.webhook import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "baton_e2e-pg-restart-token-0123456789abcdef"
ALERTS = 200
DOWN_SECONDS = 3.0


def _query(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()


async def _fire_all(bases: list[BatonProcess], key: str, restart: threading.Event) -> Counter[int]:
    """Send every alert until a process answers 202; ask for the restart a third of the way."""
    targets = itertools.cycle(range(len(bases)))
    answers: Counter[int] = Counter()
    accepted = 0

    async def fire(client: httpx.AsyncClient, n: int) -> None:
        nonlocal accepted
        body = {
            "summary": f"shard {n} unavailable",
            "dedup_key": f"shard-{n}",
            "severity": "critical",
        }
        deadline = time.monotonic() + 90
        for attempt in itertools.count():
            assert time.monotonic() < deadline, f"alert {n} was never accepted"
            base = bases[(next(targets) + attempt) % len(bases)]
            try:
                response = await client.post(
                    f"{base.url}/api/v1/integrations/generic",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
                continue
            answers[response.status_code] += 1
            if response.status_code == 202:
                break
            assert response.status_code in (429, 503), response.text
            await asyncio.sleep(0.2)
        accepted += 1
        if accepted == ALERTS // 3:
            restart.set()

    async with httpx.AsyncClient() as client:
        limit = asyncio.Semaphore(10)

        async def guarded(n: int) -> None:
            async with limit:
                await fire(client, n)

        await asyncio.gather(*(guarded(n) for n in range(ALERTS)))
    return answers


async def test_a_database_restart_under_load_loses_nothing(
    tmp_path: Path, webhook_receiver: WebhookReceiver, database_backend: str
) -> None:
    if database_backend != "postgresql":
        pytest.skip("runs with the PostgreSQL suite")
    cluster = LocalPostgres().init()
    try:
        url = cluster.create_database("baton")
        migrate(url)
        env = {
            "BATON_RATE_LIMIT_WEBHOOK": "100000/1m",
            "BATON_INTEGRATION_RATE_PER_SECOND": "10000",
            "BATON_SEND_TIMEOUT_SECONDS": "10",
            "BATON_DB_POOL_SIZE": "5",
        }
        processes = [BatonProcess(url, TOKEN, env_extra=env).start(tmp_path) for _ in range(2)]
        try:
            seeded = seed_paging(
                processes[0], webhook_receiver.url_for("").rstrip("/"), users=1, delay_minutes=30
            )
            restart = threading.Event()
            restarted = threading.Event()

            def bounce() -> None:
                restart.wait(timeout=120)
                cluster.stop()
                time.sleep(DOWN_SECONDS)
                cluster.start()
                restarted.set()

            bouncer = threading.Thread(target=bounce, daemon=True)
            bouncer.start()
            answers = await _fire_all(processes, seeded["key"], restart)
            bouncer.join(timeout=60)
            assert restarted.is_set(), "the database was not restarted during the run"
            assert answers[202] == ALERTS
            # The senders met the outage (a 503 each time, never a 500) and retried.
            assert answers[503] > 0, answers

            # Every alert answered 2xx is an incident, once.
            incidents = _query(url, "SELECT count(*) FROM incidents")[0][0]
            alerts = _query(url, "SELECT count(DISTINCT dedup_key), count(*) FROM alerts")[0]
            assert incidents == ALERTS and alerts == (ALERTS, ALERTS)

            # Paging resumes: every page is sent (an unknown outcome is sent again, same id).
            def settled() -> bool:
                rows = dict(
                    _query(url, "SELECT status, count(*) FROM notifications GROUP BY status")
                )
                return rows.get("pending", 0) + rows.get("sending", 0) == 0

            wait_until(settled, timeout=90, interval=0.5, what="every page settled")
            statuses = dict(
                _query(url, "SELECT status, count(*) FROM notifications GROUP BY status")
            )
            assert statuses == {"sent": ALERTS}, statuses
            wait_until(
                lambda: (
                    len({r.header("X-Baton-Delivery") for r in webhook_receiver.events}) == ALERTS
                ),
                timeout=30,
                what="every page at the receiver",
            )
            deliveries = Counter(r.header("X-Baton-Delivery") for r in webhook_receiver.events)
            ids = {str(i) for (i,) in _query(url, "SELECT id FROM notifications")}
            assert set(deliveries) == ids
            assert max(deliveries.values()) <= 2, deliveries.most_common(3)
            # Both processes are healthy again, their schema current and engine on time.
            for process in processes:
                wait_until(
                    lambda p=process: httpx.get(f"{p.url}/readyz", timeout=5).status_code == 200,
                    timeout=60,
                    what=f"{process.url} ready again",
                )
            webhook_receiver.consume_all()
        finally:
            for process in processes:
                process.stop()
    finally:
        cluster.destroy()
