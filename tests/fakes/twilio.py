"""Fake Twilio: the REST API for Messages and Calls, and phones used as test devices.

The real ``twilio`` client talks to it after ``client.api.base_url = fake.url`` (see
``make_twilio_client``). The fake records every request, can fail on demand, and posts
signed webhooks (status callbacks, inbound SMS, call answer and keypress requests) to Baton
through an injected ``httpx.AsyncClient``, signed over Baton's public URL.

    phone = fake_twilio.phone("+15555550123")
    sms = await phone.expect_sms("INC-1042")
    assert "acknowledged" in await phone.reply("4a")
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import re
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from twilio.http import HttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes._core import (
    DEFAULT_TIMEOUT,
    POLL_INTERVAL,
    BatonLink,
    Contains,
    FakeHttpServer,
    Inbox,
    RawRequest,
    RawResponse,
    describe_contains,
    raise_problems,
    short,
    text_matches,
)

ACCOUNT_SID = "ACdeadbeef00000000000000000000a001"
AUTH_TOKEN = "test-only-twilio-auth-token-not-real-41"  # test-only, from shared/fixtures/twilio
SERVICE_NUMBER = "+15555550100"
API_VERSION = "2010-04-01"
INBOUND_SMS_PATH = "/api/v1/twilio/sms/inbound"

_ROUTE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>[^/]+)/(?P<resource>Messages|Calls)"
    r"(?:/(?P<sid>[^/]+))?\.json$"
)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# code -> (HTTP status, message template). The codes and statuses are Twilio's; the
# message texts are close to Twilio's but not guaranteed verbatim.
_ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20004: (405, "Method not allowed"),
    20404: (404, "The requested resource {path} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "An internal server error has occurred"),
    20503: (503, "Service Unavailable"),
    21201: (400, "No 'To' number is specified"),
    21205: (400, "Url parameter is required."),
    21211: (400, "Invalid 'To' Phone Number: {to}"),
    21213: (400, "No 'From' number is specified"),
    21212: (400, "Invalid 'From' Phone Number: {from_}"),
    21408: (400, "Permission to send an SMS has not been enabled for the region of {to}"),
    21602: (400, "Message body is required."),
    21603: (400, "A 'From' phone number is required."),
    21604: (400, "A 'To' phone number is required."),
    21608: (
        400,
        "The number {to} is unverified. Trial accounts cannot send messages to unverified numbers.",
    ),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number {to} is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
}

# Delivery-time error codes used by default in failed/undelivered callbacks.
_DEFAULT_DELIVERY_ERROR = {"undelivered": 30003, "failed": 30008}

# Call status -> the StatusCallbackEvent that announces it.
_CALL_EVENT = {
    "initiated": "initiated",
    "ringing": "ringing",
    "in-progress": "answered",
    "completed": "completed",
    "busy": "completed",
    "no-answer": "completed",
    "failed": "completed",
    "canceled": "completed",
}

# The GSM 03.38 default alphabet (without ESC) and the extension table (2 septets each).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(body: str) -> tuple[str, int]:
    """(encoding, segments): GSM-7 160/153 septets, else UCS-2 70/67 UTF-16 code units."""
    if all(c in _GSM7_BASIC or c in _GSM7_EXTENDED for c in body):
        units = sum(2 if c in _GSM7_EXTENDED else 1 for c in body)
        encoding, single, multi = "GSM-7", 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        encoding, single, multi = "UCS-2", 70, 67
    if units <= single:
        return encoding, 1
    return encoding, -(-units // multi)


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _rfc2822(ts: float) -> str:
    return format_datetime(datetime.fromtimestamp(ts, UTC))


class _Params:
    """Form parameters with repeated keys, in the shape RequestValidator understands."""

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self._pairs))

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self._pairs if k == key]


def _pairs(params: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(params, Mapping):
        return [(str(k), str(v)) for k, v in params.items()]
    return [(str(k), str(v)) for k, v in params]


def compute_signature(
    auth_token: str, url: str, params: Mapping[str, str] | Sequence[tuple[str, str]] = ()
) -> str:
    """``X-Twilio-Signature`` for a POST to ``url`` with ``params`` (via the SDK)."""
    return RequestValidator(auth_token).compute_signature(url, _Params(_pairs(params)))


# --------------------------------------------------------------------------------------------
# TwiML helpers
# --------------------------------------------------------------------------------------------


def parse_twiml(xml_text: str) -> ET.Element:
    try:
        root = ET.fromstring(xml_text.encode("utf-8"))  # noqa: S314 - TwiML from the app under test
    except ET.ParseError as exc:
        raise AssertionError(f"not valid TwiML ({exc}): {short(xml_text, 300)!r}") from exc
    if root.tag != "Response":
        raise AssertionError(f"TwiML root must be <Response>, got <{root.tag}>")
    return root


def _element_text(element: ET.Element) -> str:
    return " ".join(" ".join(element.itertext()).split())


def twiml_say_text(xml_text: str) -> str:
    """The text of every ``<Say>`` in the document, in order, joined by spaces."""
    return " ".join(t for t in (_element_text(e) for e in parse_twiml(xml_text).iter("Say")) if t)


def twiml_message_text(xml_text: str) -> str:
    """The text of the ``<Message>`` replies in a TwiML answer ("" for ``<Response/>``)."""
    if not xml_text.strip():
        return ""
    texts = []
    for message in parse_twiml(xml_text).iter("Message"):
        body = message.find("Body")
        texts.append(_element_text(body if body is not None else message))
    return "\n".join(texts)


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class TwilioRequest:
    """One REST request the fake received (including rejected and failed ones)."""

    method: str
    path: str
    query: str
    params: list[tuple[str, str]]
    auth_user: str | None
    auth_ok: bool
    headers: list[tuple[str, str]]
    received_at: float
    status: int | None = None
    """HTTP status answered; None when the response was held and dropped."""
    response: Any = None

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.params:
            if k == key:
                return v
        return default

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.params if k == key]

    @property
    def resource(self) -> str | None:
        match = _ROUTE.match(self.path)
        return match["resource"] if match else None


@dataclass(eq=False)
class SmsRecord:
    """An SMS the fake accepted (201)."""

    sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    media_urls: list[str]
    encoding: str
    num_segments: int
    request: TwilioRequest
    created_at: float
    status: str = "queued"
    status_history: list[str] = field(default_factory=list)
    error_code: int | None = None
    consumed: bool = False

    @property
    def params(self) -> list[tuple[str, str]]:
        return self.request.params

    def describe(self) -> str:
        return f"SMS {self.sid} to {self.to} from {self.from_}: {short(self.body)!r}"


@dataclass
class Gather:
    action: str | None
    """Absolute URL the digits are posted to (Twilio's default: the current document)."""
    method: str
    num_digits: int | None
    finish_on_key: str


@dataclass
class TwimlDocument:
    url: str | None
    twiml: str


@dataclass(eq=False)
class CallRecord:
    """A voice call the fake accepted (201)."""

    sid: str
    to: str
    from_: str
    twiml: str | None
    """The inline ``Twiml`` parameter, if the call was created with one."""
    url: str | None
    """The ``Url`` parameter, if the call was created with one."""
    method: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: list[str]
    machine_detection: str | None
    request: TwilioRequest
    created_at: float
    status: str = "queued"
    status_history: list[str] = field(default_factory=list)
    answered: bool = False
    spoken: str = ""
    """Text of the ``<Say>`` verbs heard when the call was answered."""
    gather: Gather | None = None
    hung_up: bool = False
    documents: list[TwimlDocument] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)
    """What was said: the answer text, then the text after each keypress."""
    sequence: int = 0
    consumed: bool = False

    @property
    def params(self) -> list[tuple[str, str]]:
        return self.request.params

    def describe(self) -> str:
        how = f"Twiml={short(self.twiml, 120)!r}" if self.twiml is not None else f"Url={self.url}"
        said = f" said {short(self.spoken)!r}" if self.answered else ""
        return f"call {self.sid} to {self.to} from {self.from_}: {how}{said}"


@dataclass(eq=False)
class CallbackRecord:
    """A webhook the fake sent to Baton."""

    method: str
    url: str
    params: list[tuple[str, str]]
    signature: str | None
    status_code: int
    response_text: str


@dataclass(eq=False)
class InboundSms:
    sid: str
    from_: str
    to: str
    body: str
    status_code: int
    response_text: str


@dataclass
class TwilioFailure:
    """A scripted failure, consumed in order by matching create requests."""

    status: int = 500
    code: int | None = None
    message: str | None = None
    retry_after: float | None = None
    hold: float = 0.0
    deliver: bool = False
    to: str | None = None
    resource: str | None = None
    times: int | None = 1
    """How many requests it applies to; None for every matching request."""
    hits: int = 0


StatusSpec = str | tuple[str, int | None]


def _normalize_resource(resource: str | None) -> str | None:
    if resource is None:
        return None
    key = resource.lower()
    if key in ("sms", "message", "messages"):
        return "Messages"
    if key in ("call", "calls", "voice"):
        return "Calls"
    raise ValueError(f"unknown resource {resource!r}: use 'sms' or 'call'")


def _normalize_specs(specs: Sequence[StatusSpec] | None) -> list[tuple[str, int | None]] | None:
    if specs is None:
        return None
    return [(s, None) if isinstance(s, str) else (s[0], s[1]) for s in specs]


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeTwilio(FakeHttpServer):
    name = "fake_twilio"

    def __init__(
        self,
        *,
        account_sid: str = ACCOUNT_SID,
        auth_token: str = AUTH_TOKEN,
        baton_client: httpx.AsyncClient | None = None,
        public_url: str = "http://baton.test",
        service_number: str = SERVICE_NUMBER,
        inbound_sms_path: str = INBOUND_SMS_PATH,
        now: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host=host)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.api_keys: dict[str, str] = {}
        """Extra Basic-auth credentials accepted (API key SID -> secret)."""
        self.link = BatonLink(baton_client, public_url)
        self.service_number = service_number
        self.inbound_sms_path = inbound_sms_path
        self.now = now
        self.requests: list[TwilioRequest] = []
        self.callbacks: list[CallbackRecord] = []
        self.inbound: list[InboundSms] = []
        self._sms: Inbox[SmsRecord] = Inbox(self.lock)
        self._calls: Inbox[CallRecord] = Inbox(self.lock)
        self._failures: list[TwilioFailure] = []
        self._auto: dict[str, list[tuple[str, int | None]]] = {"sms": [], "call": []}
        self._phone_auto: dict[str, dict[str, list[tuple[str, int | None]] | None]] = {}
        self.auto_status_delay = 0.05
        self._phones: dict[str, FakePhone] = {}

    # -- wiring ------------------------------------------------------------------------------

    def connect(self, baton_client: httpx.AsyncClient, public_url: str | None = None) -> FakeTwilio:
        """Send webhooks to Baton through ``baton_client``, signed over ``public_url``."""
        self.link = BatonLink(baton_client, public_url or self.link.public_url)
        with contextlib.suppress(RuntimeError):
            self.loop = asyncio.get_running_loop()
        return self

    @property
    def public_url(self) -> str:
        return self.link.public_url

    @property
    def api_base_url(self) -> str:
        """Value for ``twilio.rest.Client(...).api.base_url`` (Baton: ``twilio_api_base_url``)."""
        return self.url

    @property
    def inbound_sms_url(self) -> str:
        return self.link.absolute(self.inbound_sms_path)

    def client(self, http_client: HttpClient | None = None) -> Client:
        return make_twilio_client(self, http_client=http_client)

    # -- records -----------------------------------------------------------------------------

    @property
    def messages(self) -> list[SmsRecord]:
        """Every SMS accepted so far (consumed or not)."""
        return self._sms.all()

    @property
    def calls(self) -> list[CallRecord]:
        return self._calls.all()

    def attempts(
        self, *, to: str | None = None, resource: str | None = None
    ) -> list[TwilioRequest]:
        """Create requests received (accepted or not), e.g. to count retries."""
        res = _normalize_resource(resource)
        with self.lock:
            return [
                r
                for r in self.requests
                if r.method == "POST"
                and r.resource is not None
                and _ROUTE.match(r.path)["sid"] is None  # type: ignore[index]
                and (res is None or r.resource == res)
                and (to is None or r.get("To") == to)
            ]

    def phone(self, number: str) -> FakePhone:
        if not _E164.match(number):
            raise ValueError(f"phone numbers are E.164, got {number!r}")
        with self.lock:
            if number not in self._phones:
                self._phones[number] = FakePhone(self, number)
            return self._phones[number]

    def message(self, sid: str) -> SmsRecord:
        for rec in self._sms.all(lambda r: r.sid == sid):
            return rec
        raise KeyError(sid)

    def call(self, sid: str) -> CallRecord:
        for rec in self._calls.all(lambda r: r.sid == sid):
            return rec
        raise KeyError(sid)

    # -- failure injection -------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 500,
        *,
        code: int | None = None,
        message: str | None = None,
        times: int | None = 1,
        to: str | None = None,
        resource: str | None = None,
        retry_after: float | None = None,
    ) -> TwilioFailure:
        """Answer the next ``times`` matching create requests with an error.

        ``to`` limits it to one number, ``resource`` to ``"sms"`` or ``"call"``;
        ``times=None`` makes it permanent. Rules are consumed in the order they were added.
        """
        if code is None:
            code = {401: 20003, 404: 20404, 429: 20429, 503: 20503}.get(status, 20500)
        rule = TwilioFailure(
            status=status,
            code=code,
            message=message,
            retry_after=retry_after,
            to=to,
            resource=_normalize_resource(resource),
            times=times,
        )
        with self.lock:
            self._failures.append(rule)
        return rule

    def server_error(
        self, times: int | None = 1, *, status: int = 500, **match: Any
    ) -> TwilioFailure:
        return self.fail_next(status, times=times, **match)

    def rate_limit(
        self, retry_after: float = 1, *, times: int | None = 1, **match: Any
    ) -> TwilioFailure:
        """HTTP 429, code 20429, with ``Retry-After``."""
        return self.fail_next(429, code=20429, retry_after=retry_after, times=times, **match)

    def reject(self, code: int, *, times: int | None = 1, **match: Any) -> TwilioFailure:
        """A 4xx Twilio error: 21211 invalid To, 21614 not SMS-capable, 21610 unsubscribed..."""
        status = _ERRORS.get(code, (400, ""))[0]
        return self.fail_next(status, code=code, times=times, **match)

    def hold(
        self,
        seconds: float,
        *,
        times: int | None = 1,
        deliver: bool = False,
        to: str | None = None,
        resource: str | None = None,
    ) -> TwilioFailure:
        """Hold the response ``seconds`` (the client times out), then drop the connection.

        With ``deliver=True`` the request is then processed as if Twilio had accepted it
        (the message counts as sent: the "unknown outcome" case).
        """
        rule = TwilioFailure(
            hold=seconds,
            deliver=deliver,
            times=times,
            to=to,
            resource=_normalize_resource(resource),
        )
        with self.lock:
            self._failures.append(rule)
        return rule

    def clear_failures(self) -> None:
        with self.lock:
            self._failures.clear()

    def _take_failure(self, resource: str, to: str | None) -> TwilioFailure | None:
        with self.lock:
            for rule in self._failures:
                if rule.resource not in (None, resource) or rule.to not in (None, to):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._failures.remove(rule)
                return rule
        return None

    # -- automatic status callbacks ----------------------------------------------------------

    def auto_status(
        self,
        *,
        sms: Sequence[StatusSpec] = (),
        call: Sequence[StatusSpec] = (),
        delay: float | None = None,
    ) -> None:
        """Post these status callbacks by itself after each accepted request.

        e.g. ``auto_status(sms=["sent", "delivered"])`` or ``sms=["sent", ("undelivered", 30003)]``.
        Call statuses are only sent for the ``StatusCallbackEvent``s Baton asked for (the
        final status always). Nothing is sent when Baton gave no ``StatusCallback``.
        """
        self._auto = {"sms": _normalize_specs(sms) or [], "call": _normalize_specs(call) or []}
        if delay is not None:
            self.auto_status_delay = delay

    def _auto_specs(self, record: SmsRecord | CallRecord) -> list[tuple[str, int | None]]:
        kind = "sms" if isinstance(record, SmsRecord) else "call"
        override = self._phone_auto.get(record.to, {}).get(kind)
        return override if override is not None else self._auto[kind]

    def _schedule_auto(self, record: SmsRecord | CallRecord) -> None:
        specs = self._auto_specs(record)
        if not specs or not record.status_callback:
            return

        async def run() -> None:
            for status, code in specs:
                await asyncio.sleep(self.auto_status_delay)
                if isinstance(record, CallRecord):
                    event = _CALL_EVENT.get(status)
                    if event != "completed" and event not in record.status_callback_events:
                        continue
                response = await self.send_status(record, status, code)
                if not 200 <= response.status_code < 300:
                    raise AssertionError(
                        f"Baton answered {response.status_code} to the {status!r} callback for "
                        f"{record.sid}: {short(response.text, 200)}"
                    )

        self.spawn(run, f"auto status callback for {record.sid}")

    # -- HTTP --------------------------------------------------------------------------------

    def _check_auth(self, req: RawRequest) -> tuple[str | None, bool]:
        header = req.header("Authorization") or ""
        if not header.lower().startswith("basic "):
            return None, False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        if user == self.account_sid:
            return user, secrets.compare_digest(password, self.auth_token)
        if user in self.api_keys:
            return user, secrets.compare_digest(password, self.api_keys[user])
        return user, False

    def handle(self, request: RawRequest) -> RawResponse:
        params = (
            request.form() if request.content_type == "application/x-www-form-urlencoded" else []
        )
        if request.method == "GET":
            params = request.query_params
        user, auth_ok = self._check_auth(request)
        record = TwilioRequest(
            method=request.method,
            path=request.path,
            query=request.query,
            params=params,
            auth_user=user,
            auth_ok=auth_ok,
            headers=request.headers,
            received_at=self.now(),
        )
        with self.lock:
            self.requests.append(record)
        response = self._route(request, record)
        record.status = None if response.drop else response.status
        try:
            record.response = json.loads(response.body) if response.body else None
        except ValueError:
            record.response = response.body.decode("utf-8", "replace")
        return response

    def _route(self, req: RawRequest, record: TwilioRequest) -> RawResponse:
        match = _ROUTE.match(req.path)
        if match is None:
            return self._error(20404, path=req.path)
        if not record.auth_ok:
            return self._error(20003)
        if match["account"] != self.account_sid:
            return self._error(20404, path=req.path)
        resource, sid = match["resource"], match["sid"]
        if req.method == "POST" and sid is None:
            if resource == "Messages":
                return self._create_message(record)
            return self._create_call(record)
        if req.method == "GET" and sid is None:
            return self._list(resource, record)
        if req.method in ("GET", "POST") and sid is not None:
            try:
                rec: SmsRecord | CallRecord = (
                    self.message(sid) if resource == "Messages" else self.call(sid)
                )
            except KeyError:
                return self._error(20404, path=req.path)
            if req.method == "POST":
                self._update(rec, record)
            return RawResponse.json(self._resource_json(rec))
        return self._error(20004)

    def _error(
        self,
        code: int,
        *,
        status: int | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        **fmt: str | None,
    ) -> RawResponse:
        default_status, template = _ERRORS.get(code, (status or 400, "Error"))
        status = status or default_status
        text = message or template.format_map(
            defaultdict(str, {k: v or "" for k, v in fmt.items()})
        )
        body = {
            "code": code,
            "message": text,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
        headers = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        return RawResponse.json(body, status=status, headers=headers)

    def _failure_response(self, rule: TwilioFailure, to: str | None) -> RawResponse | None:
        if rule.hold:
            stopped = self.hold_request(rule.hold)
            if stopped or not rule.deliver:
                return RawResponse(drop=True)
            return None
        return self._error(
            rule.code or 20500,
            status=rule.status,
            message=rule.message,
            retry_after=rule.retry_after,
            to=to,
        )

    def _create_message(self, req: TwilioRequest) -> RawResponse:
        to, from_, body = req.get("To"), req.get("From"), req.get("Body")
        service = req.get("MessagingServiceSid")
        media = req.getall("MediaUrl")
        rule = self._take_failure("Messages", to)
        if rule is not None:
            failure = self._failure_response(rule, to)
            if failure is not None:
                return failure
        if not to:
            return self._error(21604)
        if not _E164.match(to):
            return self._error(21211, to=to)
        if not from_ and not service:
            return self._error(21603)
        if not body and not media:
            return self._error(21602)
        if body and len(body) > 1600:
            return self._error(21617)
        encoding, segments = sms_segments(body or "")
        rec = SmsRecord(
            sid=new_sid("SM"),
            to=to,
            from_=from_,
            body=body or "",
            messaging_service_sid=service,
            status_callback=req.get("StatusCallback"),
            media_urls=media,
            encoding=encoding,
            num_segments=segments,
            request=req,
            created_at=self.now(),
            status="queued" if from_ else "accepted",
        )
        self._sms.add(rec)
        response = RawResponse.json(self._resource_json(rec), status=201)
        response.after = lambda: self._schedule_auto(rec)
        return response

    def _create_call(self, req: TwilioRequest) -> RawResponse:
        to, from_ = req.get("To"), req.get("From")
        rule = self._take_failure("Calls", to)
        if rule is not None:
            failure = self._failure_response(rule, to)
            if failure is not None:
                return failure
        if not to:
            return self._error(21201)
        if not _E164.match(to):
            return self._error(21211, to=to)
        if not from_:
            return self._error(21213)
        if not _E164.match(from_):
            return self._error(21212, from_=from_)
        if not (req.get("Url") or req.get("Twiml") or req.get("ApplicationSid")):
            return self._error(21205)
        rec = CallRecord(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            twiml=req.get("Twiml"),
            url=req.get("Url"),
            method=(req.get("Method") or "POST").upper(),
            status_callback=req.get("StatusCallback"),
            status_callback_method=(req.get("StatusCallbackMethod") or "POST").upper(),
            status_callback_events=[
                e for v in req.getall("StatusCallbackEvent") for e in v.split()
            ],
            machine_detection=req.get("MachineDetection"),
            request=req,
            created_at=self.now(),
        )
        self._calls.add(rec)
        response = RawResponse.json(self._resource_json(rec), status=201)
        response.after = lambda: self._schedule_auto(rec)
        return response

    def _update(self, rec: SmsRecord | CallRecord, req: TwilioRequest) -> None:
        status = req.get("Status")
        if status:
            rec.status = status
            rec.status_history.append(status)
        if isinstance(rec, SmsRecord) and req.get("Body") is not None:
            rec.body = req.get("Body") or ""

    def _list(self, resource: str, req: TwilioRequest) -> RawResponse:
        inbox: Inbox[Any] = self._sms if resource == "Messages" else self._calls
        to, from_ = req.get("To"), req.get("From")
        items = [
            self._resource_json(r)
            for r in reversed(inbox.all())
            if (to is None or r.to == to) and (from_ is None or r.from_ == from_)
        ]
        uri = f"/2010-04-01/Accounts/{self.account_sid}/{resource}.json"
        return RawResponse.json(
            {
                resource.lower(): items,
                "end": max(len(items) - 1, 0),
                "first_page_uri": f"{uri}?PageSize=50&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize=50&Page=0",
            }
        )

    def _resource_json(self, rec: SmsRecord | CallRecord) -> dict[str, Any]:
        created = _rfc2822(rec.created_at)
        if isinstance(rec, SmsRecord):
            uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{rec.sid}"
            return {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": rec.body,
                "date_created": created,
                "date_sent": None,
                "date_updated": created,
                "direction": "outbound-api",
                "error_code": rec.error_code,
                "error_message": None,
                "from": rec.from_,
                "messaging_service_sid": rec.messaging_service_sid,
                "num_media": str(len(rec.media_urls)),
                "num_segments": str(rec.num_segments),
                "price": None,
                "price_unit": "USD",
                "sid": rec.sid,
                "status": rec.status,
                "subresource_uris": {"media": f"{uri}/Media.json"},
                "to": rec.to,
                "uri": f"{uri}.json",
            }
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Calls/{rec.sid}"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": None,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": created,
            "date_updated": created,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": rec.from_,
            "from_formatted": rec.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": rec.sid,
            "start_time": None,
            "status": rec.status,
            "subresource_uris": {
                "notifications": f"{uri}/Notifications.json",
                "recordings": f"{uri}/Recordings.json",
            },
            "to": rec.to,
            "to_formatted": rec.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }

    # -- webhooks to Baton -------------------------------------------------------------------

    def sign(self, url: str, params: Mapping[str, str] | Sequence[tuple[str, str]] = ()) -> str:
        return compute_signature(self.auth_token, url, params)

    async def post_signed(
        self,
        url: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        method: str = "POST",
        token: str | None = None,
        sign_url: str | None = None,
        signature: str | None = None,
        omit_signature: bool = False,
        base: str | None = None,
    ) -> httpx.Response:
        """Send a webhook to Baton as Twilio does.

        ``url`` is absolute (as Baton gave it) or a path under the public URL. The signature
        covers the absolute URL (``sign_url`` overrides it) and the params, keyed with
        ``token`` (default: the auth token); ``signature`` sends a literal header value and
        ``omit_signature`` none at all. GET requests carry the params in the query string.
        """
        absolute = self.link.absolute(url, base)
        pairs = _pairs(params)
        method = method.upper()
        body = ""
        if method == "GET":
            absolute = absolute + ("&" if "?" in absolute else "?") + urlencode(pairs)
            sig = compute_signature(token or self.auth_token, sign_url or absolute)
        else:
            body = urlencode(pairs)
            sig = compute_signature(token or self.auth_token, sign_url or absolute, pairs)
        if signature is not None:
            sig = signature
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "I-Twilio-Idempotency-Token": str(uuid.uuid4()),
        }
        if method != "GET":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if not omit_signature:
            headers["X-Twilio-Signature"] = sig
        response = await self.link.request(method, absolute, content=body, headers=headers)
        with self.lock:
            self.callbacks.append(
                CallbackRecord(
                    method=method,
                    url=absolute,
                    params=pairs,
                    signature=None if omit_signature else sig,
                    status_code=response.status_code,
                    response_text=response.text,
                )
            )
        return response

    async def post_forged(
        self,
        url: str,
        params: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        token: str = "not-the-auth-token",  # noqa: S107 - deliberately wrong
        signature: str | None = None,
        sign_url: str | None = None,
        omit_signature: bool = False,
    ) -> httpx.Response:
        """A webhook with a bad signature (wrong token by default) for negative tests."""
        return await self.post_signed(
            url,
            params,
            token=token,
            signature=signature,
            sign_url=sign_url,
            omit_signature=omit_signature,
        )

    def sms_status_params(
        self, rec: SmsRecord, status: str, error_code: int | None = None
    ) -> list[tuple[str, str]]:
        params = [
            ("SmsSid", rec.sid),
            ("SmsStatus", status),
            ("MessageStatus", status),
            ("To", rec.to),
        ]
        if rec.messaging_service_sid:
            params.append(("MessagingServiceSid", rec.messaging_service_sid))
        params += [
            ("MessageSid", rec.sid),
            ("AccountSid", self.account_sid),
            ("From", rec.from_ or self.service_number),
            ("ApiVersion", API_VERSION),
        ]
        if error_code is None:
            error_code = _DEFAULT_DELIVERY_ERROR.get(status)
        if error_code is not None:
            params.append(("ErrorCode", str(error_code)))
        if status in ("delivered", "undelivered"):
            done = datetime.fromtimestamp(self.now(), UTC).strftime("%y%m%d%H%M")
            params.append(("RawDlrDoneDate", done))
        return params

    def call_params(self, rec: CallRecord, status: str) -> list[tuple[str, str]]:
        """The fields Twilio sends with every voice webhook (answer, Gather, status)."""
        params = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", rec.sid),
            ("CallStatus", status),
            ("Called", rec.to),
            ("CalledCity", ""),
            ("CalledCountry", "US"),
            ("CalledState", ""),
            ("CalledZip", ""),
            ("Caller", rec.from_),
            ("CallerCity", ""),
            ("CallerCountry", "US"),
            ("CallerState", ""),
            ("CallerZip", ""),
            ("Direction", "outbound-api"),
            ("From", rec.from_),
            ("FromCity", ""),
            ("FromCountry", "US"),
            ("FromState", ""),
            ("FromZip", ""),
            ("To", rec.to),
            ("ToCity", ""),
            ("ToCountry", "US"),
            ("ToState", ""),
            ("ToZip", ""),
        ]
        if rec.machine_detection:
            params.append(("AnsweredBy", "human"))
        return params

    def call_status_params(
        self,
        rec: CallRecord,
        status: str,
        *,
        duration: int | None = None,
        error_code: int | None = None,
    ) -> list[tuple[str, str]]:
        rec.sequence += 1
        params = self.call_params(rec, status)
        params += [
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", str(rec.sequence - 1)),
            ("Timestamp", _rfc2822(self.now())),
        ]
        if status == "completed":
            seconds = duration if duration is not None else 0
            params += [("CallDuration", str(seconds)), ("Duration", str(-(-seconds // 60)))]
        if error_code is not None:
            params.append(("ErrorCode", str(error_code)))
        return params

    async def send_status(
        self,
        record: SmsRecord | CallRecord,
        status: str,
        error_code: int | None = None,
        *,
        duration: int | None = None,
    ) -> httpx.Response:
        """Post a status callback for ``record`` to the StatusCallback URL Baton gave."""
        if not record.status_callback:
            raise AssertionError(f"Baton gave no StatusCallback when creating {record.describe()}")
        if isinstance(record, SmsRecord):
            params = self.sms_status_params(record, status, error_code)
            method = "POST"
            if error_code is not None or status in _DEFAULT_DELIVERY_ERROR:
                record.error_code = error_code or _DEFAULT_DELIVERY_ERROR.get(status)
        else:
            params = self.call_status_params(
                record, status, duration=duration, error_code=error_code
            )
            method = record.status_callback_method
        record.status = status
        record.status_history.append(status)
        return await self.post_signed(record.status_callback, params, method=method)

    # -- voice -------------------------------------------------------------------------------

    async def _fetch(
        self, call: CallRecord, url: str, method: str, extra: Sequence[tuple[str, str]] = ()
    ) -> str:
        params = self.call_params(call, "in-progress") + list(extra)
        response = await self.post_signed(url, params, method=method)
        if not 200 <= response.status_code < 300:
            raise AssertionError(
                f"Baton answered {response.status_code} to the voice webhook {url} for "
                f"{call.sid}: {short(response.text, 300)}"
            )
        return response.text

    async def _play(self, call: CallRecord, twiml: str, doc_url: str | None, depth: int = 0) -> str:
        root = parse_twiml(twiml)
        call.documents.append(TwimlDocument(doc_url, twiml))
        said = [t for t in (_element_text(e) for e in root.iter("Say")) if t]
        if root.find("Hangup") is not None or root.find("Reject") is not None:
            call.hung_up = True
        gather = root.find(".//Gather")
        call.gather = None
        if gather is not None:
            action = gather.get("action")
            resolved = self.link.absolute(action, doc_url) if action else doc_url
            digits = gather.get("numDigits")
            call.gather = Gather(
                action=resolved,
                method=(gather.get("method") or "POST").upper(),
                num_digits=int(digits) if digits and digits.isdigit() else None,
                finish_on_key=gather.get("finishOnKey", "#"),
            )
        redirect = root.find("Redirect")
        if gather is None and redirect is not None and (redirect.text or "").strip() and depth < 5:
            target = self.link.absolute((redirect.text or "").strip(), doc_url)
            more = await self._play(
                call,
                await self._fetch(call, target, (redirect.get("method") or "POST").upper()),
                target,
                depth + 1,
            )
            said.append(more)
        return " ".join(t for t in said if t)

    async def answer(self, call: CallRecord) -> str:
        """Answer the call: fetch its TwiML (signed POST to ``Url``) or use the inline one."""
        if call.answered:
            return call.spoken
        if call.twiml is not None:
            text = await self._play(call, call.twiml, None)
        elif call.url:
            text = await self._play(call, await self._fetch(call, call.url, call.method), call.url)
        else:
            raise AssertionError(f"{call.describe()} has neither Twiml nor Url (ApplicationSid?)")
        call.answered = True
        call.status = "in-progress"
        call.spoken = text
        call.transcript.append(text)
        return text

    async def press(self, call: CallRecord, digits: str) -> str:
        if not call.answered:
            await self.answer(call)
        if call.hung_up:
            raise AssertionError(f"{call.describe()} was hung up; cannot press {digits!r}")
        gather = call.gather
        if gather is None:
            raise AssertionError(
                f"{call.describe()} has no <Gather>; last TwiML: "
                f"{short(call.documents[-1].twiml if call.documents else '', 300)!r}"
            )
        if gather.action is None:
            raise AssertionError(f"<Gather> of inline TwiML in {call.sid} needs an action URL")
        finished = (
            "" if gather.num_digits and len(digits) >= gather.num_digits else gather.finish_on_key
        )
        twiml = await self._fetch(
            call, gather.action, gather.method, [("Digits", digits), ("FinishedOnKey", finished)]
        )
        text = await self._play(call, twiml, gather.action)
        call.transcript.append(text)
        return text

    # -- checks ------------------------------------------------------------------------------

    def assert_no_unexpected(self) -> None:
        """Fail if an accepted SMS or call was not consumed by an expectation."""
        problems = [f"unexpected {r.describe()}" for r in self._sms.unconsumed()]
        problems += [f"unexpected {r.describe()}" for r in self._calls.unconsumed()]
        problems += self._problems()
        raise_problems("fake_twilio: unexpected traffic", problems)

    def assert_nothing_sent(self) -> None:
        """Fail if an SMS or call exists that no expectation consumed (an immediate check:
        bring the sender to rest first)."""
        self._sms.check_none_unconsumed("fake_twilio: SMS sent")
        self._calls.check_none_unconsumed("fake_twilio: call placed")


class FakePhone:
    """A phone number as a test device."""

    def __init__(self, fake: FakeTwilio, number: str) -> None:
        self.fake = fake
        self.number = number
        self.last_reply: httpx.Response | None = None

    def __repr__(self) -> str:
        return f"FakePhone({self.number!r})"

    @property
    def sms(self) -> list[SmsRecord]:
        return self.fake._sms.all(self._mine)

    @property
    def calls(self) -> list[CallRecord]:
        return self.fake._calls.all(self._mine)

    def _mine(self, rec: SmsRecord | CallRecord) -> bool:
        return rec.to == self.number

    # -- expectations ------------------------------------------------------------------------

    async def expect_sms(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
    ) -> SmsRecord:
        """Wait for an SMS to this phone whose body matches ``contains``; consume it."""
        return await self.fake._sms.expect(
            lambda r: self._mine(r) and text_matches(r.body, contains),
            timeout=timeout,
            what=f"an SMS to {self.number} {describe_contains(contains)}",
            scope=self._mine,
        )

    async def expect_call(
        self,
        contains: Contains = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109
        *,
        answer: bool = True,
    ) -> CallRecord:
        """Wait for a call to this phone; answer it and match ``contains`` on the spoken text.

        With ``answer=False`` the call is not answered (no request to a ``Url``); inline
        TwiML is still matched.
        """
        deadline = time.monotonic() + timeout
        while True:
            for call in self.fake._calls.unconsumed(self._mine):
                if answer:
                    text = await self.fake.answer(call)
                elif call.twiml is not None:
                    text = twiml_say_text(call.twiml)
                else:
                    text = ""
                if text_matches(text, contains):
                    with self.fake.lock:
                        if call.consumed:
                            continue
                        call.consumed = True
                    return call
            if time.monotonic() >= deadline:
                raise AssertionError(
                    self.fake._calls.failure(
                        f"a call to {self.number} {describe_contains(contains)}",
                        timeout,
                        self._mine,
                    )
                )
            await asyncio.sleep(POLL_INTERVAL)

    def assert_no_unexpected(self) -> None:
        self.fake._sms.check_none_unconsumed(f"phone {self.number} SMS", self._mine)
        self.fake._calls.check_none_unconsumed(f"phone {self.number} calls", self._mine)

    def assert_nothing_sent(self) -> None:
        """``assert_no_unexpected``, named for the check after the sender was brought to rest."""
        self.assert_no_unexpected()

    # -- actions -----------------------------------------------------------------------------

    def _default_to(self) -> str:
        sent = self.sms
        if sent:
            return sent[-1].from_ or self.fake.service_number
        return self.fake.service_number

    def inbound_params(
        self, body: str, *, to: str | None = None, message_sid: str | None = None
    ) -> list[tuple[str, str]]:
        """The form fields of an inbound SMS from this phone, in Twilio's order."""
        sid = message_sid or new_sid("SM")
        return [
            ("ToCountry", "US"),
            ("ToState", "CA"),
            ("SmsMessageSid", sid),
            ("NumMedia", "0"),
            ("ToCity", ""),
            ("FromZip", ""),
            ("SmsSid", sid),
            ("FromState", "CA"),
            ("SmsStatus", "received"),
            ("FromCity", ""),
            ("Body", body),
            ("FromCountry", "US"),
            ("To", to or self._default_to()),
            ("ToZip", ""),
            ("NumSegments", str(sms_segments(body)[1])),
            ("MessageSid", sid),
            ("AccountSid", self.fake.account_sid),
            ("From", self.number),
            ("ApiVersion", API_VERSION),
        ]

    async def reply_raw(
        self, body: str, *, to: str | None = None, message_sid: str | None = None
    ) -> httpx.Response:
        """Post a signed inbound SMS to Baton and return its HTTP response."""
        params = self.inbound_params(body, to=to, message_sid=message_sid)
        response = await self.fake.post_signed(self.fake.inbound_sms_url, params)
        self.last_reply = response
        fields = dict(params)
        with self.fake.lock:
            self.fake.inbound.append(
                InboundSms(
                    sid=fields["MessageSid"],
                    from_=self.number,
                    to=fields["To"],
                    body=body,
                    status_code=response.status_code,
                    response_text=response.text,
                )
            )
        return response

    async def reply(self, body: str, *, to: str | None = None) -> str:
        """Text ``body`` to Baton (to the number that last texted this phone by default).

        Returns the text of the TwiML ``<Message>`` reply ("" for an empty ``<Response/>``).
        The reply is not recorded as an outbound SMS.
        """
        response = await self.reply_raw(body, to=to)
        if not 200 <= response.status_code < 300:
            raise AssertionError(
                f"Baton answered {response.status_code} to SMS {body!r} from {self.number}: "
                f"{short(response.text, 300)}"
            )
        return twiml_message_text(response.text)

    async def press(self, call: CallRecord, digits: str) -> str:
        """Press keys during ``call``; returns the ``<Say>`` text of Baton's answer."""
        return await self.fake.press(call, digits)

    async def status(
        self,
        record: SmsRecord | CallRecord,
        status: str,
        error_code: int | None = None,
        *,
        duration: int | None = None,
        check: bool = True,
    ) -> httpx.Response:
        """Post a status callback (``delivered``, ``undelivered``, ``completed``, ``busy``...)."""
        response = await self.fake.send_status(record, status, error_code, duration=duration)
        if check and not 200 <= response.status_code < 300:
            raise AssertionError(
                f"Baton answered {response.status_code} to status {status!r} for {record.sid}: "
                f"{short(response.text, 300)}"
            )
        return response

    def auto_status(
        self, *, sms: Sequence[StatusSpec] | None = None, call: Sequence[StatusSpec] | None = None
    ) -> None:
        """Per-phone override of ``FakeTwilio.auto_status`` (None: use the fake's setting)."""
        self.fake._phone_auto[self.number] = {
            "sms": _normalize_specs(sms),
            "call": _normalize_specs(call),
        }

    # failure injection for this number only
    def fail_next(self, status: int = 500, **kw: Any) -> TwilioFailure:
        return self.fake.fail_next(status, to=self.number, **kw)

    def reject(self, code: int, **kw: Any) -> TwilioFailure:
        return self.fake.reject(code, to=self.number, **kw)

    def rate_limit(self, retry_after: float = 1, **kw: Any) -> TwilioFailure:
        return self.fake.rate_limit(retry_after, to=self.number, **kw)

    def server_error(self, times: int | None = 1, **kw: Any) -> TwilioFailure:
        return self.fake.server_error(times, to=self.number, **kw)

    def hold(self, seconds: float, **kw: Any) -> TwilioFailure:
        return self.fake.hold(seconds, to=self.number, **kw)


def make_twilio_client(fake: FakeTwilio, *, http_client: HttpClient | None = None) -> Client:
    """A real ``twilio.rest.Client`` whose Api domain (Messages, Calls...) is the fake.

    Production code mirrors this with a ``twilio_api_base_url`` setting:
    ``client.api.base_url = settings.twilio_api_base_url``. Every v2010 resource
    (``client.messages``, ``client.calls``, ``client.api.v2010.account...``, sync and
    ``*_async``) builds its URL from ``client.api.base_url``. ``edge``/``region`` must stay
    unset: they rewrite the host (``127.0.0.1`` -> ``127.sydney.0.0.1``).
    """
    client = Client(fake.account_sid, fake.auth_token, http_client=http_client)
    client.edge = None
    client.region = None
    client.api.base_url = fake.api_base_url
    return client
