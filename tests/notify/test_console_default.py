"""Without credentials the embedded default still pages, through the console provider."""

from __future__ import annotations

import httpx
import pytest

from app.notify.console import ConsoleProvider
from app.people.models import ContactType
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.paging import ConsoleInbox, Engine

pytestmark = pytest.mark.console_only


async def test_no_credentials_pages_through_the_console(
    oncall: Oncall, console: ConsoleProvider, engine: Engine, app, client: httpx.AsyncClient
) -> None:
    for kind in ContactType:
        if kind is not ContactType.WEBHOOK:
            assert app.state.notifier.provider_for(kind) is console
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.alice, "slack", "U0ALICE001", after_minutes=2)
    incident = await oncall.fire()
    await engine.tick()
    inbox = ConsoleInbox(console)
    sms = inbox.expect(ALICE_PHONE, "Reply 1a to ack")
    assert sms.contact_type is ContactType.SMS
    await engine.advance(minutes=2)
    inbox.expect("U0ALICE001", f"#{incident}")
    inbox.assert_no_unexpected()
    [row, _] = await oncall.notifications(incident)
    assert row["provider"] == "console" and row["status"] == "sent"


async def test_inbound_channel_routes_say_they_are_not_configured(
    client: httpx.AsyncClient,
) -> None:
    for path in (
        "/api/v1/twilio/sms/inbound",
        "/api/v1/twilio/sms/status",
        "/api/v1/slack/interactions",
    ):
        response = await client.post(
            path, content=b"x=1", headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        assert response.status_code == 404 and response.json()["code"] == "not_configured"
