""" "Send test" per contact method: queued through the outbox, its outcome readable."""

from __future__ import annotations

import httpx

from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.paging import Engine, api


async def test_a_test_sms_is_queued_sent_and_reported(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine, client: httpx.AsyncClient
) -> None:
    method = await oncall.contact(oncall.alice, "sms", ALICE_PHONE, after_minutes=None)
    path = f"/api/v1/users/{oncall.alice.id}/contact-methods/{method['id']}/test"
    queued = await client.post(path, headers=oncall.alice.headers)
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert body["status"] == "pending" and "queued" in body["detail"]
    outcome_path = f"/api/v1/users/{oncall.alice.id}/notifications/{body['notification_id']}"
    assert (await api(client, oncall.alice, "GET", outcome_path))["status"] == "pending"

    await engine.tick()
    sms = await twilio.phone(ALICE_PHONE).expect_sms("Baton test message to your sms")
    outcome = await api(client, oncall.alice, "GET", outcome_path)
    assert outcome["status"] == "sent" and outcome["provider"] == "twilio"
    assert outcome["provider_message_id"] == sms.sid and outcome["kind"] == "test"

    again = await client.post(path, headers=oncall.alice.headers)
    assert again.status_code == 429 and again.headers["retry-after"]
    assert (await client.post(path, headers=oncall.bob.headers)).status_code == 403


async def test_a_failing_test_says_why(
    oncall: Oncall, slack: FakeSlack, engine: Engine, client: httpx.AsyncClient
) -> None:
    method = await oncall.contact(oncall.alice, "slack", "U0NOSUCH01", after_minutes=None)
    queued = await api(
        client,
        oncall.alice,
        "POST",
        f"/api/v1/users/{oncall.alice.id}/contact-methods/{method['id']}/test",
    )
    await engine.tick()
    outcome = await api(
        client,
        oncall.alice,
        "GET",
        f"/api/v1/users/{oncall.alice.id}/notifications/{queued['notification_id']}",
    )
    assert outcome["status"] == "failed" and "user_not_found" in outcome["last_error"]


async def test_an_unverified_number_is_not_tested(
    oncall: Oncall, client: httpx.AsyncClient
) -> None:
    created = await api(
        client,
        oncall.alice,
        "POST",
        f"/api/v1/users/{oncall.alice.id}/contact-methods",
        json={"type": "sms", "address": ALICE_PHONE},
    )
    refused = await client.post(
        f"/api/v1/users/{oncall.alice.id}/contact-methods/{created['id']}/test",
        headers=oncall.alice.headers,
    )
    assert refused.status_code == 422 and refused.json()["code"] == "not_verified"
