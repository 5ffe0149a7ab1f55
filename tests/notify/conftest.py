"""Channel scenarios: Baton's real providers (twilio, slack_sdk, smtplib) talk to the fakes.

Settings point every channel at its fake, so what a test sees is exactly what Baton sent over
the wire; every fake fails the test at teardown on any message no expectation consumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.core.clock import ManualClock
from app.core.settings import Environment, Settings
from app.people.models import ContactType
from tests.conftest import PUBLIC_URL, TEST_ALLOWED_NETWORKS
from tests.factories import Actor, Factory
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio import SERVICE_NUMBER, FakeTwilio
from tests.paging import Engine, api
from tests.worlds import PaymentsWorld, build_payments_world

ALICE_PHONE = "+15555550123"
BOB_PHONE = "+15555550145"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "console_only: run Baton with no channel credentials (the embedded default)"
    )


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    database_url: str,
    fake_twilio: FakeTwilio,
    fake_slack: FakeSlack,
    fake_smtp: FakeSMTP,
) -> Settings:
    base: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "public_url": PUBLIC_URL,
        "engine_enabled": False,
        "log_format": "text",
        "webhook_allowed_networks": TEST_ALLOWED_NETWORKS,
    }
    if request.node.get_closest_marker("console_only"):
        return Settings(**base)
    return Settings(
        **base,
        twilio_account_sid=fake_twilio.account_sid,
        twilio_auth_token=fake_twilio.auth_token,
        twilio_from_number=SERVICE_NUMBER,
        twilio_api_base_url=fake_twilio.api_base_url,
        twilio_timeout_seconds=2,
        # Real pacing is one per second; scenarios send bursts and must not wait for it.
        twilio_sms_per_second=1000,
        twilio_calls_per_second=1000,
        slack_bot_token=fake_slack.bot_token,
        slack_signing_secret=fake_slack.signing_secret,
        slack_api_base_url=fake_slack.api_url,
        slack_messages_per_second=1000,
        smtp_host=fake_smtp.host,
        smtp_port=fake_smtp.port,
        smtp_starttls=False,
        smtp_username=fake_smtp.username or "",
        smtp_password=fake_smtp.password,
        smtp_from="Baton <baton@example.test>",
    )


@pytest.fixture
async def twilio(
    fake_twilio: FakeTwilio, client: httpx.AsyncClient, clock: ManualClock
) -> AsyncIterator[FakeTwilio]:
    fake_twilio.connect(client, PUBLIC_URL)
    fake_twilio.now = lambda: clock.now().timestamp()
    yield fake_twilio
    await fake_twilio.drain()


@pytest.fixture
async def slack(
    fake_slack: FakeSlack, client: httpx.AsyncClient, clock: ManualClock
) -> AsyncIterator[FakeSlack]:
    fake_slack.connect(client, PUBLIC_URL)
    fake_slack.now = lambda: clock.now().timestamp()
    yield fake_slack
    await fake_slack.drain()


@pytest.fixture
def engine(app, db, clock, fake_twilio: FakeTwilio, fake_slack: FakeSlack) -> Engine:
    # Their automatic status callbacks reach Baton on their own: draining waits for them.
    return Engine(app, db, clock, also_settle=(fake_twilio, fake_slack))


@dataclass
class Oncall(PaymentsWorld):
    """Alice then Bob (after 5 minutes) for payments-api; contacts are added per test."""

    factory: Factory

    async def contact(
        self,
        who: Actor,
        kind: str,
        address: str,
        *,
        after_minutes: int | None = 0,
        urgency: str = "high",
    ) -> dict[str, Any]:
        """A verified contact method (phones are verified as if the code had been entered)."""
        method = await self.factory.contact_method(who.id, ContactType(kind), address)
        if after_minutes is not None:
            await api(
                self.client,
                self.admin,
                "POST",
                f"/api/v1/users/{who.id}/notification-rules",
                json={
                    "contact_method_id": method.id,
                    "delay_minutes": after_minutes,
                    "urgency": urgency,
                },
            )
        return {"id": method.id, "address": address}


@pytest.fixture
async def oncall(client: httpx.AsyncClient, factory: Factory) -> Oncall:
    world = await build_payments_world(client, factory)
    return Oncall(**world.parts(), factory=factory)
