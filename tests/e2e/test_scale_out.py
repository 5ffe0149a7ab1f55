"""Several Baton processes on one PostgreSQL page exactly once, even when one is SIGKILLed.

Three real ``baton serve`` processes share a database. Hundreds of alerts are fired at them in
parallel (a sender retries elsewhere when a process disappears, as Alertmanager would); one
process is killed with SIGKILL in the middle. Every alert must become an incident, every page
must reach the receiver, only a delivery the killed process was in the middle of may arrive a
second time (with the same ``X-Baton-Delivery``), and escalation must go on in the survivors.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.processes import BatonProcess, migrate, seed_paging, wait_until
from tests.fakes.webhook import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "baton_e2e-scale-out-token-0123456789abcdef"
ALERTS = 300
PROCESSES = 3


def _query(database_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchall()


async def _fire_all(
    bases: list[BatonProcess], key: str, kill_after: int, victim: BatonProcess
) -> None:
    """Send every alert until some process answers 2xx; kill one process midway."""
    targets = itertools.cycle(range(len(bases)))
    sent = 0
    lock = asyncio.Lock()

    async def fire(client: httpx.AsyncClient, n: int) -> None:
        nonlocal sent
        body = {
            "summary": f"shard {n} unavailable",
            "dedup_key": f"shard-{n}",
            "severity": "critical",
        }
        refusals: list[str] = []
        # A sender keeps retrying for a while (Alertmanager: until the next group_interval).
        deadline = asyncio.get_running_loop().time() + 60
        for attempt in itertools.count():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"alert {n} was never accepted: {refusals[-5:]}")
            base = bases[(next(targets) + attempt) % len(bases)]
            try:
                response = await client.post(
                    f"{base.url}/api/v1/integrations/generic",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
            except httpx.HTTPError as exc:
                refusals.append(f"{base.url}: {type(exc).__name__}")
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 202:
                break
            # Back-pressure is allowed (the sender retries); a server error is a bug.
            assert response.status_code in (429, 503), response.text
            refusals.append(f"{base.url}: {response.status_code} {response.text[:200]}")
            await asyncio.sleep(0.1)
        async with lock:
            sent += 1
            if sent == kill_after:
                victim.kill()

    async with httpx.AsyncClient() as client:
        limit = asyncio.Semaphore(20)

        async def guarded(n: int) -> None:
            async with limit:
                await fire(client, n)

        await asyncio.gather(*(guarded(n) for n in range(ALERTS)))


async def test_many_processes_page_exactly_once_through_a_crash(
    tmp_path: Path,
    process_database_url: str,
    webhook_receiver: WebhookReceiver,
    database_backend: str,
) -> None:
    if database_backend != "postgresql":
        pytest.skip("replicas coordinate through PostgreSQL; the embedded SQLite is one process")
    migrate(process_database_url)
    env = {
        # Pages to one person's webhook must not be folded into summaries here.
        "BATON_RATE_LIMIT_WEBHOOK": "100000/1m",
        "BATON_INTEGRATION_RATE_PER_SECOND": "10000",
        "BATON_SEND_TIMEOUT_SECONDS": "10",
    }
    processes = [
        BatonProcess(process_database_url, TOKEN, env_extra=env).start(tmp_path)
        for _ in range(PROCESSES)
    ]
    victim = processes[1]
    try:
        seeded = seed_paging(
            processes[0], webhook_receiver.url_for("").rstrip("/"), users=2, delay_minutes=1
        )
        await _fire_all(processes, seeded["key"], kill_after=ALERTS // 2, victim=victim)

        # Every alert became exactly one incident.
        incidents = _query(process_database_url, "SELECT count(*) FROM incidents")[0][0]
        alerts = _query(
            process_database_url, "SELECT count(DISTINCT dedup_key), count(*) FROM alerts"
        )[0]
        assert incidents == ALERTS and alerts == (ALERTS, ALERTS)

        # Step one: every incident's page is settled (sent, or failed as unknown in the victim).
        def first_pages_settled() -> bool:
            counts = dict(
                _query(
                    process_database_url,
                    "SELECT status, count(*) FROM notifications GROUP BY status",
                )
            )
            return counts.get("pending", 0) + counts.get("sending", 0) == 0

        wait_until(first_pages_settled, timeout=60, interval=0.5, what="first pages settled")

        # Step two, one minute later, is run by the survivors for every incident.
        def everyone_escalated() -> bool:
            rows = _query(
                process_database_url,
                "SELECT count(DISTINCT incident_id) FROM pages WHERE escalation_step = 1",
            )
            return rows[0][0] == ALERTS

        wait_until(everyone_escalated, timeout=120, interval=1, what="second step for all")
        wait_until(first_pages_settled, timeout=60, interval=0.5, what="second pages settled")
        await asyncio.sleep(1)

        deliveries = Counter(r.header("X-Baton-Delivery") for r in webhook_receiver.events)
        statuses = dict(
            _query(
                process_database_url, "SELECT status, count(*) FROM notifications GROUP BY status"
            )
        )
        # A webhook the victim was sending when it died is sent again with the same delivery
        # id (receivers deduplicate on it): repeats only for what it had claimed, each once.
        repeats = {k: v for k, v in deliveries.items() if v > 1}
        assert all(v == 2 for v in repeats.values()), f"sent more than twice: {repeats}"
        assert len(repeats) <= 100, f"repeats beyond one claimed batch: {len(repeats)}"
        assert statuses == {"sent": 2 * ALERTS}, statuses
        all_ids = {str(i) for (i,) in _query(process_database_url, "SELECT id FROM notifications")}
        assert set(deliveries) == all_ids, "every page reached the receiver"
        per_user = Counter(
            r.path
            for r in {r.header("X-Baton-Delivery"): r for r in webhook_receiver.events}.values()
        )
        assert per_user["/user1"] == ALERTS, "the second step reached everyone once"
        webhook_receiver.consume_all()
    finally:
        for process in processes:
            process.stop()
        if os.environ.get("BATON_E2E_KEEP_LOGS"):
            for process in processes:
                print(process.logs())
