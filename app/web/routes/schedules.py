"""Schedules: the list (``/schedules``) and one schedule's page (``/schedules/{id}``) with its
timeline (each layer, the overrides, the final schedule, gaps, clock changes, shadows), the
same final schedule as a table, and the writes a schedule page offers: create an override, ask
for cover on one of my shifts, accept or cancel a cover request, get a calendar link.

Every answer and every write is the API's service call with the signed-in principal:
``oncall_queries.final_shifts`` / ``coverage_gaps`` / ``layer_shifts``, ``overrides``,
``cover`` and ``feeds`` (``app/schedules/api.py`` routes the same functions).

Times the viewer types (``datetime-local`` fields) are wall-clock times in the viewer's own
zone; one that the zone skips (spring forward) or repeats (fall back) is refused with a message
that says so, rather than silently moved.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidInput
from app.core.schemas import Id
from app.core.session import ClockDep, DbSession, SettingsDep
from app.people import service as people_service
from app.people.models import User
from app.schedules import cover, feeds, oncall_queries, overrides, schemas
from app.schedules import service as schedules_service
from app.schedules.models import CoverRequestState, Schedule
from app.web import timefmt
from app.web.auth import SignedIn, WebReader, WebWriter
from app.web.listing import all_teams, every_page
from app.web.routes.home import team_filter
from app.web.templating import is_htmx, render

router = APIRouter()


class View(StrEnum):
    DAY = "day"
    TWO_WEEKS = "two-weeks"
    MONTH = "month"


VIEW_LABELS = {View.DAY: "Day", View.TWO_WEEKS: "Two weeks", View.MONTH: "Month"}
MAX_TEXT = 500

# ------------------------------------------------------------------------------ pure helpers


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), on the month's last day when it has fewer."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def view_end(start: date, view: View) -> date:
    if view is View.DAY:
        return start + timedelta(days=1)
    if view is View.TWO_WEEKS:
        return start + timedelta(days=14)
    return add_months(start, 1)


def view_step(start: date, view: View, direction: int) -> date:
    """The start of the window before (-1) or after (+1) the one starting at ``start``."""
    if view is View.MONTH:
        return add_months(start, direction)
    return start + direction * (view_end(start, view) - start)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def wall(instant: datetime, zone: ZoneInfo) -> str:
    """The instant's wall-clock time in ``zone``, without an offset: the timeline draws its
    axis in the viewer's wall-clock time whatever the browser's own zone is."""
    return instant.astimezone(zone).replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass(frozen=True)
class OffsetChange:
    """A zone's UTC offset changes at ``at`` (a DST change, or a change of the zone's rules)."""

    zone: str
    at: datetime
    before: timedelta
    after: timedelta
    name_before: str
    name_after: str

    @property
    def label(self) -> str:
        shift = self.after - self.before
        minutes = abs(int(shift.total_seconds() // 60))
        amount = (
            f"{minutes // 60} hour{'s' if minutes != 60 else ''}"
            if minutes % 60 == 0
            else (f"{minutes} minutes")
        )
        direction = "forward" if shift > timedelta(0) else "back"
        names = f" ({self.name_before} → {self.name_after})" if self.name_before else ""
        return f"{self.zone}: clocks go {direction} {amount}{names}"


def _offset(instant_seconds: int, zone: ZoneInfo) -> timedelta | None:
    return datetime.fromtimestamp(instant_seconds, UTC).astimezone(zone).utcoffset()


def offset_changes(zone_name: str, start: datetime, end: datetime) -> list[OffsetChange]:
    """Every change of ``zone_name``'s UTC offset within ``[start, end)``, to the second.

    Sampled hourly (zones change at most twice a year, never twice in an hour), then each
    change is narrowed down by bisection.
    """
    zone = timefmt.zone(zone_name)
    low, stop = int(start.timestamp()), int(end.timestamp())
    before = _offset(low, zone)
    changes = []
    while low < stop:
        high = min(low + 3600, stop)
        after = _offset(high, zone)
        if after != before:
            first, last = low, high  # offset(first) is before, offset(last) is after
            while last - first > 1:
                middle = (first + last) // 2
                if _offset(middle, zone) == before:
                    first = middle
                else:
                    last = middle
            at = datetime.fromtimestamp(last, UTC)
            if at < end:
                changes.append(
                    OffsetChange(
                        zone=zone.key,
                        at=at,
                        before=before or timedelta(0),
                        after=after or timedelta(0),
                        name_before=_abbreviation(at - timedelta(seconds=1), zone),
                        name_after=_abbreviation(at, zone),
                    )
                )
            before = after
        low = high
    return changes


def _abbreviation(instant: datetime, zone: ZoneInfo) -> str:
    name = instant.astimezone(zone).tzname() or ""
    return name if name.isalpha() else ""


def local_input_to_utc(value: str, zone_name: str, label: str, field: str) -> datetime:
    """A ``datetime-local`` value typed in ``zone_name`` as a UTC instant.

    A wall time the zone skips or repeats is refused: which instant was meant is a question
    for the person, not for a rule they cannot see.
    """
    text = value.strip()
    try:
        typed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{label}: give a date and time such as 2026-03-02T09:00", field=field
        ) from None
    if typed.tzinfo is not None:
        return typed.astimezone(UTC)
    zone = timefmt.zone(zone_name)
    earlier, later = typed.replace(tzinfo=zone, fold=0), typed.replace(tzinfo=zone, fold=1)
    shown = typed.strftime("%a %d %b %Y %H:%M")
    if earlier.utcoffset() != later.utcoffset():
        if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != typed:
            raise InvalidInput(
                f"{label}: {shown} does not exist in {zone.key}: the clocks go forward then, "
                "skipping that time. Choose a time before or after the change.",
                field=field,
            )
        raise InvalidInput(
            f"{label}: {shown} happens twice in {zone.key}: the clocks go back then "
            f"({earlier.tzname()} and then {later.tzname()}). Choose a time outside the "
            "repeated hour.",
            field=field,
        )
    return earlier.astimezone(UTC)


def local_input_value(instant: datetime, zone: ZoneInfo) -> str:
    """An instant as a ``datetime-local`` field's value in ``zone``."""
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def _input(model: type[Any], **values: Any) -> Any:
    """The API's request body, built from a form: its validation message, as a 422."""
    try:
        return model(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid input")).removeprefix("Value error, ")
        raise InvalidInput(
            f"{where}: {message}" if where else message, field=f"body.{where}"
        ) from None


# ----------------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class Window:
    view: View
    first_day: date
    start: datetime
    end: datetime

    def link(self, *, view: View | None = None, day: date | None = None) -> str:
        view = view or self.view
        return f"?view={view.value}&start={(day or self.first_day).isoformat()}"


def _window(view: View, start: date | None, zone: ZoneInfo, now: datetime) -> Window:
    first_day = start or now.astimezone(zone).date()
    if not date(1971, 1, 1) <= first_day <= date(9998, 1, 1):
        raise InvalidInput("start: a date between 1971 and 9998", field="query.start")
    last_day = view_end(first_day, view)
    return Window(view, first_day, local_midnight(first_day, zone), local_midnight(last_day, zone))


def _shift_item(shift: schemas.ShiftOut, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": shift.start.isoformat(),
        "end": shift.end.isoformat(),
        "wall_start": wall(shift.start, zone),
        "wall_end": wall(shift.end, zone),
        "user_id": shift.user_id,
        "name": shift.name,
        "shadow": shift.shadow,
        "source_kind": shift.source_kind,
        "source_id": shift.source_id,
        "source_name": shift.source_name,
        "covering": [step.name for step in shift.covering],
    }


@dataclass(frozen=True)
class Row:
    """A line of the final schedule's table: a shift, or a gap (``shift`` None)."""

    start: datetime
    end: datetime
    shift: schemas.ShiftOut | None


async def _people_choices(session: AsyncSession) -> list[User]:
    users = await every_page(lambda page: people_service.list_users(session, page))
    return sorted(users, key=lambda user: (user.name.lower(), user.id))


async def _schedule_page(
    request: Request,
    session: AsyncSession,
    signed_in: SignedIn,
    now: datetime,
    schedule_id: int,
    view: View,
    start: date | None,
    *,
    new_feed_url: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    viewer_zone = timefmt.zone(signed_in.viewer.time_zone)
    window = _window(view, start, viewer_zone, now)
    schedule = await schedules_service.get_schedule(session, schedule_id)
    layers = await schedules_service.current_layers(session, schedule)
    final = await oncall_queries.final_shifts(session, schedule_id, window.start, window.end)
    holes = await oncall_queries.coverage_gaps(session, schedule_id, window.start, window.end)
    per_layer = await oncall_queries.layer_shifts(session, schedule_id, window.start, window.end)
    on_call = await oncall_queries.schedule_on_call(session, schedule_id, now)
    in_window = await every_page(
        lambda page: overrides.list_overrides(
            session, schedule_id, page, start=window.start, end=window.end
        )
    )
    open_requests = await every_page(
        lambda page: cover.list_requests(
            session, page, schedule_id=schedule_id, state=CoverRequestState.OPEN
        )
    )
    choices = await _people_choices(session)
    names = {user.id: user.name for user in choices}
    zones = dict.fromkeys(
        [schedule.time_zone, *(view.local_zone for view in layers), viewer_zone.key]
    )
    changes = sorted(
        (c for zone in zones for c in offset_changes(zone, window.start, window.end)),
        key=lambda change: (change.at, change.zone),
    )
    principal = signed_in.principal
    my_shifts = [
        shift
        for shift in final.shifts
        if shift.user_id == principal.user_id and not shift.shadow and shift.end > now
    ]
    feeds_here = [
        feed
        for feed in await feeds.list_feeds(session, principal)
        if feed.schedule_id == schedule_id and feed.revoked_at is None
    ]
    rows = sorted(
        [Row(s.start, s.end, s) for s in final.shifts]
        + [Row(g.start, g.end, None) for g in holes.gaps],
        key=lambda row: (row.start, row.shift is not None and row.shift.shadow),
    )
    data = {
        "schedule": {"id": schedule.id, "name": schedule.name, "time_zone": schedule.time_zone},
        "time_zone": viewer_zone.key,
        "window": {
            "view": window.view.value,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "wall_start": wall(window.start, viewer_zone),
            "wall_end": wall(window.end, viewer_zone),
        },
        "now": now.isoformat(),
        "wall_now": wall(now, viewer_zone),
        "layers": [
            {
                "id": layer.layer_id,
                "name": layer.name,
                "priority": layer.priority,
                "shifts": [_shift_item(s, viewer_zone) for s in layer.shifts],
            }
            for layer in per_layer
        ],
        "overrides": [
            {
                "id": o.id,
                "start": o.starts_at.isoformat(),
                "end": o.ends_at.isoformat(),
                "wall_start": wall(o.starts_at, viewer_zone),
                "wall_end": wall(o.ends_at, viewer_zone),
                "user_id": o.user_id,
                "name": names.get(o.user_id, f"user {o.user_id}"),
                "replaces_user_id": o.replaces_user_id,
                "replaces_name": names.get(o.replaces_user_id) if o.replaces_user_id else None,
                "reason": o.reason,
            }
            for o in in_window
        ],
        "final": [_shift_item(s, viewer_zone) for s in final.shifts],
        "gaps": [
            {
                "start": g.start.isoformat(),
                "end": g.end.isoformat(),
                "wall_start": wall(g.start, viewer_zone),
                "wall_end": wall(g.end, viewer_zone),
                "minutes": g.minutes,
            }
            for g in holes.gaps
        ],
        "dst_changes": [
            {
                "zone": c.zone,
                "at": c.at.isoformat(),
                "wall_before": wall(c.at - timedelta(seconds=1), viewer_zone),
                "wall_after": wall(c.at, viewer_zone),
                "offset_before_minutes": int(c.before.total_seconds() // 60),
                "offset_after_minutes": int(c.after.total_seconds() // 60),
                "label": c.label,
            }
            for c in changes
        ],
    }
    default_start = (now + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    return render(
        request,
        "schedules/schedule.html",
        {
            "schedule": schedule,
            "team": await _team_name(session, schedule),
            "layers": layers,
            "on_call": on_call,
            "window": window,
            "views": [(v, VIEW_LABELS[v]) for v in View],
            "earlier": window.link(day=view_step(window.first_day, view, -1)),
            "later": window.link(day=view_step(window.first_day, view, 1)),
            "today": window.link(day=now.astimezone(viewer_zone).date()),
            "rows": rows,
            "uncovered_minutes": holes.uncovered_minutes,
            "overrides": in_window,
            "person_names": names,
            "changes": changes,
            "data": data,
            "people": choices,
            "can_edit": principal.can_edit_team_resource(schedule.team_id),
            "can_write": principal.can_write,
            "my_shifts": my_shifts,
            "open_requests": [
                r for r in open_requests if cover.state_of(r, now) is CoverRequestState.OPEN
            ],
            "feeds_here": feeds_here,
            "new_feed_url": new_feed_url,
            "default_start": local_input_value(default_start, viewer_zone),
            "default_end": local_input_value(default_start + timedelta(hours=8), viewer_zone),
        },
        status_code=status_code,
    )


async def _team_name(session: AsyncSession, schedule: Schedule) -> str:
    return (await people_service.get_team(session, schedule.team_id)).name


@router.get("/schedules")
async def schedule_list(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    team: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    team_id = team_filter(team)
    items = await every_page(
        lambda page: schedules_service.list_schedules(session, page, team_id=team_id)
    )
    answers = await oncall_queries.who_is_on_call(session, [s.id for s in items], clock.now())
    teams = await all_teams(session)
    return render(
        request,
        "schedules/list.html",
        {
            "schedules": sorted(items, key=lambda s: s.name.lower()),
            "on_call": {answer.schedule_id: answer for answer in answers},
            "teams": teams,
            "team_names": {t.id: t.name for t in teams},
            "team_id": team_id,
        },
    )


ViewQuery = Annotated[View, Query()]
StartQuery = Annotated[date | None, Query(description="First day, in the viewer's zone")]


@router.get("/schedules/{schedule_id}")
async def schedule_page(
    request: Request,
    signed_in: WebReader,
    session: DbSession,
    clock: ClockDep,
    schedule_id: Id,
    view: ViewQuery = View.TWO_WEEKS,
    start: StartQuery = None,
) -> HTMLResponse:
    return await _schedule_page(request, session, signed_in, clock.now(), schedule_id, view, start)


# ---------------------------------------------------------------------------------- writes


def _back_to(request: Request, schedule_id: int) -> Response:
    """After a write: the schedule page again (htmx: a whole-page load of it)."""
    target = f"/schedules/{schedule_id}"
    referer = request.headers.get("referer", "")
    if f"/schedules/{schedule_id}?" in referer:
        target += "?" + referer.partition("?")[2]
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _optional_id(value: str, field: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise InvalidInput("choose someone from the list", field=field)
    return int(value.strip())


def _required_person(value: str) -> int:
    person = _optional_id(value, "body.user_id")
    if person is None:
        raise InvalidInput("Person: choose who covers", field="body.user_id")
    return person


Text = Annotated[str, Form(max_length=MAX_TEXT)]
Moment = Annotated[str, Form(max_length=40)]


@router.post("/schedules/{schedule_id}/overrides")
async def create_override(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    schedule_id: Id,
    start: Moment,
    end: Moment,
    # Optional here so that "Choose someone" gets the form's own message, not "field required".
    user_id: Annotated[str, Form(max_length=20)] = "",
    replaces_user_id: Annotated[str, Form(max_length=20)] = "",
    reason: Text = "",
) -> Response:
    """``POST /api/v1/schedules/{id}/overrides`` from the form; times in the viewer's zone."""
    zone_name = signed_in.viewer.time_zone
    body = _input(
        schemas.OverrideCreate,
        start=local_input_to_utc(start, zone_name, "Starts", "body.start"),
        end=local_input_to_utc(end, zone_name, "Ends", "body.end"),
        user_id=_required_person(user_id),
        replaces_user_id=_optional_id(replaces_user_id, "body.replaces_user_id"),
        reason=reason,
    )
    await overrides.create_override(session, signed_in.principal, schedule_id, body)
    return _back_to(request, schedule_id)


@router.post("/schedules/{schedule_id}/cover-requests")
async def ask_for_cover(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    schedule_id: Id,
    start: Moment,
    end: Moment,
    message: Text = "",
) -> Response:
    """``POST /api/v1/schedules/{id}/cover-requests``: cover for one of my shifts (its bounds
    come from the page as instants with their offset)."""
    zone_name = signed_in.viewer.time_zone
    body = _input(
        schemas.CoverRequestCreate,
        start=local_input_to_utc(start, zone_name, "Starts", "body.start"),
        end=local_input_to_utc(end, zone_name, "Ends", "body.end"),
        message=message,
    )
    await cover.create_request(session, signed_in.principal, schedule_id, body)
    return _back_to(request, schedule_id)


@router.post("/schedules/{schedule_id}/cover-requests/{request_id}/accept")
async def accept_cover(
    request: Request, signed_in: WebWriter, session: DbSession, schedule_id: Id, request_id: Id
) -> Response:
    """``POST /api/v1/cover-requests/{id}/accept``: an override in which I replace the asker."""
    await _request_of(session, schedule_id, request_id)
    await cover.accept_request(session, signed_in.principal, request_id)
    return _back_to(request, schedule_id)


@router.post("/schedules/{schedule_id}/cover-requests/{request_id}/cancel")
async def cancel_cover(
    request: Request, signed_in: WebWriter, session: DbSession, schedule_id: Id, request_id: Id
) -> Response:
    """``POST /api/v1/cover-requests/{id}/cancel``."""
    await _request_of(session, schedule_id, request_id)
    await cover.cancel_request(session, signed_in.principal, request_id)
    return _back_to(request, schedule_id)


async def _request_of(session: AsyncSession, schedule_id: int, request_id: int) -> None:
    """The cover request, on this schedule: an address names one schedule's request only."""
    found = await cover.get_request(session, request_id)
    if found.schedule_id != schedule_id:
        raise InvalidInput(
            f"cover request {request_id} is not on schedule {schedule_id}", field="path.request_id"
        )


@router.post("/schedules/{schedule_id}/calendar-feed")
async def create_calendar_feed(
    request: Request,
    signed_in: WebWriter,
    session: DbSession,
    clock: ClockDep,
    settings: SettingsDep,
    schedule_id: Id,
) -> HTMLResponse:
    """``POST /api/v1/calendar-feeds`` for this schedule; the secret URL is shown once, here."""
    schedule = await schedules_service.get_schedule(session, schedule_id)
    issued = await feeds.create_feed(
        session,
        signed_in.principal,
        schemas.FeedCreate(schedule_id=schedule_id, name=f"{schedule.name} (web)"[:100]),
    )
    return await _schedule_page(
        request,
        session,
        signed_in,
        clock.now(),
        schedule_id,
        View.TWO_WEEKS,
        None,
        new_feed_url=feeds.feed_url(settings.public_url, issued.secret),
    )
