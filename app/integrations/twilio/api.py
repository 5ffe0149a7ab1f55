"""Twilio's webhooks: inbound SMS, SMS and call status callbacks, keypresses during calls.

Public routes: each request is authenticated by its ``X-Twilio-Signature`` (403 otherwise,
nothing changed). Answers are TwiML.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from twilio.twiml.messaging_response import MessagingResponse

from app.core.auth import public_route
from app.core.errors import InvalidInput
from app.core.session import DbSession
from app.integrations.twilio import service, sms_text
from app.integrations.twilio.provider import SMS_STATUS_PATH, VOICE_STATUS_PATH
from app.integrations.twilio.signature import verified_form
from app.integrations.twilio.voice import VOICE_GATHER_PATH

router = APIRouter(tags=["twilio"])

_SIGNED = public_route("twilio-signature")
TWIML = "text/xml"


def _twiml(xml: str) -> Response:
    return Response(content=xml, media_type=TWIML)


def _query_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    # Ids are 64-bit: a longer number names no row (and would overflow the database driver).
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


@router.post("/api/v1/twilio/sms/inbound", openapi_extra=_SIGNED)
async def inbound_sms(request: Request, session: DbSession) -> Response:
    """A text to Baton's number: reply codes (``4a``, ``ack 4``, ``a``), STOP, START, HELP."""
    form = await verified_form(request)
    sender, sid = str(form.get("From", "")), str(form.get("MessageSid", ""))
    if not sender or not sid:
        raise InvalidInput("From and MessageSid are required", field="body")
    reply = await service.inbound_sms(
        session, sender=sender, body=str(form.get("Body", "")), message_sid=sid
    )
    answer = MessagingResponse()
    if reply:
        answer.message(sms_text.plain_sms(reply))  # GSM-7, at most two segments
    return _twiml(str(answer))


async def _status(
    request: Request, session: DbSession, sid_field: str, status_field: str
) -> Response:
    form = await verified_form(request)
    sid, status = str(form.get(sid_field, "")), str(form.get(status_field, ""))
    if not sid or not status:
        raise InvalidInput(f"{sid_field} and {status_field} are required", field="body")
    await service.status_callback(
        session,
        sid=sid,
        status=status,
        error_code=str(form.get("ErrorCode") or "") or None,
        notification_hint=_query_int(request, "n"),
    )
    return Response(status_code=204)


@router.post(SMS_STATUS_PATH, openapi_extra=_SIGNED, status_code=204)
async def sms_status(request: Request, session: DbSession) -> Response:
    """Delivery status of a page SMS (sent, delivered, undelivered, failed)."""
    return await _status(request, session, "MessageSid", "MessageStatus")


@router.post(VOICE_STATUS_PATH, openapi_extra=_SIGNED, status_code=204)
async def voice_status(request: Request, session: DbSession) -> Response:
    """Progress of a page call (answered, completed, busy, no-answer, failed)."""
    return await _status(request, session, "CallSid", "CallStatus")


@router.post(VOICE_GATHER_PATH, openapi_extra=_SIGNED)
async def voice_gather(request: Request, session: DbSession) -> Response:
    """A key pressed during a page call: 4 acknowledge, 6 resolve, 5 escalate, * repeat."""
    form = await verified_form(request)
    notification_id, step = _query_int(request, "n"), _query_int(request, "step")
    call_sid = str(form.get("CallSid", ""))
    if notification_id is None or step is None or not call_sid:
        raise InvalidInput("the gather URL needs n and step, the body a CallSid", field="query")
    xml = await service.gather(
        session,
        public_url=request.app.state.settings.public_url,
        notification_id=notification_id,
        step=step,
        digits=str(form.get("Digits", "")),
        call_sid=call_sid,
    )
    return _twiml(xml)
