"""A real ``baton serve`` SIGKILLed in the middle of sending a page leaves nobody uncovered.

Alice's only rule is e-mail. The fake SMTP server sits on the message's DATA command while the
process is killed, so nobody knows whether Alice got it. The restarted process must not e-mail
her again (an e-mail could be a text or a call: a double page at 3 a.m.), and must not wait ten
minutes either: Bob, the next step, is paged as soon as the unknown send is noticed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import BatonProcess, migrate, wait_until, wait_until_caught_up
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "baton_e2e-crash-mid-send-token-0123456789ab"


def _seed(baton: BatonProcess, bob_pager: str) -> str:
    team = baton.api("POST", "/api/v1/teams", json={"name": "sre", "kind": "ops"})
    alice, bob = (
        baton.api("POST", "/api/v1/users", json={"name": name, "email": f"{name}@example.com"})
        for name in ("alice", "bob")
    )
    for user, kind, address in ((alice, "email", "alice@example.com"), (bob, "webhook", bob_pager)):
        method = baton.api(
            "POST",
            f"/api/v1/users/{user['id']}/contact-methods",
            json={"type": kind, "address": address},
        )
        baton.api(
            "POST",
            f"/api/v1/users/{user['id']}/notification-rules",
            json={"contact_method_id": method["id"], "delay_minutes": 0},
        )
    policy = baton.api(
        "POST",
        "/api/v1/escalation-policies",
        json={
            "name": "ladder",
            "team_id": team["id"],
            "steps": [
                {"delay_minutes": 10, "targets": [{"kind": "user", "user_id": alice["id"]}]},
                {"delay_minutes": 10, "targets": [{"kind": "user", "user_id": bob["id"]}]},
            ],
        },
    )
    service = baton.api(
        "POST",
        "/api/v1/services",
        json={"name": "payments-api", "team_id": team["id"], "escalation_policy_id": policy["id"]},
    )
    return baton.api(
        "POST",
        f"/api/v1/services/{service['id']}/integrations",
        json={"kind": "generic", "name": "e2e"},
    )["key"]


async def test_killed_mid_send_the_next_step_is_paged_at_once(
    process_database_url: str,
    tmp_path: Path,
    fake_smtp: FakeSMTP,
    webhook_receiver: WebhookReceiver,
) -> None:
    migrate(process_database_url)
    env = {
        "BATON_SMTP_HOST": fake_smtp.host,
        "BATON_SMTP_PORT": str(fake_smtp.port),
        "BATON_SMTP_STARTTLS": "false",
        "BATON_SMTP_FROM": "Baton <baton@example.test>",
        # The shortest deadline Baton allows: recovery judges the send soon after the restart.
        "BATON_SEND_TIMEOUT_SECONDS": "5",
    }
    first = BatonProcess(process_database_url, TOKEN, env_extra=env).start(tmp_path)
    second = BatonProcess(process_database_url, TOKEN, env_extra=env)
    try:
        key = _seed(first, webhook_receiver.url_for("/bob"))
        held = fake_smtp.hold_next(60)
        async with httpx.AsyncClient(timeout=30) as sender:
            response = await sender.post(
                f"{first.url}/api/v1/integrations/generic",
                json={"summary": "checkout down", "severity": "critical"},
                headers={"Authorization": f"Bearer {key}"},
            )
        assert response.status_code == 202, response.text
        incident = response.json()
        wait_until(lambda: held.hits == 1, timeout=20, what="the page to reach SMTP DATA")
        first.kill()

        second.start(tmp_path)
        page = await webhook_receiver.expect_event(
            path="/bob", match={"event": "incident.page"}, timeout=45
        )
        incident_id = incident["incidents"][0]
        assert page.json["incident"]["incident_id"] == incident_id
        await asyncio.to_thread(wait_until_caught_up, second, incident_id, timeout=30)
        webhook_receiver.assert_nothing_sent()
        fake_smtp.assert_nothing_sent()  # Alice is not e-mailed twice

        kinds = [e["kind"] for e in second.api("GET", f"/api/v1/incidents/{incident_id}/timeline")]
        assert "escalation_brought_forward" in kinds
        [alice_page] = [
            n
            for n in second.api("GET", f"/api/v1/incidents/{incident_id}/notifications")
            if n["contact_type"] == "email"
        ]
        assert alice_page["status"] == "failed" and "outcome unknown" in alice_page["last_error"]
    finally:
        first.kill()
        second.stop()
