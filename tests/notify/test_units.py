"""Small pure pieces of the providers: pacing, error classification, Slack blocks."""

from __future__ import annotations

import requests
import urllib3
from twilio.base.exceptions import TwilioRestException

from app.integrations.slack import page_blocks
from app.integrations.slack.provider import parse_message_ref
from app.integrations.twilio.provider import TwilioConfig, classify
from app.notify.base import DeliveryStatus
from app.notify.pacing import Pacer


def test_pacer_spaces_sends_per_key_and_never_waits_too_long() -> None:
    now = [100.0]
    pacer = Pacer(2.0, max_wait=1.0, monotonic=lambda: now[0])
    assert [pacer.reserve("+1") for _ in range(3)] == [0.0, 0.5, 1.0]
    assert pacer.reserve("+2") == 0.0  # another number is not held up
    assert pacer.reserve("+1") == 1.0  # overloaded: capped, and the schedule does not drift
    assert pacer.reserve("+1") == 1.0
    now[0] += 10.0
    assert pacer.reserve("+1") == 0.0


async def test_pacer_sleeps_on_the_event_loop() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(4.0, sleep=sleep)
    assert await pacer.acquire("C1") == 0.0
    assert await pacer.acquire("C1") > 0.2 and len(slept) == 1


def _rest(status: int, code: int | None) -> TwilioRestException:
    return TwilioRestException(
        status, "/2010-04-01/Accounts/AC1/Messages.json", "Unable to create record: nope", code
    )


def test_twilio_errors_are_sorted_by_what_they_mean_for_the_page() -> None:
    temp, perm = DeliveryStatus.TEMPORARY_FAILURE, DeliveryStatus.PERMANENT_FAILURE
    cases = {
        (400, 21211): (perm, True),
        (400, 21614): (perm, True),
        (400, 21610): (perm, True),
        (400, 21608): (perm, True),
        (429, 20429): (temp, False),
        (500, 20500): (temp, False),
        (503, None): (temp, False),
        (401, 20003): (perm, False),
        (400, 21617): (perm, False),
    }
    for (status, code), (expected, unusable) in cases.items():
        got, detail, bad_number = classify(_rest(status, code))
        assert (got, bad_number) == (expected, unusable), (status, code)
        assert str(code or status) in detail
    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None, "/", urllib3.exceptions.NewConnectionError(None, "refused")
        )
    )
    assert classify(refused)[0] is temp
    assert classify(requests.ConnectTimeout())[0] is temp
    dropped = requests.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted."))
    assert classify(dropped)[0] is perm and "outcome unknown" in classify(dropped)[1]
    assert classify(requests.ReadTimeout())[0] is perm


def test_twilio_config_hides_the_auth_token() -> None:
    config = TwilioConfig("AC1", "super-secret-token", "+15555550100", "https://b.test")
    assert "super-secret-token" not in repr(config)


def test_slack_buttons_follow_the_state_and_text_is_escaped() -> None:
    context = {
        "incident_id": 7,
        "title": "a <b> & c",
        "service": "api",
        "urgency": "high",
        "state": "triggered",
        "labels": {"env": "prod"},
        "runbook_url": "",
        "path": "/incidents/7",
    }

    def ids(state: str) -> list[str]:
        blocks = page_blocks.incident_blocks({**context, "state": state}, "https://b.test")
        actions = [b for b in blocks if b["type"] == "actions"]
        return [e["action_id"] for a in actions for e in a["elements"]]

    assert ids("triggered") == ["incident_acknowledge", "incident_resolve", "incident_escalate"]
    assert ids("acknowledged") == ["incident_resolve", "incident_escalate"]
    assert ids("resolved") == []
    head = page_blocks.incident_blocks(context, "https://b.test")[0]["text"]["text"]
    assert "a &lt;b&gt; &amp; c" in head and "<https://b.test/incidents/7|#7" in head
    assert parse_message_ref("D0AB:1773480421.002300") == ("D0AB", "1773480421.002300")
    assert parse_message_ref(None) is None and parse_message_ref("nope") is None
