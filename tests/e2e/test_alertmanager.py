"""End to end with the real Prometheus Alertmanager (Debian's prometheus-alertmanager).

Alertmanager posts to a real ``baton serve``; Baton pages the on-call person (a webhook pager
recorded by a real HTTP server); resolving the alert at the source resolves the incident.
"""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.processes import (
    BatonProcess,
    free_port,
    migrate,
    require_binary,
    seed_paging,
    wait_until,
    wait_until_caught_up,
)
from tests.fakes.webhook import WebhookReceiver
from tests.paging import FIXTURES

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "baton_e2e-alertmanager-token-0123456789abcdef"


def _config(baton: BatonProcess, key: str) -> dict:
    config = yaml.safe_load((FIXTURES / "alertmanager" / "alertmanager.yml").read_text())
    hook = config["receivers"][0]["webhook_configs"][0]
    # The path segment is only a label; the secret travels as the bearer token, because
    # Alertmanager 0.25 logs webhook URLs.
    hook["url"] = f"{baton.url}/api/v1/integrations/alertmanager/payments-prod"
    hook["http_config"]["authorization"]["credentials"] = key
    return config


def _start_alertmanager(binary: str, config: Path, storage: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            f"--web.external-url={url}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read().decode() if process.stdout else "exited")
        try:
            return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, timeout=30, what="alertmanager ready")
    return process, url


async def test_alertmanager_pages_and_resolves_through_baton(
    tmp_path: Path, process_database_url: str, webhook_receiver: WebhookReceiver
) -> None:
    binary = require_binary("prometheus-alertmanager")
    migrate(process_database_url)
    baton = BatonProcess(process_database_url, TOKEN).start(tmp_path)
    alertmanager = None
    try:
        seeded = seed_paging(
            baton, webhook_receiver.url_for("").rstrip("/"), users=1, integration="alertmanager"
        )
        config = tmp_path / "alertmanager.yml"
        config.write_text(yaml.safe_dump(_config(baton, seeded["key"])))
        storage = tmp_path / "am-data"
        storage.mkdir()
        alertmanager, am_url = _start_alertmanager(binary, config, storage)

        alert = {
            "labels": {
                "alertname": "HighErrorRate",
                "service": "payments-api",
                "severity": "critical",
                "env": "prod",
            },
            "annotations": {
                "summary": "payments-api 5xx ratio above 5%",
                "runbook_url": "https://runbooks.example.internal/x",
            },
            "startsAt": datetime.now(UTC).isoformat(),
            "generatorURL": "http://prometheus.example.internal/graph",
        }
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{am_url}/api/v2/alerts", json=[alert])).status_code == 200

        page = await webhook_receiver.expect_event(
            "payments-api 5xx ratio above 5%", path="/user0", timeout=30
        )
        incident_id = page.json["incident"]["incident_id"]
        incident = baton.api("GET", f"/api/v1/incidents/{incident_id}")
        assert incident["state"] == "triggered"
        assert incident["group_key"] == '{}:{alertname="HighErrorRate", service="payments-api"}'
        assert incident["alerts"][0]["severity"] == "critical"

        resolved = {**alert, "endsAt": datetime.now(UTC).isoformat()}
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{am_url}/api/v2/alerts", json=[resolved])).status_code == 200
        await asyncio.to_thread(
            wait_until,
            lambda: baton.api("GET", f"/api/v1/incidents/{incident_id}")["state"] == "resolved",
            timeout=45,
            what="incident resolved by Alertmanager",
        )
        final = baton.api("GET", f"/api/v1/incidents/{incident_id}")
        assert final["timeline"][-1]["message"] == (
            "Resolved automatically: every alert resolved at the source"
        )
        # Alertmanager's repeats and retries did not open anything else.
        assert len(baton.api("GET", "/api/v1/incidents")["items"]) == 1
        await asyncio.to_thread(wait_until_caught_up, baton, incident_id, timeout=30)
        webhook_receiver.assert_nothing_sent()
    finally:
        if alertmanager is not None:
            alertmanager.terminate()
            alertmanager.wait(timeout=10)
        baton.stop()
