"""Twilio as a paging channel: SMS (Messages API) and voice calls (Calls API, TwiML of ``voice``).

The ``twilio`` client is synchronous, so each request runs in a worker thread. Its Api domain
is pointed at ``twilio_api_base_url`` exactly like the test fakes do (``client.api.base_url``;
``edge``/``region`` cleared, they would rewrite the host).

Failures are sorted by what they mean for the page:

* the number is bad (21211, 21614, 21610, 21608): permanent, and the contact method is
  disabled so the person's next rule takes over at once;
* Twilio is busy or broken (HTTP 429 / 20429, 5xx) or could not be reached at all: temporary,
  retried with backoff (Retry-After honoured);
* the request went out but no answer came back (a read timeout, a dropped connection): the
  SMS may or may not be on its way, so it is recorded as failed and never repeated.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
import urllib3
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

from app.integrations.twilio import sms_text
from app.integrations.twilio.voice import gather_twiml, spoken_text
from app.notify.base import DeliveryResult, DeliveryStatus, MessageKind, OutboundMessage
from app.notify.pacing import Pacer
from app.people.models import ContactType

SMS_STATUS_PATH = "/api/v1/twilio/sms/status"
VOICE_STATUS_PATH = "/api/v1/twilio/voice/status"

# The number cannot take this message at all: invalid, not a mobile, unsubscribed, unverified.
UNUSABLE_CODES = frozenset({21211, 21614, 21610, 21608})
_REASONS = {
    21211: "invalid phone number",
    21614: "not a mobile number (cannot receive SMS)",
    21610: "the recipient texted STOP (unsubscribed)",
    21608: "unverified number (Twilio trial account)",
    20003: "Twilio rejected Baton's credentials",
    20429: "too many concurrent requests",
}

# The twilio library logs every request at INFO; Baton's own timeline says what was sent.
_http_log = logging.getLogger("baton.twilio.http")
_http_log.setLevel(logging.WARNING)

T = TypeVar("T")


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str = field(repr=False)
    from_number: str
    public_url: str
    messaging_service_sid: str = ""
    api_base_url: str = "https://api.twilio.com"
    timeout: float = 10.0
    sms_per_second: float = 1.0
    calls_per_second: float = 1.0


class _HttpClient(TwilioHttpClient):
    """Keeps each thread's last response: a 429's Retry-After header is only visible there."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_http_log)
        self._local = threading.local()

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self._local.response = None
        response = super().request(*args, **kwargs)
        self._local.response = response
        return response

    def retry_after(self) -> float | None:
        response: Response | None = getattr(self._local, "response", None)
        if response is None:
            return None
        value = (response.headers or {}).get("Retry-After") or (response.headers or {}).get(
            "retry-after"
        )
        try:
            return max(float(value), 0.0) if value else None
        except ValueError:
            return None  # an HTTP date: the backoff is good enough


def make_client(config: TwilioConfig) -> tuple[Client, _HttpClient]:
    http = _HttpClient(timeout=config.timeout)
    client = Client(config.account_sid, config.auth_token, http_client=http)
    client.edge = None
    client.region = None
    client.api.base_url = config.api_base_url.rstrip("/")
    return client, http


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: Exception | None = None
    retry_after: float | None = None


class TwilioProvider:
    """SMS and voice pages through one Twilio account."""

    name = "twilio"

    def __init__(
        self,
        config: TwilioConfig,
        *,
        sms_pacer: Pacer | None = None,
        call_pacer: Pacer | None = None,
    ) -> None:
        self.config = config
        self.client, self._http = make_client(config)
        self.sms_pacer = sms_pacer or Pacer(config.sms_per_second)
        self.call_pacer = call_pacer or Pacer(config.calls_per_second)

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.contact_type is ContactType.VOICE:
            return await self._call(message)
        return await self._sms(message)

    # -------------------------------------------------------------------------------- SMS

    def sms_body(self, message: OutboundMessage) -> str:
        if message.kind in (MessageKind.PAGE, MessageKind.SUMMARY):
            # Rendered with its reply code when the page was queued (``reply_codes``).
            return sms_text.to_gsm7(message.text)
        return sms_text.plain_sms(message.text)

    async def _sms(self, message: OutboundMessage) -> DeliveryResult:
        await self.sms_pacer.acquire(self.config.messaging_service_sid or self.config.from_number)
        params: dict[str, Any] = {
            "to": message.address,
            "body": self.sms_body(message),
            "status_callback": self._callback_url(SMS_STATUS_PATH, message),
        }
        if self.config.messaging_service_sid:
            params["messaging_service_sid"] = self.config.messaging_service_sid
        else:
            params["from_"] = self.config.from_number
        outcome = await self._in_thread(lambda: self.client.messages.create(**params))
        return self._result(outcome, "SMS")

    # ------------------------------------------------------------------------------ voice

    async def _call(self, message: OutboundMessage) -> DeliveryResult:
        await self.call_pacer.acquire(self.config.account_sid)  # calls per second per account
        params: dict[str, Any] = {
            "to": message.address,
            "from_": self.config.from_number,
            "twiml": self.call_twiml(message),
            "status_callback": self._callback_url(VOICE_STATUS_PATH, message),
            "status_callback_event": ["answered", "completed"],
            "status_callback_method": "POST",
            "timeout": 30,
        }
        outcome = await self._in_thread(lambda: self.client.calls.create(**params))
        return self._result(outcome, "call")

    def call_twiml(self, message: OutboundMessage) -> str:
        notification_id = message.context.get("notification_id")
        if message.kind not in (MessageKind.PAGE, MessageKind.SUMMARY) or notification_id is None:
            response = VoiceResponse()
            response.say(spoken_text(message), loop=2)
            return str(response)
        return gather_twiml(
            self.config.public_url,
            int(notification_id),
            spoken_text(message),
            1,
            bundle=message.kind is MessageKind.SUMMARY,
        )

    # ---------------------------------------------------------------------------- helpers

    def _callback_url(self, path: str, message: OutboundMessage) -> str:
        # The notification id rides along (signed with the rest of the URL) so a callback that
        # beats the recording of the send still finds its notification.
        notification_id = message.context.get("notification_id")
        query = f"?{urlencode({'n': notification_id})}" if notification_id is not None else ""
        return f"{self.config.public_url}{path}{query}"

    async def _in_thread(self, work: Callable[[], T]) -> _Outcome:
        def run() -> _Outcome:
            try:
                return _Outcome(value=work())
            except Exception as exc:  # judged in _result, on the event loop
                return _Outcome(error=exc, retry_after=self._http.retry_after())

        return await asyncio.to_thread(run)

    def _result(self, outcome: _Outcome, what: str) -> DeliveryResult:
        if outcome.error is None:
            return DeliveryResult(
                DeliveryStatus.SENT, self.name, provider_message_id=str(outcome.value.sid)
            )
        status, detail, unusable = classify(outcome.error, what)
        return DeliveryResult(
            status,
            self.name,
            detail=detail,
            retry_after_seconds=outcome.retry_after if status is _TEMP else None,
            contact_method_unusable=unusable,
        )


_TEMP = DeliveryStatus.TEMPORARY_FAILURE
_PERM = DeliveryStatus.PERMANENT_FAILURE


def classify(error: Exception, what: str = "SMS") -> tuple[DeliveryStatus, str, bool]:
    """(status, detail, contact method unusable) for an exception from a Twilio request."""
    if isinstance(error, TwilioRestException):
        code = error.code
        reason = _REASONS.get(code or 0) or _short(error.msg)
        detail = f"Twilio {code or error.status}: {reason}"
        if code in UNUSABLE_CODES:
            return _PERM, detail, True
        if error.status == 429 or code == 20429 or error.status >= 500:
            return _TEMP, detail, False
        return _PERM, detail, False
    if isinstance(error, requests.ReadTimeout):
        return (
            _PERM,
            (
                f"Twilio did not answer in time after the {what} request was sent; outcome "
                "unknown, not repeated to avoid a double page"
            ),
            False,
        )
    if isinstance(error, requests.ConnectionError):
        if _never_sent(error):
            return _TEMP, f"could not reach Twilio ({type(error).__name__})", False
        return (
            _PERM,
            (
                f"the connection to Twilio broke after the {what} request was sent; outcome "
                "unknown, not repeated to avoid a double page"
            ),
            False,
        )
    return _PERM, f"Twilio request failed: {type(error).__name__}", False


def _never_sent(error: requests.ConnectionError) -> bool:
    """True when the request cannot have reached Twilio (refused, DNS, connect timeout, TLS)."""
    if isinstance(error, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    reason: Any = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return isinstance(
        reason,
        urllib3.exceptions.NewConnectionError
        | urllib3.exceptions.ConnectTimeoutError
        | urllib3.exceptions.NameResolutionError
        | ConnectionRefusedError,
    )


def _short(text: str) -> str:
    return " ".join(str(text).removeprefix("Unable to create record: ").split())[:200]
