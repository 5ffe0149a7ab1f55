"""SMS pages through the real twilio client against the fake Twilio, and the replies to them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from app.integrations.twilio import sms_text
from tests.fakes.twilio import FakeTwilio, sms_segments
from tests.notify.conftest import ALICE_PHONE, BOB_PHONE, Oncall
from tests.paging import Engine, api


async def test_page_by_sms_then_reply_code_acknowledges(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire("p99 latency above 2s on checkout")
    await engine.tick()

    sms = await phone.expect_sms(f"#{incident} payments-api: p99 latency above 2s on checkout")
    assert sms.body.endswith("Reply 1a to ack, 1r to resolve, 1e to escalate")
    assert sms_segments(sms.body) == ("GSM-7", 1)
    assert (sms.status_callback or "").startswith("http://baton.test/api/v1/twilio/sms/status?n=")
    assert sms.from_ == "+15555550100"

    answer = await phone.reply("1a")
    assert answer == f"Acknowledged #{incident} p99 latency above 2s on checkout"
    assert (await oncall.incident(incident))["state"] == "acknowledged"

    await engine.advance(minutes=30)
    await engine.drain()
    phone.assert_nothing_sent()
    [ack] = [e for e in await oncall.timeline(incident) if e["kind"] == "acknowledged"]
    assert ack["channel"] == "sms" and ack["actor_user_id"] == oncall.alice.id


async def test_forgiving_reply_variants_and_latest_page(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    first = await oncall.fire("disk full on db-1")
    second = await oncall.fire("queue backlog growing")
    await engine.tick()
    await phone.expect_sms(f"#{first} payments-api: disk full on db-1 Reply 1a")
    await phone.expect_sms(f"#{second} payments-api: queue backlog growing Reply 2a")

    assert await phone.reply("a") == f"Acknowledged #{second} queue backlog growing"
    assert await phone.reply("ACK 1") == f"Acknowledged #{first} disk full on db-1"
    assert await phone.reply("1 a") == f"#{first} disk full on db-1 is already acknowledged"
    assert await phone.reply("2R") == f"Resolved #{second} queue backlog growing"
    # "ACK <incident number>" works too when no code of that number is in use.
    assert await phone.reply(f"resolve {first}") == f"Resolved #{first} disk full on db-1"

    # Both incidents closed: the codes are free again and the next page reuses code 1.
    third = await oncall.fire("certificate expires in 3 days")
    await engine.tick()
    await phone.expect_sms(f"#{third} payments-api: certificate expires in 3 days Reply 1a")


async def test_long_titles_are_clipped_not_the_codes(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    title = "\u201cCheckout\u201d latency \u2013 p99 above 2s for every EU region " * 5
    await oncall.fire(title)
    await engine.tick()
    sms = await phone.expect_sms("Reply 1a to ack, 1r to resolve, 1e to escalate")
    assert len(sms.body) <= 160 and sms_segments(sms.body) == ("GSM-7", 1)
    assert '"Checkout" latency - p99' in sms.body and "..." in sms.body


async def test_unknown_sender_and_nonsense_get_little(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    stranger = twilio.phone("+15555550199")
    assert await stranger.reply("1a") == ""
    assert await stranger.reply("help") == ""

    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    await phone.expect_sms("Reply 1a")
    for _ in range(3):
        assert "did not understand" in await phone.reply("what is this?")
    assert await phone.reply("seriously what") == ""  # quiet now
    assert await phone.reply("7a") == ""  # an unknown code is nonsense too
    assert await phone.reply("1a") == f"Acknowledged #{incident} p99 latency above 2s"
    assert "did not understand" in await phone.reply("thanks!")  # answered again
    assert "reply with the code" in await phone.reply("HELP")


async def test_twilio_500_twice_then_one_sms_delivered(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    twilio.server_error(times=2)
    incident = await oncall.fire()
    await engine.tick()
    await engine.advance(seconds=5)
    await engine.advance(seconds=10)
    await phone.expect_sms("Reply 1a")
    await engine.drain()
    phone.assert_nothing_sent()
    assert [a.status for a in twilio.attempts(to=ALICE_PHONE)] == [500, 500, 201]
    [sms] = await oncall.notifications(incident)
    assert sms["status"] == "sent" and sms["attempts"] == 3
    kinds = [e["kind"] for e in await oncall.timeline(incident)]
    assert kinds.count("notification_retry") == 2 and kinds.count("notification_sent") == 1


async def test_rate_limited_by_twilio_waits_for_retry_after(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    twilio.rate_limit(retry_after=40)
    incident = await oncall.fire()
    await engine.tick()
    await engine.advance(seconds=39)
    await engine.drain()
    phone.assert_nothing_sent()
    await engine.advance(seconds=1)
    await phone.expect_sms("Reply 1a")
    retry = [e for e in await oncall.timeline(incident) if e["kind"] == "notification_retry"]
    assert "retrying in 40s" in retry[0]["message"] and "20429" in retry[0]["message"]


async def test_invalid_number_falls_through_to_voice_at_once(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    sms_method = await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE, after_minutes=5)
    phone = twilio.phone(ALICE_PHONE)
    phone.reject(21211, resource="sms")
    incident = await oncall.fire()
    await engine.tick()
    call = await phone.expect_call("Press 4 to acknowledge")
    assert call.status_callback is not None
    kinds = [e["kind"] for e in await oncall.timeline(incident)]
    assert "notification_failed" in kinds and "notification_fallthrough" in kinds
    methods = await api(
        oncall.client, oncall.admin, "GET", f"/api/v1/users/{oncall.alice.id}/contact-methods"
    )
    [sms] = [m for m in methods if m["id"] == sms_method["id"]]
    assert sms["disabled_at"] is not None and "21211" in sms["disabled_reason"]


async def test_unknown_outcome_is_not_repeated(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    """Twilio took the request but the answer never came: maybe sent, so never resent."""
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE, after_minutes=5)
    phone = twilio.phone(ALICE_PHONE)
    twilio.hold(3, deliver=True, resource="sms")  # the client gives up after 2 s
    incident = await oncall.fire()
    await engine.tick()
    await phone.expect_sms("Reply 1a", timeout=5)  # it did go out
    await phone.expect_call("Press 4")  # and the next rule covers the person at once
    sms = [n for n in await oncall.notifications(incident) if n["contact_type"] == "sms"]
    assert sms[0]["status"] == "failed" and "outcome unknown" in sms[0]["last_error"]
    await engine.advance(minutes=1)
    assert len(twilio.attempts(to=ALICE_PHONE, resource="sms")) == 1


async def test_stop_then_start(oncall: Oncall, twilio: FakeTwilio, engine: Engine) -> None:
    method = await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    assert await phone.reply("STOP") == ""
    methods = await api(
        oncall.client, oncall.alice, "GET", f"/api/v1/users/{oncall.alice.id}/contact-methods"
    )
    assert methods[0]["pageable"] is False and "STOP" in methods[0]["disabled_reason"]

    first = await oncall.fire("first page")
    await engine.tick()
    await engine.drain()
    phone.assert_nothing_sent()
    assert await oncall.notifications(first) == []

    assert await phone.reply("start") == "Baton: SMS pages to this number are on again."
    methods = await api(
        oncall.client, oncall.alice, "GET", f"/api/v1/users/{oncall.alice.id}/contact-methods"
    )
    assert methods[0]["id"] == method["id"] and methods[0]["pageable"] is True
    second = await oncall.fire("second page")
    await engine.tick()
    await phone.expect_sms(f"#{second} payments-api: second page")


async def test_status_callbacks_move_forward_only(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    sms = await phone.expect_sms("Reply 1a")
    await phone.status(sms, "sent")
    await phone.status(sms, "delivered")
    late = await phone.status(sms, "sent", check=False)  # out of order: must not go back
    assert late.status_code == 403  # the same (sid, status) was already processed
    await phone.status(sms, "queued")
    [row] = await oncall.notifications(incident)
    assert row["status"] == "delivered" and row["delivered_at"] is not None
    statuses = [
        e["message"] for e in await oncall.timeline(incident) if e["kind"] == "notification_status"
    ]
    assert statuses == [
        "Page by sms to +…0123: Twilio reports sent",
        "Page by sms to +…0123: Twilio reports delivered",
        "Page by sms to +…0123: Twilio reports queued (late; not going back)",
    ]


async def test_undelivered_fails_and_pulls_the_next_rule_forward(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.alice, "voice", ALICE_PHONE, after_minutes=5)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    sms = await phone.expect_sms("Reply 1a")
    await phone.status(sms, "undelivered", 30003)
    await engine.tick()
    await phone.expect_call("Press 4")
    rows = {n["contact_type"]: n for n in await oncall.notifications(incident)}
    assert rows["sms"]["status"] == "failed" and "30003" in rows["sms"]["last_error"]
    kinds = [e["kind"] for e in await oncall.timeline(incident)]
    assert "notification_fallthrough" in kinds


async def test_forged_and_replayed_twilio_requests_change_nothing(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    sms = await phone.expect_sms("Reply 1a")
    params = phone.inbound_params("1a")
    forged = await twilio.post_forged(twilio.inbound_sms_path, params)
    assert forged.status_code == 403 and forged.json()["code"] == "bad_signature"
    missing = await twilio.post_forged(twilio.inbound_sms_path, params, omit_signature=True)
    assert missing.status_code == 403
    wrong_url = await twilio.post_signed(
        twilio.inbound_sms_path,
        params,
        sign_url="https://elsewhere.example/api/v1/twilio/sms/inbound",
    )
    assert wrong_url.status_code == 403
    status = await twilio.post_forged(
        sms.status_callback or "", twilio.sms_status_params(sms, "failed")
    )
    assert status.status_code == 403
    assert (await oncall.incident(incident))["state"] == "triggered"
    assert (await oncall.notifications(incident))[0]["status"] == "sent"

    # A genuine reply acts once; the same request again (same MessageSid) is refused.
    first = await phone.reply_raw("1r", message_sid="SMreplay0000000000000000000000001")
    assert first.status_code == 200 and "Resolved" in first.text
    again = await phone.reply_raw("1r", message_sid="SMreplay0000000000000000000000001")
    assert again.status_code == 403 and again.json()["code"] == "replayed"
    resolved = [e for e in await oncall.timeline(incident) if e["kind"] == "resolved"]
    assert len(resolved) == 1


async def test_the_fixture_request_validates_against_its_known_signature(
    client, twilio: FakeTwilio, app
) -> None:
    """shared/fixtures/twilio: the known-answer signature of a real-shaped inbound SMS."""
    from tests.paging import fixture_bytes

    app.state.settings.public_url = "https://oncall.example.test"
    body = fixture_bytes("twilio/inbound_sms_ack.txt")
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": "p3rh7Y5L1X4HHlqT7vyXo/guX00=",
    }
    ok = await client.post("/api/v1/twilio/sms/inbound", content=body, headers=headers)
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/xml")
    assert "<Response />" in ok.text or "<Response/>" in ok.text  # an unknown number: no reply
    tampered = body.replace(b"ACK+1042", b"ACK+1043")
    bad = await client.post("/api/v1/twilio/sms/inbound", content=tampered, headers=headers)
    assert bad.status_code == 403


async def test_bob_second_step_gets_his_own_codes(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    await oncall.contact(oncall.bob, "sms", BOB_PHONE)
    alice, bob = twilio.phone(ALICE_PHONE), twilio.phone(BOB_PHONE)
    incident = await oncall.fire()
    await engine.tick()
    await alice.expect_sms("Reply 1a")
    await engine.advance(timedelta(minutes=5))
    await bob.expect_sms("Reply 1a")
    assert await bob.reply("1a") == f"Acknowledged #{incident} p99 latency above 2s"
    detail = await oncall.incident(incident)
    assert detail["acknowledged_by_id"] == oncall.bob.id


def test_page_sms_fits_one_segment_with_a_long_service_name() -> None:
    context = {"incident_id": 123456, "service": "s" * 120, "title": "t" * 200, "alert_count": 12}
    text = sms_text.page_sms(context, 42)
    assert sms_text.segments(text) == 1
    assert text.endswith("(12 alerts) Reply 42a to ack, 42r to resolve, 42e to escalate")


async def test_concurrent_pages_to_one_number_get_distinct_codes(
    oncall: Oncall, twilio: FakeTwilio, engine: Engine
) -> None:
    """Several incidents opening at once (concurrent transactions on PostgreSQL)."""
    await oncall.contact(oncall.alice, "sms", ALICE_PHONE)
    phone = twilio.phone(ALICE_PHONE)
    fired = await asyncio.gather(*(oncall.fire(f"disk {n} full") for n in range(4)))
    await engine.tick()
    texts = [(await phone.expect_sms(f"#{i} payments-api")).body for i in fired]
    codes = sorted(int(t.rsplit("Reply ", 1)[1].split("a", 1)[0]) for t in texts)
    assert codes == [1, 2, 3, 4]
