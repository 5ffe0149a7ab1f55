"""Voice pages: inline TwiML read to the callee, keys acted on, call outcomes recorded."""

from __future__ import annotations

from tests.fakes.twilio import FakeTwilio
from tests.notify.conftest import ALICE_PHONE, Oncall
from tests.paging import Engine


async def test_call_then_key_4_acknowledges(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire("checkout error rate above 5%")
    await engine.tick()

    call = await phone.expect_call(f"Incident {incident} on payments-api")
    assert "Press 4 to acknowledge, 6 to resolve, 5 to escalate" in call.spoken
    assert (
        call.status_callback is not None and "/api/v1/twilio/voice/status" in call.status_callback
    )
    assert call.status_callback_events == ["answered", "completed"]

    said = await phone.press(call, "4")
    assert said.startswith(f"Acknowledged incident {incident} checkout error rate above 5%.")
    detail = await oncall.incident(incident)
    assert detail["state"] == "acknowledged" and detail["acknowledged_by_id"] == oncall.alice.id
    [ack] = [e for e in await oncall.timeline(incident) if e["kind"] == "acknowledged"]
    assert ack["channel"] == "voice"

    # Still on the line: 6 resolves.
    assert (await phone.press(call, "6")).startswith(f"Resolved incident {incident}")
    assert (await oncall.incident(incident))["state"] == "resolved"
    await phone.status(call, "completed", duration=40)
    await engine.advance(minutes=30)
    await engine.drain()
    phone.assert_nothing_sent()


async def test_star_repeats_and_unknown_keys_prompt_again(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    call = await phone.expect_call("Press 4")
    again = await phone.press(call, "*")
    assert f"Incident {incident} on payments-api" in again and "Press 4" in again
    odd = await phone.press(call, "9")
    assert odd.startswith("That key does nothing here.")
    assert (await oncall.incident(incident))["state"] == "triggered"
    assert (await phone.press(call, "5")).startswith(f"Escalated incident {incident}")
    await engine.tick()  # Bob has no contact method: nothing more is sent


async def test_no_answer_fails_and_the_next_rule_takes_over(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE)
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE, after_minutes=3)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    call = await phone.expect_call("Press 4", answer=False)
    await phone.status(call, "no-answer")
    await engine.tick()
    await phone.expect_sms("Reply 1a")
    rows = {n["contact_type"]: n for n in await oncall.notifications(incident)}
    assert rows["voice"]["status"] == "failed" and "no-answer" in rows["voice"]["last_error"]


async def test_a_replayed_keypress_is_refused(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    call = await phone.expect_call("Press 4")
    assert call.gather is not None and call.gather.action is not None
    params = [*twilio.call_params(call, "in-progress"), ("Digits", "4")]
    first = await twilio.post_signed(call.gather.action, params)
    assert first.status_code == 200 and "Acknowledged" in first.text
    replay = await twilio.post_signed(call.gather.action, params)
    assert replay.status_code == 403
    forged = await twilio.post_forged(call.gather.action, params)
    assert forged.status_code == 403
    acks = [e for e in await oncall.timeline(incident) if e["kind"] == "acknowledged"]
    assert len(acks) == 1
