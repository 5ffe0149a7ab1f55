"""Provider credentials never show up in logs or in anything the API answers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio import FakeTwilio
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.paging import Engine

SMTP_PASSWORD = "smtp-password-test-only-9f31"


@pytest_asyncio.fixture
async def fake_smtp() -> AsyncIterator[FakeSMTP]:
    """A mail server that requires a login, so the SMTP password is really used."""
    fake = FakeSMTP(username="baton", password=SMTP_PASSWORD).start()
    try:
        yield fake
    finally:
        fake.stop()
    fake.assert_no_unexpected()


async def test_credentials_stay_out_of_logs_and_api_output(
    oncall: Oncall,
    twilio: FakeTwilio,
    slack: FakeSlack,
    fake_smtp: FakeSMTP,
    engine: Engine,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
    app,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = [twilio.auth_token, slack.bot_token, slack.signing_secret, SMTP_PASSWORD]
    alice_slack = slack.user("U0ALICE001", email="alice@example.com", name="alice")
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.alice, "slack", "U0ALICE001")
    await oncall.contact(oncall.alice, "email", "alice@example.com")
    twilio.server_error(times=1)
    slack.rate_limit("chat.postMessage", retry_after=1)
    incident = await oncall.fire()
    await engine.tick()
    await engine.advance(seconds=5)
    sms = await twilio.phone(ALICE_PHONE).expect_sms("Reply 1a")
    page = await alice_slack.expect_dm("p99 latency")
    await fake_smtp.expect_mail(to="alice@example.com")
    assert fake_smtp.logins == ["baton"]
    await twilio.phone(ALICE_PHONE).status(sms, "delivered")
    await alice_slack.click(page, "incident_acknowledge")
    await engine.tick()
    dm = slack.channel(alice_slack.dm_channel)
    await dm.expect_update(page, "Acknowledged by Alice")
    await dm.expect_thread_reply(page, "Acknowledged by Alice")

    answers = [
        await client.get(path, headers=oncall.admin.headers)
        for path in (
            f"/api/v1/incidents/{incident}",
            f"/api/v1/incidents/{incident}/timeline",
            f"/api/v1/incidents/{incident}/notifications",
            f"/api/v1/users/{oncall.alice.id}/contact-methods",
            "/openapi.json",
            "/readyz",
        )
    ]
    seen = caplog.text + "".join(a.text for a in answers)
    seen += repr(app.state.settings) + str(app.state.settings.model_dump())
    seen += "".join(repr(getattr(p, "config", p)) for p in app.state.notifier.providers())
    # The logs and answers are really in there: the SDKs' debug logs and Baton's timeline.
    assert "Sending a request - url: POST" in caplog.text and "(redacted)" in caplog.text
    assert "Twilio reports delivered" in seen
    for secret in secrets:
        assert secret not in seen
