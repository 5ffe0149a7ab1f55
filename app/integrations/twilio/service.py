"""What Twilio's webhooks do: SMS replies, voice keypresses, delivery status callbacks.

Every function runs in the caller's transaction (the request's session) and returns what to
answer; none of them talks to Twilio.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Forbidden
from app.incidents import channel_actions as actions
from app.incidents import events
from app.incidents.channel_actions import Action
from app.incidents.models import Page
from app.integrations.twilio import reply_codes, sms_text
from app.integrations.twilio.models import SmsSender
from app.integrations.twilio.sms_text import Intent, Reply
from app.integrations.twilio.voice import (
    KEY_ACKNOWLEDGE,
    KEY_ESCALATE,
    KEY_REPEAT,
    KEY_RESOLVE,
    gather_key,
    gather_twiml,
    say_and_hang_up,
    spoken_text,
)
from app.notify import dispatcher
from app.notify.base import MessageKind
from app.notify.channel_models import SmsReplyCode
from app.notify.models import Notification, NotificationStatus
from app.notify.receipts import first_time
from app.people import service as people
from app.people.models import ContactMethod, ContactType

# Answer this many messages that are not replies (with a hint), then keep quiet.
NONSENSE_ANSWERED = 3
STOP_REASON = "opted out by texting STOP"
HELP_TEXT = (
    "Baton on-call: reply with the code from a page, e.g. 4a to acknowledge, 4r to resolve, "
    "4e to escalate; a alone acknowledges your latest page. STOP ends SMS pages."
)


# ---------------------------------------------------------------------------------- inbound SMS


async def inbound_sms(
    session: AsyncSession, *, sender: str, body: str, message_sid: str
) -> str | None:
    """Handle a text from ``sender``; the reply to send back, or None for no reply."""
    now = session_clock(session).now()
    if not await first_time(session, "twilio-sms", message_sid, now):
        raise Forbidden("this message was already processed", code="replayed")
    reply = sms_text.parse_reply(body)
    methods = await _sms_methods(session, sender)
    if reply.intent is Intent.STOP:
        _opt_out(methods, now)
        return None  # Twilio answers STOP itself and would not deliver ours
    if reply.intent is Intent.START:
        return _opt_in(methods)
    people_ids = [m.user_id for m in methods if m.verified_at is not None]
    if not people_ids:
        return None  # a stranger learns nothing
    state = await _sender_state(session, sender)
    if reply.intent is Intent.HELP:
        return HELP_TEXT
    if reply.intent is Intent.UNKNOWN:
        return _nonsense(state, now)
    return await _act_on_reply(session, state, sender, people_ids, reply, now)


async def _sms_methods(session: AsyncSession, phone: str) -> list[ContactMethod]:
    rows = await session.scalars(
        select(ContactMethod)
        .where(ContactMethod.type == ContactType.SMS, ContactMethod.address == phone)
        .order_by(ContactMethod.id)
    )
    return list(rows)


def _opt_out(methods: list[ContactMethod], now: datetime) -> None:
    for method in methods:
        if method.disabled_at is None:
            method.disabled_at = now
            method.disabled_reason = STOP_REASON


def _opt_in(methods: list[ContactMethod]) -> str | None:
    """START undoes STOP (and Twilio's 21610 "unsubscribed"), not other reasons to disable."""
    if not methods:
        return None
    for method in methods:
        if method.disabled_at is not None and (
            method.disabled_reason == STOP_REASON or "21610" in method.disabled_reason
        ):
            method.disabled_at = None
            method.disabled_reason = ""
    return "Baton: SMS pages to this number are on again."


async def _sender_state(session: AsyncSession, phone: str) -> SmsSender:
    state = await session.scalar(select(SmsSender).where(SmsSender.phone == phone))
    if state is None:
        state = SmsSender(phone=phone, nonsense_count=0)
        session.add(state)
    return state


def _nonsense(state: SmsSender, now: datetime) -> str | None:
    state.nonsense_count = (state.nonsense_count or 0) + 1
    state.last_nonsense_at = now
    if state.nonsense_count > NONSENSE_ANSWERED:
        return None
    return "Baton did not understand that. " + HELP_TEXT


@dataclass(frozen=True, slots=True)
class _Target:
    incident_ids: list[int]
    bundle: bool
    code: int | None


async def _target(
    session: AsyncSession, phone: str, people_ids: list[int], reply: Reply
) -> _Target | None:
    if reply.number is None:
        row = await reply_codes.latest(session, phone)
        return _from_code(row) if row is not None else _Target([], False, None)
    row = await reply_codes.find(session, phone, reply.number)
    if row is not None:
        return _from_code(row)
    # "ACK 1042": no such code, but maybe an incident this person was paged for.
    paged = await session.scalar(
        select(Page.id).where(Page.incident_id == reply.number, Page.user_id.in_(people_ids))
    )
    return _Target([reply.number], False, None) if paged is not None else None


def _from_code(row: SmsReplyCode) -> _Target:
    return _Target(list(row.incident_ids), row.bundle, row.code)


async def _act_on_reply(
    session: AsyncSession,
    state: SmsSender,
    phone: str,
    people_ids: list[int],
    reply: Reply,
    now: datetime,
) -> str | None:
    assert reply.action is not None
    target = await _target(session, phone, people_ids, reply)
    if target is None:
        return _nonsense_code(state, now, reply.number)
    state.nonsense_count = 0  # a real reply: answer this number again
    if not target.incident_ids:
        return "Baton: nothing of yours is open right now."
    if target.bundle:
        if reply.action is not Action.ACKNOWLEDGE:
            return (
                f"Code {target.code} stands for {len(target.incident_ids)} incidents: reply "
                f"{target.code}a to acknowledge them all."
            )
        target = _Target(
            await reply_codes.open_incidents(session, target.incident_ids), True, target.code
        )
    lines = []
    for incident_id in target.incident_ids:
        principal = await _principal(session, incident_id, people_ids)
        if principal is None:
            continue
        outcome = await actions.act(session, principal, incident_id, reply.action)
        lines.append(outcome)
    if target.bundle and len(lines) > 1:
        done = [o for o in lines if o.changed]
        text = f"Acknowledged {len(done)} of {len(lines)} incidents: " + ", ".join(
            f"#{o.incident_id}" for o in lines
        )
        return sms_text.plain_sms(text)
    return sms_text.plain_sms("; ".join(o.text for o in lines) or "Baton: nothing to do.")


def _nonsense_code(state: SmsSender, now: datetime, number: int | None) -> str | None:
    answer = _nonsense(state, now)
    if answer is None:
        return None
    return f"Baton: code {number} is not in use on this number. " + HELP_TEXT


async def _principal(
    session: AsyncSession, incident_id: int, people_ids: list[int], channel: str = "sms"
) -> Principal | None:
    """Who is acting: of the people with this number, the one paged for the incident."""
    paged = await session.scalar(
        select(Page.user_id)
        .where(Page.incident_id == incident_id, Page.user_id.in_(people_ids))
        .order_by(Page.id.desc())
        .limit(1)
    )
    user_id = paged if paged is not None else people_ids[0]
    return await people.principal_for_user(session, user_id, channel=channel)


# ------------------------------------------------------------------------------ status callbacks

# Twilio statuses by how far along delivery they are; a callback never moves a notification back.
_PROGRESS = {
    "queued": 1,
    "accepted": 1,
    "scheduled": 1,
    "sending": 1,
    "sent": 1,
    "initiated": 1,
    "ringing": 1,
    "delivered": 2,
    "read": 2,
    "in-progress": 2,
    "answered": 2,
    "completed": 2,
}
_FAILED = frozenset({"undelivered", "failed", "canceled", "busy", "no-answer"})


async def status_callback(
    session: AsyncSession,
    *,
    sid: str,
    status: str,
    error_code: str | None,
    notification_hint: int | None,
) -> None:
    """Apply a delivery status to the notification ``sid`` belongs to (monotonically)."""
    now = session_clock(session).now()
    status = status.strip().lower()
    if not await first_time(session, "twilio-status", f"{sid}:{status}", now):
        raise Forbidden("this status callback was already processed", code="replayed")
    row = await _notification_for(session, sid, notification_hint)
    if row is None:
        return
    if row.status in (
        NotificationStatus.FAILED,
        NotificationStatus.CANCELLED,
        NotificationStatus.BUNDLED,
    ):
        await _note(session, row, now, sid, status, error_code, already=row.status)
        return
    if status in _FAILED:
        row.provider_message_id = row.provider_message_id or sid
        row.sending_deadline = None
        error = f" (error {error_code})" if error_code else ""
        await dispatcher.mark_failed(session, row, f"Twilio reports {status}{error}", now)
        return
    if _PROGRESS.get(status, 0) >= 2 and row.status is not NotificationStatus.DELIVERED:
        row.status = NotificationStatus.DELIVERED
        row.delivered_at = now
        row.finished_at = row.finished_at or now
        row.sending_deadline = None
        row.provider_message_id = row.provider_message_id or sid
        await _note(session, row, now, sid, status, None)
        return
    late = row.status is NotificationStatus.DELIVERED
    await _note(session, row, now, sid, status, error_code, late=late)


async def _notification_for(
    session: AsyncSession, sid: str, hint: int | None
) -> Notification | None:
    row = await session.scalar(
        select(Notification).where(Notification.provider_message_id == sid).with_for_update()
    )
    if row is None and hint is not None:
        # The callback beat the recording of the send: the signed URL names the notification.
        candidate = await session.get(Notification, hint, with_for_update=True)
        if candidate is not None and candidate.provider_message_id in (None, sid):
            row = candidate
    return row


async def _note(
    session: AsyncSession,
    row: Notification,
    now: datetime,
    sid: str,
    status: str,
    error_code: str | None,
    *,
    already: NotificationStatus | None = None,
    late: bool = False,
) -> None:
    reported = partial(
        events.NotificationStatus,
        provider="twilio",
        provider_status=status,
        provider_message_id=sid,
        error_code=error_code or None,
        already=already.value if already is not None else None,
        late=late,
    )
    await dispatcher.record_event(session, row, reported, now)


# ------------------------------------------------------------------------------------- voice


async def gather(
    session: AsyncSession,
    *,
    public_url: str,
    notification_id: int,
    step: int,
    digits: str,
    call_sid: str,
) -> str:
    """A key pressed during a page call: act, and answer with TwiML that says what happened."""
    now = session_clock(session).now()
    if not await first_time(session, "twilio-voice", f"{call_sid}:{step}:{digits}", now):
        raise Forbidden("this keypress was already processed", code="replayed")
    row = await session.get(Notification, notification_id)
    if row is None or row.contact_type is not ContactType.VOICE or row.user_id is None:
        return say_and_hang_up("This page is no longer known to Baton. Goodbye.")
    if row.provider_message_id not in (None, call_sid):
        raise Forbidden("the call does not belong to this page", code="bad_signature")
    bundle = row.kind is MessageKind.SUMMARY
    key = digits.strip()[:1]
    if key == KEY_REPEAT or key not in _KEYS or (bundle and key != KEY_ACKNOWLEDGE):
        prefix = "" if key == KEY_REPEAT else "That key does nothing here. "
        return gather_twiml(
            public_url,
            row.id,
            prefix + spoken_text(dispatcher.outbound_message(row)),
            step + 1,
            bundle=bundle,
        )
    principal = await people.principal_for_user(session, row.user_id, channel="voice")
    if principal is None:
        return say_and_hang_up("Your Baton user no longer exists. Goodbye.")
    incident_ids = await dispatcher.incidents_of(session, row)
    if bundle:
        incident_ids = await reply_codes.open_incidents(session, incident_ids)
    outcomes = [await actions.act(session, principal, i, _KEYS[key]) for i in incident_ids]
    said = " ".join(_spoken(o) for o in outcomes) or "There was nothing to do."
    if key == KEY_ACKNOWLEDGE and not bundle and outcomes and outcomes[0].changed:
        follow_up = f"{said} Press 6 to resolve it, or 5 to escalate. Or hang up."
        return gather_key(public_url, row.id, follow_up, step + 1)
    return say_and_hang_up(f"{said} Goodbye.")


_KEYS = {
    KEY_ACKNOWLEDGE: Action.ACKNOWLEDGE,
    KEY_RESOLVE: Action.RESOLVE,
    KEY_ESCALATE: Action.ESCALATE,
}


def _spoken(outcome: actions.Outcome) -> str:
    return outcome.text.replace("#", "incident ") + "."
