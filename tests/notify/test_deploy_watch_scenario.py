"""Issue 14's whole path: a pipeline's change event, an alert five minutes later, pages that name
the deploy, the deployer's FYI, the cause confirmed from Slack, and the pipeline's gate.

The real ``pagerduty`` client sends the change event and ``baton deploy watch`` asks for the
verdict, both over real HTTPS to this test's Baton (same database and moved clock); the alert
is Alertmanager's own webhook body; SMS, Slack and e-mail go out through Baton's real providers
to the fakes, which fail the test on any message nobody expected.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pagerduty
from click.testing import CliRunner, Result

from app.cli import WatchClock, main
from app.core.clock import ManualClock
from app.integrations.slack import page_blocks
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio import FakeTwilio
from tests.integrations.live_server import Served, served
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.paging import Engine, api, fixture_json, integration

ALICE_SLACK = "U0ALICE001"
DEPLOYED_AT = datetime(2026, 3, 14, 9, 12, 7, tzinfo=UTC)  # the change event fixture's timestamp


class PipelineClock(WatchClock):
    """The pipeline's idea of time: passes only while the watch sleeps (nobody waits here)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _watch(live: Served, token: str, deployment_id: int) -> Result:
    """``baton deploy watch ID --for 10m`` as a CI step runs it, trusting the test's certificate."""
    return CliRunner().invoke(
        main,
        ["deploy", "watch", str(deployment_id), "--for", "10m", "--url", live.url],
        env={"BATON_TOKEN": token, "SSL_CERT_FILE": str(live.certificate)},
        obj=PipelineClock(),
    )


async def _send_change_event(
    live: Served, routing_key: str, version: str, previous: str, at: datetime
) -> None:
    event = fixture_json("pagerduty/change_event.json")
    details = event["payload"]["custom_details"]
    details.update(version=version, previous_version=previous, deployed_by="dina@example.com")
    details.pop("pipeline_run")
    pipeline = pagerduty.EventsApiV2Client(
        routing_key, base_url=f"{live.url}/api/v1/integrations/pagerduty", verify=live.trust
    )
    await asyncio.to_thread(
        pipeline.send_change_event,
        payload={
            **event["payload"],
            "summary": f"Deploy payments-api {version} to prod",
            "timestamp": at.isoformat(),
        },
        links=event["links"],
    )


async def _deploys(oncall: Oncall) -> list[dict[str, Any]]:
    page = await api(
        oncall.client,
        oncall.admin,
        "GET",
        "/api/v1/deployments",
        params={"service_id": oncall.service["id"]},
    )
    return page["items"]


async def test_a_deploy_the_pager_caught_fails_the_pipeline_and_a_quiet_one_passes(
    oncall: Oncall,
    twilio: FakeTwilio,
    slack: FakeSlack,
    fake_smtp: FakeSMTP,
    engine: Engine,
    clock: ManualClock,
    tmp_path: Path,
    app: Any,
) -> None:
    dina = await oncall.factory.actor(name="Dina Haddad", email="dina@example.com")
    await oncall.contact(dina, "email", "dina@example.com", urgency="low")
    await oncall.contact(oncall.alice, "slack", ALICE_SLACK)
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    alice_slack = slack.user(ALICE_SLACK, email="alice@example.com", name="alice")
    alice_phone = twilio.phone(ALICE_PHONE)
    routing_key = (
        await integration(oncall.client, oncall.admin, oncall.service["id"], "pagerduty")
    )["key"]
    alertmanager_key = (await integration(oncall.client, oncall.admin, oncall.service["id"]))["key"]

    clock.set(DEPLOYED_AT + timedelta(seconds=3))
    async with served(app, tmp_path) as live:
        # The pipeline reports its deploy, exactly as a PagerDuty user's pipeline does.
        await _send_change_event(live, routing_key, "v2.14.3", "v2.14.2", DEPLOYED_AT)
        [deploy] = await _deploys(oncall)
        # Baton knew no earlier deploy: the rollback target is the one the pipeline named.
        assert (deploy["version"], deploy["previous_version"]) == ("v2.14.3", "v2.14.2")
        assert (deploy["deployer_user_id"], deploy["source"]) == (dina.id, "pagerduty")
        await engine.drain()  # a change event pages nobody
        twilio.assert_nothing_sent()
        slack.assert_nothing_sent()

        # Five minutes later Alertmanager reports the error rate.
        clock.advance(timedelta(minutes=5))
        answer = await oncall.client.post(
            "/api/v1/integrations/alertmanager",
            json=fixture_json("alertmanager/firing.json"),
            headers={"Authorization": f"Bearer {alertmanager_key}"},
        )
        assert answer.status_code == 200, answer.text
        [incident] = answer.json()["incidents"]
        await engine.tick()

        words = "after deploy v2.14.3 by Dina Haddad 5 min ago (previous v2.14.2)"
        sms = await alice_phone.expect_sms(f"#{incident}")
        # One SMS segment: the deploy in its compact form, before the reply codes.
        assert sms.body == (
            f"Baton #{incident} payments-api: payments-api 5xx ratio above 5% - after v2.14.3 by "
            f"Dina Haddad 5m ago (prev v2.14.2) Reply {incident}a to ack, {incident}r to "
            f"resolve, {incident}e to escalate"
        )
        page = await alice_slack.expect_dm(f"#{incident}")
        assert words in page.text
        fyi = await fake_smtp.expect_mail(to="dina@example.com", contains=f"#{incident}")
        assert "opened after your deploy v2.14.3" in fyi.subject
        nearby = await oncall.timeline(incident, "deploy_nearby")
        assert [e["event"]["deployer_told"] for e in nearby] == ["notify"]

        # Alice takes it from Slack.
        await alice_slack.click(page, "incident_acknowledge")
        await engine.tick()
        dm = slack.channel(alice_slack.dm_channel)
        await dm.expect_update(page, "Acknowledged by Alice via slack")
        await dm.expect_thread_reply(page, "Acknowledged by Alice via slack")

        # While nobody has judged the deploy, the gate already stops the rollout.
        suspect = await asyncio.to_thread(_watch, live, oncall.admin.token, deploy["id"])
        assert suspect.exit_code == 1, suspect.output
        assert "suspect" in suspect.output

        # Alice says it was the deploy, from the page in Slack.
        await alice_slack.click(slack.current(page), page_blocks.ACTION_DEPLOY_CAUSED)
        await engine.tick()
        said = "Alice confirmed deploy v2.14.3 as the cause via slack"
        await dm.expect_update(page, said)
        await dm.expect_thread_reply(page, said)
        verdict = await api(
            oncall.client, oncall.admin, "GET", f"/api/v1/deployments/{deploy['id']}/verdict"
        )
        assert (verdict["verdict"], verdict["failed_change"]) == ("failed", True)
        failed = await asyncio.to_thread(_watch, live, oncall.admin.token, deploy["id"])
        assert failed.exit_code == 1 and "failed" in failed.output, failed.output

        timeline = [e["kind"] for e in await oncall.timeline(incident)]
        assert timeline == [
            "opened",
            "deploy_nearby",
            "escalated",
            "alert_triggered",
            *["notification_sent"] * 3,  # Alice's Slack and SMS pages, Dina's FYI
            "acknowledged",
            "deploy_confirmed",
        ]

        # The fix goes out: no incident opens in its watch, and the gate lets it through.
        clock.advance(timedelta(minutes=20))
        await _send_change_event(live, routing_key, "v2.14.4", "v2.14.3", clock.now())
        fixed = next(d for d in await _deploys(oncall) if d["version"] == "v2.14.4")
        assert fixed["previous_version"] == "v2.14.3"
        clean = await asyncio.to_thread(_watch, live, oncall.admin.token, fixed["id"])
        assert clean.exit_code == 0, clean.output
        assert "clean" in clean.output
        # The later successful deploy ends the failed change's recovery.
        verdict = await api(
            oncall.client, oncall.admin, "GET", f"/api/v1/deployments/{deploy['id']}/verdict"
        )
        assert verdict["recovered_at"] == clock.now().isoformat().replace("+00:00", "Z")

    await engine.drain()
    twilio.assert_nothing_sent()
    slack.assert_nothing_sent()
    fake_smtp.assert_nothing_sent()
