"""Self-tests of the fake Twilio, driven by the real twilio client."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.plugin import fake_twilio  # noqa: F401 - fixture
from tests.fakes.twilio import (
    _GSM7_BASIC,
    ACCOUNT_SID,
    AUTH_TOKEN,
    SERVICE_NUMBER,
    FakeTwilio,
    compute_signature,
    make_twilio_client,
    sms_segments,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "twilio"
PUBLIC = "http://baton.test"
BOB = "+15555550123"
CAROL = "+15555550124"
STATUS_URL = f"{PUBLIC}/api/v1/twilio/sms/status?notification=7"
VOICE_STATUS_URL = f"{PUBLIC}/api/v1/twilio/voice/status"
ANSWER_URL = f"{PUBLIC}/api/v1/twilio/voice/answer?incident=1042"


# -- a tiny stand-in for Baton's Twilio endpoints -----------------------------------------------


class MiniBaton:
    """Validates X-Twilio-Signature with the SDK and records what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], bool]] = []
        self.app = Starlette(
            routes=[
                Route("/api/v1/twilio/sms/inbound", self.inbound, methods=["POST"]),
                Route("/api/v1/twilio/sms/status", self.status, methods=["POST"]),
                Route("/api/v1/twilio/voice/status", self.status, methods=["POST"]),
                Route("/api/v1/twilio/voice/answer", self.answer, methods=["POST", "GET"]),
                Route("/api/v1/twilio/voice/keypress", self.keypress, methods=["POST"]),
            ]
        )

    async def _verified(self, request: Request) -> tuple[dict[str, str], bool]:
        if request.method == "GET":
            form: Any = {}
            params = dict(request.query_params)
        else:
            form = await request.form()
            params = dict(form)
        ok = RequestValidator(AUTH_TOKEN).validate(
            str(request.url), form, request.headers.get("X-Twilio-Signature", "")
        )
        self.received.append((request.url.path, params, ok))
        return params, ok

    def by_path(self, path: str) -> list[dict[str, str]]:
        return [p for (got, p, ok) in self.received if got == path and ok]

    async def inbound(self, request: Request) -> Response:
        params, ok = await self._verified(request)
        if not ok:
            return Response("bad signature", status_code=403)
        if params["Body"].strip().lower() in ("4a", "ack 1042"):
            twiml = "<Response><Message>INC-1042 acknowledged</Message></Response>"
        else:
            twiml = "<Response/>"
        xml = f'<?xml version="1.0" encoding="UTF-8"?>{twiml}'
        return Response(xml, media_type="text/xml")

    async def status(self, request: Request) -> Response:
        _, ok = await self._verified(request)
        return Response(status_code=204 if ok else 403)

    async def answer(self, request: Request) -> Response:
        _, ok = await self._verified(request)
        if not ok:
            return Response(status_code=403)
        incident = request.query_params["incident"]
        return Response(
            "<Response>"
            f'<Gather numDigits="1" action="/api/v1/twilio/voice/keypress?incident={incident}">'
            f"<Say>Incident {incident}, payments-api is down.</Say>"
            "<Say>Press 4 to acknowledge.</Say></Gather>"
            "<Say>Goodbye.</Say></Response>",
            media_type="text/xml",
        )

    async def keypress(self, request: Request) -> Response:
        params, ok = await self._verified(request)
        if not ok:
            return Response(status_code=403)
        said = "Acknowledged." if params.get("Digits") == "4" else "Unknown key."
        return Response(f"<Response><Say>{said}</Say><Hangup/></Response>", media_type="text/xml")


@pytest.fixture
async def baton(fake_twilio: FakeTwilio) -> AsyncIterator[MiniBaton]:  # noqa: F811
    mini = MiniBaton()
    transport = httpx.ASGITransport(app=mini.app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as client:
        fake_twilio.connect(client, PUBLIC)
        yield mini
        await fake_twilio.drain()


def send_sms(fake: FakeTwilio, to: str = BOB, body: str = "INC-1042 payments-api down", **kw: Any):
    return make_twilio_client(fake).messages.create(to=to, from_=SERVICE_NUMBER, body=body, **kw)


# -- signatures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url", "expected"),
    [
        (
            "inbound_sms_ack.txt",
            "https://oncall.example.test/api/v1/twilio/sms/inbound",
            "p3rh7Y5L1X4HHlqT7vyXo/guX00=",
        ),
        (
            "status_callback_delivered.txt",
            "https://oncall.example.test/api/v1/twilio/sms/status",
            "SdRqgNM+KChZgS5q1guL5h+HrsM=",
        ),
    ],
)
def test_known_answer_signatures(name: str, url: str, expected: str) -> None:
    params = parse_qsl((FIXTURES / name).read_text(), keep_blank_values=True)
    assert compute_signature(AUTH_TOKEN, url, params) == expected
    assert RequestValidator(AUTH_TOKEN).validate(url, dict(params), expected)
    # dropping the blank fields breaks it (the documented gotcha)
    if any(v == "" for _, v in params):
        assert compute_signature(AUTH_TOKEN, url, [(k, v) for k, v in params if v]) != expected


def test_inbound_form_matches_fixture_byte_for_byte() -> None:
    fake = FakeTwilio()
    params = fake.phone(BOB).inbound_params(
        "ACK 1042", to=SERVICE_NUMBER, message_sid="SMfeedface00000000000000000000b001"
    )
    assert urlencode(params) == (FIXTURES / "inbound_sms_ack.txt").read_text()


def test_status_callback_form_matches_fixture_byte_for_byte() -> None:
    with FakeTwilio(now=lambda: datetime(2026, 3, 14, 9, 27, tzinfo=UTC).timestamp()) as fake:
        make_twilio_client(fake).messages.create(to=BOB, from_=SERVICE_NUMBER, body="page")
        (sms,) = fake.messages
        sms.sid = "SMfeedface00000000000000000000c002"
        params = fake.sms_status_params(sms, "delivered")
        fake.allow_unexpected = True
    assert urlencode(params) == (FIXTURES / "status_callback_delivered.txt").read_text()


# -- segments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 2),
        ("é" * 160, "GSM-7", 1),
        ("ł" * 70, "UCS-2", 1),
        ("ł" * 71, "UCS-2", 2),
        ("🚨" * 35, "UCS-2", 1),  # surrogate pairs count two code units
        ("🚨" * 36, "UCS-2", 2),
        ("x" * 134 + "ł", "UCS-2", 3),
    ],
)
def test_sms_segments(body: str, encoding: str, segments: int) -> None:
    assert sms_segments(body) == (encoding, segments)


def test_gsm_alphabet_size() -> None:
    assert len(_GSM7_BASIC) == 127  # 128 code points minus ESC


# -- REST API through the real client ---------------------------------------------------------


async def test_sms_is_recorded_and_returned_like_twilio(
    fake_twilio: FakeTwilio,  # noqa: F811
) -> None:
    message = await asyncio.to_thread(send_sms, fake_twilio, status_callback=STATUS_URL)
    assert re.fullmatch(r"SM[0-9a-f]{32}", message.sid)
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.num_segments == "1"
    assert message.error_code is None
    assert message.to == BOB
    assert message.from_ == SERVICE_NUMBER
    assert message.account_sid == ACCOUNT_SID

    (request,) = fake_twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.auth_user == ACCOUNT_SID and request.auth_ok
    assert request.get("To") == BOB and request.get("StatusCallback") == STATUS_URL
    assert request.status == 201

    sms = await fake_twilio.phone(BOB).expect_sms("payments-api")
    assert sms.sid == message.sid and sms.status_callback == STATUS_URL
    fetched = make_twilio_client(fake_twilio).messages(message.sid).fetch()
    assert fetched.body == "INC-1042 payments-api down"
    listed = make_twilio_client(fake_twilio).messages.list(to=BOB)
    assert [m.sid for m in listed] == [message.sid]


async def test_calls_and_v2010_paths_use_api_base_url(fake_twilio: FakeTwilio) -> None:  # noqa: F811
    client = make_twilio_client(fake_twilio)
    events = ["initiated", "ringing", "answered", "completed"]
    call = client.calls.create(
        to=BOB,
        from_=SERVICE_NUMBER,
        twiml="<Response><Say>Incident 1042</Say></Response>",
        status_callback=VOICE_STATUS_URL,
        status_callback_event=events,
    )
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid) and call.status == "queued"
    again = client.api.v2010.accounts(ACCOUNT_SID).calls.create(
        to=CAROL, from_=SERVICE_NUMBER, url=ANSWER_URL
    )
    msg = client.api.v2010.account.messages.create(to=CAROL, from_=SERVICE_NUMBER, body="hi")
    assert [r.resource for r in fake_twilio.requests] == ["Calls", "Calls", "Messages"]
    assert fake_twilio.requests[0].getall("StatusCallbackEvent") == events
    assert fake_twilio.calls[0].status_callback_events == events
    assert client.calls(call.sid).fetch().to == BOB

    rec = await fake_twilio.phone(BOB).expect_call("Incident 1042")
    assert rec.sid == call.sid
    await fake_twilio.phone(CAROL).expect_call(answer=False)
    await fake_twilio.phone(CAROL).expect_sms("hi")
    assert again.sid and msg.sid


async def test_async_twilio_client(fake_twilio: FakeTwilio) -> None:  # noqa: F811
    http = AsyncTwilioHttpClient()
    try:
        client = make_twilio_client(fake_twilio, http_client=http)
        message = await client.messages.create_async(to=BOB, from_=SERVICE_NUMBER, body="async")
    finally:
        await http.session.close()
    assert message.status == "queued"
    await fake_twilio.phone(BOB).expect_sms("async")


async def test_edge_and_region_environment_is_neutralised(
    fake_twilio: FakeTwilio,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "sydney")
    monkeypatch.setenv("TWILIO_REGION", "au1")
    send_sms(fake_twilio, body="edge")
    await fake_twilio.phone(BOB).expect_sms("edge")


def test_wrong_credentials_get_20003() -> None:
    with FakeTwilio() as fake:
        client = Client(ACCOUNT_SID, "a-different-token")
        client.api.base_url = fake.url
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to=BOB, from_=SERVICE_NUMBER, body="x")
        assert fake.messages == []
    assert info.value.status == 401 and info.value.code == 20003
    assert fake.requests[0].auth_ok is False and fake.requests[0].status == 401


def test_api_key_credentials() -> None:
    with FakeTwilio() as fake:
        fake.api_keys["SK" + "1" * 32] = "key-secret"
        client = Client("SK" + "1" * 32, "key-secret", ACCOUNT_SID)
        client.api.base_url = fake.url
        client.messages.create(to=BOB, from_=SERVICE_NUMBER, body="via key")
        assert fake.requests[0].auth_user == "SK" + "1" * 32
        fake.allow_unexpected = True


# -- failure injection ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inject", "status", "code"),
    [
        (lambda f: f.server_error(), 500, 20500),
        (lambda f: f.fail_next(503), 503, 20503),
        (lambda f: f.rate_limit(retry_after=2), 429, 20429),
        (lambda f: f.reject(21211), 400, 21211),
        (lambda f: f.reject(21614), 400, 21614),
        (lambda f: f.reject(21610), 400, 21610),
        (lambda f: f.reject(21608), 400, 21608),
    ],
)
def test_failures_surface_as_twilio_rest_exception(inject: Any, status: int, code: int) -> None:
    with FakeTwilio() as fake:
        inject(fake)
        http = TwilioHttpClient()
        client = make_twilio_client(fake, http_client=http)
        with pytest.raises(TwilioRestException) as info:
            client.messages.create(to=BOB, from_=SERVICE_NUMBER, body="page")
        assert info.value.status == status and info.value.code == code
        assert info.value.msg.startswith("Unable to create record: ")
        body = fake.requests[0].response
        assert body == {
            "code": code,
            "message": body["message"],
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        last = http._test_only_last_response
        assert last is not None
        if status == 429:
            assert last.headers["Retry-After"] == "2"
        # the failure was consumed: the retry goes through
        client.messages.create(to=BOB, from_=SERVICE_NUMBER, body="page")
        assert len(fake.messages) == 1 and len(fake.attempts(to=BOB)) == 2
        fake.allow_unexpected = True


def test_failures_are_consumed_in_order_and_per_number() -> None:
    with FakeTwilio() as fake:
        fake.phone(CAROL).reject(21610, times=None)  # unsubscribed for good
        fake.server_error(times=2)
        fake.rate_limit(retry_after=1, resource="call")
        client = make_twilio_client(fake)
        outcomes = []
        for to in (BOB, CAROL, BOB, CAROL, BOB):
            try:
                client.messages.create(to=to, from_=SERVICE_NUMBER, body="x")
                outcomes.append((to, 201))
            except TwilioRestException as exc:
                outcomes.append((to, exc.code))
        # CAROL's rule comes first and never expires; the global 500s hit BOB twice
        assert outcomes == [
            (BOB, 20500),
            (CAROL, 21610),
            (BOB, 20500),
            (CAROL, 21610),
            (BOB, 201),
        ]
        with pytest.raises(TwilioRestException) as info:
            client.calls.create(to=BOB, from_=SERVICE_NUMBER, twiml="<Response/>")
        assert info.value.code == 20429
        fake.allow_unexpected = True


def test_validation_errors_like_twilio() -> None:
    with FakeTwilio() as fake:
        client = make_twilio_client(fake)
        cases = [
            (dict(to="5550123", from_=SERVICE_NUMBER, body="x"), 21211),
            (dict(to=BOB, body="x"), 21603),
            (dict(to=BOB, from_=SERVICE_NUMBER), 21602),
            (dict(to=BOB, from_=SERVICE_NUMBER, body="x" * 1601), 21617),
        ]
        for kwargs, code in cases:
            with pytest.raises(TwilioRestException) as info:
                client.messages.create(**kwargs)
            assert info.value.code == code and info.value.status == 400
        with pytest.raises(TwilioRestException) as info:
            client.calls.create(to=BOB, from_=SERVICE_NUMBER)
        assert info.value.code == 21205
        assert fake.messages == [] and fake.calls == []


async def test_hold_times_out_the_client_and_stop_is_prompt() -> None:
    fake = FakeTwilio().start()
    fake.hold(30)
    client = make_twilio_client(fake, http_client=TwilioHttpClient(timeout=0.3))
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        await asyncio.to_thread(client.messages.create, to=BOB, from_=SERVICE_NUMBER, body="x")
    assert time.monotonic() - started < 5
    stopping = time.monotonic()
    fake.stop()  # the held handler thread is woken, not waited for 30 s
    assert time.monotonic() - stopping < 3
    assert fake.messages == []
    assert fake.requests[0].status is None


async def test_hold_with_deliver_is_the_unknown_outcome(fake_twilio: FakeTwilio) -> None:  # noqa: F811
    fake_twilio.hold(0.6, deliver=True)
    client = make_twilio_client(fake_twilio, http_client=TwilioHttpClient(timeout=0.2))
    with pytest.raises(requests.exceptions.Timeout):
        await asyncio.to_thread(client.messages.create, to=BOB, from_=SERVICE_NUMBER, body="maybe")
    # Twilio did send it although Baton never learnt the sid
    await fake_twilio.phone(BOB).expect_sms("maybe")


# -- webhooks to Baton ------------------------------------------------------------------------


async def test_reply_posts_signed_inbound_sms_and_returns_twiml_text(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    phone = fake_twilio.phone(BOB)
    assert await phone.reply("4a") == "INC-1042 acknowledged"
    assert await phone.reply("hello?") == ""
    (first, _) = baton.by_path("/api/v1/twilio/sms/inbound")
    assert first["From"] == BOB and first["To"] == SERVICE_NUMBER and first["Body"] == "4a"
    assert first["SmsStatus"] == "received" and first["ToCity"] == "" and first["NumMedia"] == "0"
    assert first["MessageSid"] == first["SmsSid"] and first["AccountSid"] == ACCOUNT_SID
    assert all(ok for (_, _, ok) in baton.received)
    assert fake_twilio.messages == []  # the TwiML reply is not an outbound SMS
    assert [i.body for i in fake_twilio.inbound] == ["4a", "hello?"]


async def test_reply_goes_to_the_number_that_texted(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    make_twilio_client(fake_twilio).messages.create(to=BOB, from_="+15555550199", body="page")
    phone = fake_twilio.phone(BOB)
    await phone.expect_sms("page")
    await phone.reply("ACK 1042")
    assert baton.by_path("/api/v1/twilio/sms/inbound")[0]["To"] == "+15555550199"


async def test_status_callbacks_are_signed_over_the_given_url(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    send_sms(fake_twilio, status_callback=STATUS_URL)
    phone = fake_twilio.phone(BOB)
    sms = await phone.expect_sms()
    await phone.status(sms, "sent")
    await phone.status(sms, "undelivered")
    await phone.status(sms, "delivered", error_code=None)
    sent, undelivered, delivered = baton.by_path("/api/v1/twilio/sms/status")
    assert sent["MessageStatus"] == sent["SmsStatus"] == "sent" and "ErrorCode" not in sent
    assert "RawDlrDoneDate" not in sent
    assert undelivered["ErrorCode"] == "30003"
    assert re.fullmatch(r"\d{10}", delivered["RawDlrDoneDate"])
    assert delivered["MessageSid"] == sms.sid and delivered["From"] == SERVICE_NUMBER
    assert all(ok for (_, _, ok) in baton.received)
    assert fake_twilio.callbacks[0].url == STATUS_URL  # query string kept and signed
    assert sms.status_history == ["sent", "undelivered", "delivered"]


async def test_status_without_callback_url_is_a_test_error(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    send_sms(fake_twilio)
    sms = await fake_twilio.phone(BOB).expect_sms()
    with pytest.raises(AssertionError, match="no StatusCallback"):
        await fake_twilio.phone(BOB).status(sms, "delivered")


async def test_auto_status_for_sms_and_calls(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    fake_twilio.auto_status(
        sms=["sent", "delivered"],
        call=["initiated", "ringing", "in-progress", "completed"],
        delay=0.01,
    )
    fake_twilio.phone(CAROL).auto_status(sms=["sent", ("undelivered", 30005)])
    await asyncio.to_thread(send_sms, fake_twilio, status_callback=STATUS_URL)
    await asyncio.to_thread(send_sms, fake_twilio, to=CAROL, status_callback=STATUS_URL)
    client = make_twilio_client(fake_twilio)
    await asyncio.to_thread(
        client.calls.create,
        to=BOB,
        from_=SERVICE_NUMBER,
        twiml="<Response><Say>hi</Say></Response>",
        status_callback=VOICE_STATUS_URL,
        status_callback_event=["ringing"],
    )
    await fake_twilio.drain()
    sms_statuses = [
        (p["To"], p["MessageStatus"], p.get("ErrorCode"))
        for p in baton.by_path("/api/v1/twilio/sms/status")
    ]
    assert sorted(sms_statuses) == sorted(
        [
            (BOB, "sent", None),
            (BOB, "delivered", None),
            (CAROL, "sent", None),
            (CAROL, "undelivered", "30005"),
        ]
    )
    call_statuses = [p["CallStatus"] for p in baton.by_path("/api/v1/twilio/voice/status")]
    assert call_statuses == ["ringing", "completed"]  # only the requested events + final
    completed = baton.by_path("/api/v1/twilio/voice/status")[-1]
    assert completed["CallDuration"] == "0" and completed["SequenceNumber"] == "1"
    await fake_twilio.phone(BOB).expect_sms()
    await fake_twilio.phone(CAROL).expect_sms()
    await fake_twilio.phone(BOB).expect_call("hi")


async def test_call_with_url_is_answered_and_keypress_follows_gather(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    client = make_twilio_client(fake_twilio)
    client.calls.create(to=BOB, from_=SERVICE_NUMBER, url=ANSWER_URL)
    phone = fake_twilio.phone(BOB)
    call = await phone.expect_call("Press 4 to acknowledge")
    assert call.spoken == "Incident 1042, payments-api is down. Press 4 to acknowledge. Goodbye."
    assert call.gather is not None
    assert call.gather.action == f"{PUBLIC}/api/v1/twilio/voice/keypress?incident=1042"
    assert await phone.press(call, "4") == "Acknowledged."
    assert call.hung_up
    answer, keypress = (
        baton.by_path("/api/v1/twilio/voice/answer"),
        baton.by_path("/api/v1/twilio/voice/keypress"),
    )
    assert answer[0]["CallSid"] == call.sid and answer[0]["CallStatus"] == "in-progress"
    assert keypress[0]["Digits"] == "4" and keypress[0]["Direction"] == "outbound-api"
    assert all(ok for (_, _, ok) in baton.received)
    with pytest.raises(AssertionError, match="hung up"):
        await phone.press(call, "4")


async def test_inline_twiml_gather_with_absolute_action(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    twiml = (
        f'<Response><Gather numDigits="1" action="{PUBLIC}/api/v1/twilio/voice/keypress?i=9">'
        "<Say>Incident 9. Press 4.</Say></Gather></Response>"
    )
    make_twilio_client(fake_twilio).calls.create(to=BOB, from_=SERVICE_NUMBER, twiml=twiml)
    phone = fake_twilio.phone(BOB)
    call = await phone.expect_call(re.compile(r"Incident \d+"))
    assert await phone.press(call, "7") == "Unknown key."
    assert baton.by_path("/api/v1/twilio/voice/answer") == []  # inline TwiML: nothing fetched


async def test_forged_and_unsigned_requests_are_rejected(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    params = fake_twilio.phone(BOB).inbound_params("4a")
    path = "/api/v1/twilio/sms/inbound"
    assert (await fake_twilio.post_forged(path, params)).status_code == 403
    assert (await fake_twilio.post_forged(path, params, omit_signature=True)).status_code == 403
    https = "https://baton.test" + path
    response = await fake_twilio.post_forged(path, params, token=AUTH_TOKEN, sign_url=https)
    assert response.status_code == 403
    assert (await fake_twilio.post_signed(path, params)).status_code == 200
    assert [ok for (_, _, ok) in baton.received] == [False, False, False, True]


async def test_unconnected_fake_says_how_to_connect(fake_twilio: FakeTwilio) -> None:  # noqa: F811
    with pytest.raises(AssertionError, match=r"fake.connect\(baton_client, public_url\)"):
        await fake_twilio.phone(BOB).reply("4a")


# -- expectations -----------------------------------------------------------------------------


async def test_assert_no_unexpected_catches_an_unconsumed_message(
    fake_twilio: FakeTwilio,  # noqa: F811
) -> None:
    send_sms(fake_twilio, body="first")
    send_sms(fake_twilio, to=CAROL, body="second page")
    await fake_twilio.phone(BOB).expect_sms("first")
    with pytest.raises(AssertionError, match="second page") as info:
        fake_twilio.assert_no_unexpected()
    assert CAROL in str(info.value)
    fake_twilio.phone(BOB).assert_no_unexpected()  # BOB's inbox is clean
    with pytest.raises(AssertionError):
        fake_twilio.phone(CAROL).assert_no_unexpected()
    await fake_twilio.phone(CAROL).expect_sms()
    fake_twilio.assert_no_unexpected()


async def test_expect_timeout_lists_what_was_received(fake_twilio: FakeTwilio) -> None:  # noqa: F811
    send_sms(fake_twilio, body="hello there")
    phone = fake_twilio.phone(BOB)
    started = time.monotonic()
    with pytest.raises(AssertionError) as info:
        await phone.expect_sms("goodbye", timeout=0.2)
    assert time.monotonic() - started < 1
    message = str(info.value)
    assert "expected an SMS to +15555550123 containing 'goodbye' within 0.2s" in message
    assert "UNCONSUMED" in message and "hello there" in message
    await phone.expect_sms(re.compile(r"hello \w+"))


async def test_assert_nothing_sent_checks_at_once(fake_twilio: FakeTwilio) -> None:  # noqa: F811
    fake_twilio.assert_nothing_sent()
    await asyncio.to_thread(send_sms, fake_twilio, body="unasked page")
    fake_twilio.phone(CAROL).assert_nothing_sent()  # somebody else's text
    with pytest.raises(AssertionError, match="unasked page"):
        fake_twilio.phone(BOB).assert_nothing_sent()
    with pytest.raises(AssertionError, match="unasked page"):
        fake_twilio.assert_nothing_sent()
    await fake_twilio.phone(BOB).expect_sms("unasked page")
    fake_twilio.assert_nothing_sent()


async def test_basic_auth_header_is_checked_not_just_present() -> None:
    with FakeTwilio() as fake:
        bad = base64.b64encode(f"{ACCOUNT_SID}:nope".encode()).decode()
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                data={"To": BOB, "From": SERVICE_NUMBER, "Body": "x"},
                headers={"Authorization": f"Basic {bad}"},
            )
            missing = await http.post(
                f"{fake.url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json",
                data={"To": BOB, "From": SERVICE_NUMBER, "Body": "x"},
            )
        assert response.status_code == missing.status_code == 401
        assert response.json()["code"] == 20003


async def test_get_method_and_redirect_are_followed(
    fake_twilio: FakeTwilio,  # noqa: F811
    baton: MiniBaton,
) -> None:
    client = make_twilio_client(fake_twilio)
    client.calls.create(to=BOB, from_=SERVICE_NUMBER, url=ANSWER_URL, method="GET")
    await fake_twilio.phone(BOB).expect_call("Incident 1042")
    path, params, ok = baton.received[0]
    assert path == "/api/v1/twilio/voice/answer" and ok and params["CallStatus"] == "in-progress"
    twiml = (
        "<Response><Say>Hello.</Say>"
        "<Redirect>/api/v1/twilio/voice/answer?incident=7</Redirect></Response>"
    )
    client.calls.create(to=CAROL, from_=SERVICE_NUMBER, twiml=twiml)
    call = await fake_twilio.phone(CAROL).expect_call("Hello. Incident 7, payments-api")
    assert [d.url for d in call.documents] == [
        None,
        f"{PUBLIC}/api/v1/twilio/voice/answer?incident=7",
    ]
    assert call.gather is not None and call.gather.action is not None
    assert call.gather.action.endswith("/keypress?incident=7")
