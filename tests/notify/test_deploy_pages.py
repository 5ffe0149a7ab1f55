"""E-mail, webhook and console pages of an incident that opened after a deploy say so, and
stop saying so once a responder judged the deploy not related (issue 14)."""

from __future__ import annotations

import pytest

from app.core.clock import ManualClock
from app.core.db import Database
from app.notify.console import ConsoleProvider
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import WebhookReceiver
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.notify.nearby_deploy import DEPLOY_WORDS, deploy_before_incident, judge
from tests.paging import ConsoleInbox, Engine


async def test_the_email_page_has_a_deploy_line_in_text_and_escaped_html(
    oncall: Oncall, fake_smtp: FakeSMTP, engine: Engine, db: Database, clock: ManualClock
) -> None:
    await oncall.contact(oncall.alice, "email", "alice@example.com")
    await oncall.contact(oncall.bob, "email", "bob@example.com")
    deployment = await deploy_before_incident(
        db, clock, oncall.service["id"], deployer="dina <ci&cd>"
    )
    incident = await oncall.fire("checkout errors")
    await engine.tick()

    mail = await fake_smtp.expect_mail(to="alice@example.com", contains=f"#{incident}")
    words = "after deploy v1.4.2 by dina <ci&cd> 12 min ago (previous v1.4.1)"
    assert f"\nDeploy: {words}, in production\r\n" in mail.text
    escaped = "after deploy v1.4.2 by dina &lt;ci&amp;cd&gt; 12 min ago (previous v1.4.1)"
    assert f"<th align='left' style='padding-right:12px'>Deploy</th><td>{escaped}" in mail.html
    assert "<ci&cd>" not in mail.html

    await judge(db, oncall.alice.id, incident, deployment, caused=False)
    await engine.advance(minutes=5)
    later = await fake_smtp.expect_mail(to="bob@example.com", contains=f"#{incident}")
    assert "Deploy:" not in later.text and "v1.4.2" not in later.text + later.html


async def test_the_webhook_page_carries_a_deploy_object(
    oncall: Oncall,
    webhook_receiver: WebhookReceiver,
    engine: Engine,
    db: Database,
    clock: ManualClock,
) -> None:
    await oncall.contact(oncall.alice, "webhook", webhook_receiver.url_for("/alice"))
    await oncall.contact(oncall.bob, "webhook", webhook_receiver.url_for("/bob"))
    deployment = await deploy_before_incident(db, clock, oncall.service["id"])
    incident = await oncall.fire("checkout errors")
    await engine.tick()

    page = await webhook_receiver.expect_event(path="/alice", match={"event": "incident.page"})
    assert page.json["deploy"] == {
        "deployment_id": deployment,
        "version": "v1.4.2",
        "previous_version": "v1.4.1",
        "environment": "production",
        "deployer": "dina",
        "minutes_ago": 12,
        "verdict": "suspected",
        "text": DEPLOY_WORDS,
    }
    assert "deploy" not in page.json["incident"] and DEPLOY_WORDS in page.json["text"]

    await judge(db, oncall.alice.id, incident, deployment, caused=False)
    await engine.advance(minutes=5)
    later = await webhook_receiver.expect_event(path="/bob", match={"event": "incident.page"})
    assert later.json["deploy"] is None and "v1.4.2" not in later.json["text"]


@pytest.mark.console_only
async def test_the_console_prints_the_deploy(
    oncall: Oncall, console: ConsoleProvider, engine: Engine, db: Database, clock: ManualClock
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.alice, "email", "alice@example.com")
    await deploy_before_incident(db, clock, oncall.service["id"])
    incident = await oncall.fire()
    await engine.tick()
    inbox = ConsoleInbox(console)
    sms = inbox.expect(ALICE_PHONE, f" - {DEPLOY_WORDS} Reply 1a to ack")
    mail = inbox.expect("alice@example.com", f"p99 latency above 2s - {DEPLOY_WORDS}")
    assert sms.context["incident_id"] == mail.context["incident_id"] == incident
    inbox.assert_no_unexpected()
