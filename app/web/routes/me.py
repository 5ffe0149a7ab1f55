"""My on-call (``/me``): my shifts (a list and a month calendar), cover requests to me and from
me, my notification rules as a ladder, a test page, my calendar link; and my contact methods
with their verification (``/me/contact-methods``).

Every write acts on the signed-in person only (their id comes from the session, never from the
form) and goes through the same services as the API routes: ``people.service`` for contact
methods and rules, ``schedules.cover`` and ``schedules.feeds`` for covers and calendar links,
``notify.self_service`` for the test page.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict, InvalidInput
from app.core.pagination import PageParams
from app.core.session import DbSession, SettingsDep
from app.notify import self_service
from app.people import ladders
from app.people import schemas as people_schemas
from app.people import service as people_service
from app.people.models import ContactMethod, ContactType, NotificationRule, Urgency
from app.schedules import cover, feeds, repository
from app.schedules import schemas as schedule_schemas
from app.schedules import service as schedule_service
from app.schedules.ical import FeedShift
from app.schedules.models import CalendarFeed, CoverRequest, CoverRequestState, FeedKind
from app.web import timefmt
from app.web.auth import SignedIn, WebReader, WebWriter
from app.web.context import web_context
from app.web.routes.reviews import my_open_items
from app.web.templating import is_htmx, render

router = APIRouter()

UPCOMING = timedelta(days=28)
# What the month calendar may be moved to: far enough for holidays, not a crawl of the years.
MONTHS_AWAY = 12
MAX_MINUTES = 1440

# How the ladder sentence names each channel: "Slack now, SMS after 2 min, call after 5 min".
CHANNEL_WORDS = {
    ContactType.SMS: "SMS",
    ContactType.VOICE: "call",
    ContactType.EMAIL: "e-mail",
    ContactType.SLACK: "Slack",
    ContactType.WEBHOOK: "webhook",
}
TYPE_NAMES = {
    ContactType.SMS: "SMS",
    ContactType.VOICE: "Voice call",
    ContactType.EMAIL: "E-mail",
    ContactType.SLACK: "Slack",
    ContactType.WEBHOOK: "Webhook",
}
ADDRESS_HINTS = {
    ContactType.SMS: "a phone number, e.g. +1 555 555 0123",
    ContactType.VOICE: "a phone number, e.g. +1 555 555 0123",
    ContactType.EMAIL: "an e-mail address",
    ContactType.SLACK: "your Slack member id, e.g. U0123ABCD",
    ContactType.WEBHOOK: "an https:// URL",
}
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_CODE = re.compile(r"^\d{4,10}$")


# ------------------------------------------------------------------------------- wording


def after_words(minutes: int) -> str:
    if minutes == 0:
        return "now"
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"after {rest} min"
    return f"after {hours} h" + (f" {rest} min" if rest else "")


def ladder_sentence(targets: Sequence[ladders.RuleTarget]) -> str:
    """``Slack now, SMS after 2 min, call after 5 min``: what one page of me becomes."""
    text = ", ".join(
        f"{CHANNEL_WORDS[t.contact_type]} {after_words(t.delay_minutes)}" for t in targets
    )
    return text[:1].upper() + text[1:]


def method_name(method: ContactMethod) -> str:
    label = f" ({method.label})" if method.label else ""
    return f"{TYPE_NAMES[method.type]} {method.address}{label}"


def method_state(method: ContactMethod) -> str:
    if method.disabled_at is not None:
        return "turned off"
    if not method.is_verified:
        return "not verified"
    return ""


# ------------------------------------------------------------------------------ the month


@dataclass(frozen=True)
class DayShift:
    schedule_name: str
    hours: str
    shadow: bool


@dataclass(frozen=True)
class CalendarDay:
    day: date
    in_month: bool
    is_today: bool
    shifts: list[DayShift]


@dataclass(frozen=True)
class MonthCalendar:
    first: date
    weeks: list[list[CalendarDay]]
    previous: str | None
    next: str | None


def _month_start(value: str | None, today: date) -> date:
    this_month = today.replace(day=1)
    match = _MONTH.match(value or "")
    if match is None:
        return this_month
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12 or abs(_months_between(this_month, date(year, month, 1))) > MONTHS_AWAY:
        return this_month
    return date(year, month, 1)


def _months_between(first: date, second: date) -> int:
    return (second.year - first.year) * 12 + second.month - first.month


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, zone_name: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timefmt.zone(zone_name))


def _hhmm(instant: datetime, zone_name: str) -> str:
    local = instant.astimezone(timefmt.zone(zone_name))
    return f"{local.hour:02d}:{local.minute:02d}"


def _grid(first: date) -> tuple[date, date]:
    """The Monday on or before the month's first day and the day after the Sunday on or after
    its last: whole weeks."""
    start = first - timedelta(days=first.weekday())
    last = _add_months(first, 1) - timedelta(days=1)
    end = last + timedelta(days=7 - last.weekday())
    return start, end


def month_calendar(
    first: date, today: date, shifts: Sequence[FeedShift], zone_name: str
) -> MonthCalendar:
    start, end = _grid(first)
    weeks: list[list[CalendarDay]] = []
    day = start
    while day < end:
        day_start, day_end = (
            _midnight(day, zone_name),
            _midnight(day + timedelta(days=1), zone_name),
        )
        entries = []
        for shift in shifts:
            low, high = max(shift.start, day_start), min(shift.end, day_end)
            if low >= high:
                continue
            if low == day_start and high == day_end:
                hours = "all day"
            else:
                hours = f"{_hhmm(low, zone_name)}\N{EN DASH}" + (
                    "24:00" if high == day_end else _hhmm(high, zone_name)
                )
            entries.append(DayShift(shift.schedule_name, hours, shift.shadow))
        if day.weekday() == 0:
            weeks.append([])
        weeks[-1].append(CalendarDay(day, day.month == first.month, day == today, entries))
        day += timedelta(days=1)
    this_month = today.replace(day=1)
    before, after = _add_months(first, -1), _add_months(first, 1)
    return MonthCalendar(
        first=first,
        weeks=weeks,
        previous=before.strftime("%Y-%m")
        if abs(_months_between(this_month, before)) <= MONTHS_AWAY
        else None,
        next=after.strftime("%Y-%m")
        if abs(_months_between(this_month, after)) <= MONTHS_AWAY
        else None,
    )


# ------------------------------------------------------------------------------ the page


@dataclass(frozen=True)
class CoverLine:
    request: CoverRequest
    state: CoverRequestState
    schedule_name: str
    requester_name: str


@dataclass(frozen=True)
class Ladder:
    urgency: Urgency
    sentence: str
    # False: no rules of this urgency, so the high-urgency ladder (or every method) is used.
    own_rules: bool
    rules: list[tuple[NotificationRule, ContactMethod]]


async def _cover_lines(
    session: AsyncSession, requests: Sequence[CoverRequest], now: datetime
) -> list[CoverLine]:
    names: dict[int, str] = {}
    for schedule_id in {r.schedule_id for r in requests}:
        names[schedule_id] = (await schedule_service.get_schedule(session, schedule_id)).name
    users = await schedule_service.people(session, {r.requester_id for r in requests})
    return [
        CoverLine(
            r,
            cover.state_of(r, now),
            names[r.schedule_id],
            users[r.requester_id].name if r.requester_id in users else "someone",
        )
        for r in requests
    ]


async def _ladders(
    session: AsyncSession, user_id: int, methods: dict[int, ContactMethod]
) -> list[Ladder]:
    rules = await people_service.list_notification_rules(session, user_id)
    found = []
    for urgency in (Urgency.HIGH, Urgency.LOW):
        ladder = (await ladders.ladders_for(session, [user_id], urgency)).get(user_id)
        targets = ladder.targets if ladder is not None else []
        found.append(
            Ladder(
                urgency=urgency,
                sentence=ladder_sentence(targets),
                own_rules=any(r.urgency is urgency for r in rules),
                rules=[(r, methods[r.contact_method_id]) for r in rules if r.urgency is urgency],
            )
        )
    return found


async def _personal_feeds(session: AsyncSession, signed_in: SignedIn) -> list[CalendarFeed]:
    owned = await feeds.list_feeds(session, signed_in.principal)
    return [
        f
        for f in owned
        if f.kind is FeedKind.USER and f.user_id == signed_in.viewer.id and f.revoked_at is None
    ]


def _testable(method: ContactMethod) -> bool:
    return not (method.type.needs_verification and not method.is_verified)


@router.get("/me")
async def my_on_call(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    month: Annotated[str | None, Query(max_length=20)] = None,
    test: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    me = signed_in.viewer
    now = request.app.state.clock.now()
    today = now.astimezone(timefmt.zone(me.time_zone)).date()
    schedule_ids = await repository.all_schedule_ids(session)
    upcoming = await feeds.feed_shifts(session, schedule_ids, now, now + UPCOMING, user_id=me.id)
    first = _month_start(month, today)
    grid_start, grid_end = _grid(first)
    month_shifts = await feeds.feed_shifts(
        session,
        schedule_ids,
        _midnight(grid_start, me.time_zone),
        _midnight(grid_end, me.time_zone),
        user_id=me.id,
    )
    asked = await cover.open_requests_for(session, me.id)
    mine, _ = await cover.list_requests(
        session,
        PageParams(limit=50, after_id=None),
        requester_id=me.id,
        state=CoverRequestState.OPEN,
    )
    methods = {m.id: m for m in await people_service.list_contact_methods(session, me.id)}
    test_notification = (
        await self_service.user_notification(session, me.id, test) if test is not None else None
    )
    return render(
        request,
        "me/me.html",
        {
            "upcoming": upcoming,
            "calendar": month_calendar(first, today, month_shifts, me.time_zone),
            "covers_to_me": await _cover_lines(session, asked, now),
            "covers_from_me": await _cover_lines(session, mine, now),
            "ladders": await _ladders(session, me.id, methods),
            "methods": list(methods.values()),
            "testable": [m for m in methods.values() if _testable(m)],
            "test_notification": test_notification,
            "feeds": await _personal_feeds(session, signed_in),
            "method_name": method_name,
            "method_state": method_state,
            "after_words": after_words,
            "max_minutes": MAX_MINUTES,
            "action_items": await my_open_items(session, me.id),
        },
    )


def _back_to_me(anchor: str, **query: object) -> RedirectResponse:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return RedirectResponse(f"/me{'?' + params if params else ''}#{anchor}", status_code=303)


# ---------------------------------------------------------------------- notification rules


@router.post("/me/notification-rules")
async def add_rule(
    signed_in: WebWriter,
    session: DbSession,
    contact_method_id: Annotated[int, Form(ge=1)],
    delay_minutes: Annotated[int, Form(ge=0, le=MAX_MINUTES)],
    urgency: Annotated[Urgency, Form()] = Urgency.HIGH,
) -> Response:
    rule = people_schemas.NotificationRuleCreate(
        contact_method_id=contact_method_id, delay_minutes=delay_minutes, urgency=urgency
    )
    await people_service.create_notification_rule(
        session, signed_in.principal, signed_in.viewer.id, rule
    )
    return _back_to_me("notification-rules")


@router.post("/me/notification-rules/{rule_id}/remove")
async def remove_rule(signed_in: WebWriter, session: DbSession, rule_id: int) -> Response:
    await people_service.delete_notification_rule(
        session, signed_in.principal, signed_in.viewer.id, rule_id
    )
    return _back_to_me("notification-rules")


# ------------------------------------------------------------------------------ test page


@router.post("/me/test-page")
async def send_test_page(
    signed_in: WebWriter, session: DbSession, contact_method_id: Annotated[int, Form(ge=1)]
) -> Response:
    sent = await self_service.send_test(
        session, signed_in.principal, signed_in.viewer.id, contact_method_id
    )
    return _back_to_me("test-page", test=sent.notification.id)


@router.get("/me/test-pages/{notification_id}")
async def test_page_status(
    request: Request, signed_in: WebReader, session: DbSession, notification_id: int
) -> HTMLResponse:
    """How a test went; the page polls it (htmx) until it is sent, delivered or failed."""
    notification = await self_service.user_notification(
        session, signed_in.viewer.id, notification_id
    )
    template = "me/_test_status.html" if is_htmx(request) else "me/test_status.html"
    return render(request, template, {"test_notification": notification})


# -------------------------------------------------------------------------- cover requests


@router.post("/me/cover-requests/{request_id}/accept")
async def accept_cover(signed_in: WebWriter, session: DbSession, request_id: int) -> Response:
    await cover.accept_request(session, signed_in.principal, request_id)
    return _back_to_me("cover-requests")


@router.post("/me/cover-requests/{request_id}/cancel")
async def cancel_cover(signed_in: WebWriter, session: DbSession, request_id: int) -> Response:
    await cover.cancel_request(session, signed_in.principal, request_id)
    return _back_to_me("cover-requests")


# --------------------------------------------------------------------------- calendar link


@router.post("/me/calendar-feeds")
async def create_calendar_link(
    request: Request, signed_in: WebWriter, session: DbSession
) -> HTMLResponse:
    """A new personal feed; its secret URL is shown on this answer only, as the API does."""
    issued = await feeds.create_feed(
        session,
        signed_in.principal,
        schedule_schemas.FeedCreate(user_id=signed_in.viewer.id, name="My shifts"),
    )
    url = feeds.feed_url(web_context(request).public_url, issued.secret)
    return render(request, "me/calendar_link.html", {"feed": issued.feed, "url": url})


@router.post("/me/calendar-feeds/{feed_id}/revoke")
async def revoke_calendar_link(signed_in: WebWriter, session: DbSession, feed_id: int) -> Response:
    await feeds.revoke_feed(session, signed_in.principal, feed_id)
    return _back_to_me("calendar-link")


# ------------------------------------------------------------------------- contact methods


async def _contact_methods_page(
    request: Request,
    signed_in: SignedIn,
    session: AsyncSession,
    *,
    sent_to: int | None = None,
    error: str | None = None,
    error_method: int | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    methods = await people_service.list_contact_methods(session, signed_in.viewer.id)
    return render(
        request,
        "me/contact_methods.html",
        {
            "methods": methods,
            "sent_to": sent_to,
            # An error is about one method's code form (error_method) or else the add form.
            "error": error,
            "error_method": error_method,
            "form": form or {"type": "sms", "address": "", "label": ""},
            "types": [(t.value, TYPE_NAMES[t], ADDRESS_HINTS[t]) for t in ContactType],
            "type_names": TYPE_NAMES,
            "method_state": method_state,
        },
        status_code=status_code,
    )


def _back_to_methods(anchor: str, **query: object) -> RedirectResponse:
    params = "&".join(f"{key}={value}" for key, value in query.items())
    return RedirectResponse(
        f"/me/contact-methods{'?' + params if params else ''}#{anchor}", status_code=303
    )


async def _undo(session: AsyncSession, error: Any) -> None:
    # The page answers the error itself, so the session would commit: undo what the service
    # wrote unless it says to keep it (a wrong code still counts), as the API's errors do.
    if not getattr(error, "keep_changes", False):
        await session.rollback()


def _validation_message(error: ValidationError) -> str:
    message = str(error.errors()[0].get("msg", "this is not a valid address"))
    return message.removeprefix("Value error, ")


@router.get("/me/contact-methods")
async def contact_methods(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    sent: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:
    return await _contact_methods_page(request, signed_in, session, sent_to=sent)


@router.post("/me/contact-methods")
async def add_contact_method(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    type: Annotated[ContactType, Form()],  # the form field's name
    address: Annotated[str, Form(max_length=2048)],
    label: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    entered = {"type": type.value, "address": address, "label": label}
    try:
        data = people_schemas.ContactMethodCreate(type=type, address=address, label=label)
    except ValidationError as exc:
        return await _contact_methods_page(
            request,
            signed_in,
            session,
            error=_validation_message(exc),
            form=entered,
            status_code=422,
        )
    try:
        method = await people_service.create_contact_method(
            session, signed_in.principal, signed_in.viewer.id, data
        )
    except (InvalidInput, Conflict) as exc:
        await _undo(session, exc)
        return await _contact_methods_page(
            request,
            signed_in,
            session,
            error=exc.detail,
            form=entered,
            status_code=exc.status_code,
        )
    return _back_to_methods(f"method-{method.id}")


@router.post("/me/contact-methods/{method_id}/send-code")
async def send_code(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    settings: SettingsDep,
    method_id: int,
) -> Response:
    await people_service.send_verification(
        session,
        signed_in.principal,
        signed_in.viewer.id,
        method_id,
        send=request.app.state.send_verification,
        policy=people_service.VerificationPolicy.from_settings(settings),
    )
    return _back_to_methods(f"method-{method_id}", sent=method_id)


@router.post("/me/contact-methods/{method_id}/verify")
async def verify_code(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    settings: SettingsDep,
    method_id: int,
    code: Annotated[str, Form(max_length=20)],
) -> Response:
    code = code.strip()
    if not _CODE.match(code):
        return await _contact_methods_page(
            request,
            signed_in,
            session,
            error="the code is the digits in the message Baton sent",
            error_method=method_id,
            status_code=422,
        )
    try:
        await people_service.confirm_verification(
            session,
            signed_in.principal,
            signed_in.viewer.id,
            method_id,
            code,
            policy=people_service.VerificationPolicy.from_settings(settings),
        )
    except InvalidInput as exc:
        await _undo(session, exc)
        return await _contact_methods_page(
            request,
            signed_in,
            session,
            error=exc.detail,
            error_method=method_id,
            status_code=exc.status_code,
        )
    return _back_to_methods(f"method-{method_id}")


@router.post("/me/contact-methods/{method_id}/disable")
async def disable_contact_method(
    signed_in: WebWriter, session: DbSession, method_id: int
) -> Response:
    await people_service.set_contact_method_enabled(
        session, signed_in.principal, signed_in.viewer.id, method_id, enabled=False
    )
    return _back_to_methods(f"method-{method_id}")


@router.post("/me/contact-methods/{method_id}/enable")
async def enable_contact_method(
    signed_in: WebWriter, session: DbSession, method_id: int
) -> Response:
    await people_service.set_contact_method_enabled(
        session, signed_in.principal, signed_in.viewer.id, method_id, enabled=True
    )
    return _back_to_methods(f"method-{method_id}")


@router.post("/me/contact-methods/{method_id}/remove")
async def remove_contact_method(
    signed_in: WebWriter, session: DbSession, method_id: int
) -> Response:
    await people_service.delete_contact_method(
        session, signed_in.principal, signed_in.viewer.id, method_id
    )
    return _back_to_methods("contact-methods")
