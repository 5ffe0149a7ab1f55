"""Schedule routes: parse, call the service, shape the answer.

Reading is open to every authenticated user (the company's "who is on call" page); changes need
write rights on the owning team (checked in the service). The iCalendar feed is the one public
route: its secret URL token is the credential.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.core.auth import Reader, Writer, public_route
from app.core.authguard import Credential, auth_guard, source_address
from app.core.errors import NotFound
from app.core.pagination import PageQuery
from app.core.schemas import Id, Instant, Page
from app.core.session import ClockDep, DbSession, SettingsDep
from app.schedules import cover, feeds, oncall_queries, overrides, preferences, schemas, service
from app.schedules.models import CoverRequestState, LayerVersion
from app.schedules.rotation import handoff_time_of
from app.schedules.service import LayerView

router = APIRouter(prefix="/api/v1", tags=["schedules"])

When = Annotated[Instant | None, Query(description="An instant with a UTC offset.")]
LOAD_WINDOW = timedelta(days=28)


def _window(
    clock_now: datetime, start: datetime | None, end: datetime | None, default: timedelta
) -> tuple[datetime, datetime]:
    start = start or clock_now
    return start, end or start + default


# ------------------------------------------------------------------------------- shaping


def _restrictions(items: list[dict[str, Any]]) -> list[schemas.RestrictionOut]:
    return [schemas.RestrictionOut.model_validate(item) for item in items or []]


def layer_out(view: LayerView) -> schemas.LayerOut:
    version = view.version
    return schemas.LayerOut(
        id=view.layer.id,
        schedule_id=view.layer.schedule_id,
        name=view.layer.name,
        priority=version.priority,
        participants=version.participant_ids,
        shadows=version.shadow_ids,
        shift_length=version.shift_length,
        shift_unit=version.shift_unit,
        handoff_time=handoff_time_of(version.anchor, ZoneInfo(view.local_zone)).strftime("%H:%M"),
        handoff_rule=version.handoff_rule,
        time_zone=version.time_zone,
        start=version.starts_at,
        end=version.ends_at,
        anchor=version.anchor,
        restrictions=_restrictions(version.restrictions),
        version_id=version.id,
        version_valid_from=version.valid_from,
        deleted_at=view.layer.deleted_at,
    )


def version_out(version: LayerVersion) -> schemas.LayerVersionOut:
    return schemas.LayerVersionOut(
        id=version.id,
        layer_id=version.layer_id,
        valid_from=version.valid_from,
        valid_until=version.valid_until,
        priority=version.priority,
        participants=version.participant_ids,
        shadows=version.shadow_ids,
        shift_length=version.shift_length,
        shift_unit=version.shift_unit,
        handoff_rule=version.handoff_rule,
        time_zone=version.time_zone,
        anchor=version.anchor,
        start=version.starts_at,
        end=version.ends_at,
        restrictions=_restrictions(version.restrictions),
        created_at=version.created_at,
        created_by_id=version.created_by_id,
    )


async def _detail(session: DbSession, schedule_id: Id) -> schemas.ScheduleDetail:
    schedule = await service.get_schedule(session, schedule_id)
    layers = await service.current_layers(session, schedule)
    return schemas.ScheduleDetail(
        **schemas.ScheduleOut.model_validate(schedule).model_dump(),
        layers=[layer_out(view) for view in layers],
    )


# ------------------------------------------------------------------------------- schedules


@router.get("/schedules", response_model=Page[schemas.ScheduleOut])
async def list_schedules(
    session: DbSession,
    _: Reader,
    page: PageQuery,
    q: Annotated[str | None, Query(max_length=200, description="Name contains")] = None,
    team_id: Id | None = None,
) -> Page[schemas.ScheduleOut]:
    items, cursor = await service.list_schedules(session, page, q=q, team_id=team_id)
    return Page(items=[schemas.ScheduleOut.model_validate(s) for s in items], next_cursor=cursor)


@router.post(
    "/schedules", response_model=schemas.ScheduleDetail, status_code=status.HTTP_201_CREATED
)
async def create_schedule(
    session: DbSession, principal: Writer, body: schemas.ScheduleCreate
) -> schemas.ScheduleDetail:
    schedule = await service.create_schedule(session, principal, body)
    return await _detail(session, schedule.id)


@router.get("/schedules/{schedule_id}", response_model=schemas.ScheduleDetail)
async def get_schedule(session: DbSession, _: Reader, schedule_id: Id) -> schemas.ScheduleDetail:
    return await _detail(session, schedule_id)


@router.patch("/schedules/{schedule_id}", response_model=schemas.ScheduleOut)
async def update_schedule(
    session: DbSession, principal: Writer, schedule_id: Id, body: schemas.ScheduleUpdate
) -> schemas.ScheduleOut:
    schedule = await service.update_schedule(session, principal, schedule_id, body)
    return schemas.ScheduleOut.model_validate(schedule)


@router.delete("/schedules/{schedule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_schedule(session: DbSession, principal: Writer, schedule_id: Id) -> Response:
    await service.delete_schedule(session, principal, schedule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------- layers


@router.get("/schedules/{schedule_id}/layers", response_model=list[schemas.LayerOut])
async def list_layers(session: DbSession, _: Reader, schedule_id: Id) -> list[schemas.LayerOut]:
    schedule = await service.get_schedule(session, schedule_id)
    return [layer_out(view) for view in await service.current_layers(session, schedule)]


@router.post(
    "/schedules/{schedule_id}/layers",
    response_model=schemas.LayerOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_layer(
    session: DbSession, principal: Writer, schedule_id: Id, body: schemas.LayerCreate
) -> schemas.LayerOut:
    return layer_out(await service.create_layer(session, principal, schedule_id, body))


@router.get("/schedules/{schedule_id}/layers/{layer_id}", response_model=schemas.LayerOut)
async def get_layer(
    session: DbSession, _: Reader, schedule_id: Id, layer_id: Id
) -> schemas.LayerOut:
    return layer_out(await service.get_layer(session, schedule_id, layer_id))


@router.patch("/schedules/{schedule_id}/layers/{layer_id}", response_model=schemas.LayerOut)
async def update_layer(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.LayerUpdate,
) -> schemas.LayerOut:
    """Changes apply from now on; the layer's past shifts stay as they were."""
    view = await service.update_layer(session, principal, schedule_id, layer_id, body)
    return layer_out(view)


@router.delete("/schedules/{schedule_id}/layers/{layer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_layer(
    session: DbSession, principal: Writer, schedule_id: Id, layer_id: Id
) -> Response:
    """Stops the layer now; the shifts it already gave people stay in the history."""
    await service.delete_layer(session, principal, schedule_id, layer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/schedules/{schedule_id}/layers/{layer_id}/versions",
    response_model=list[schemas.LayerVersionOut],
)
async def layer_versions(
    session: DbSession, _: Reader, schedule_id: Id, layer_id: Id
) -> list[schemas.LayerVersionOut]:
    versions = await service.layer_history(session, schedule_id, layer_id)
    return [version_out(v) for v in versions]


@router.put(
    "/schedules/{schedule_id}/layers/{layer_id}/participants", response_model=schemas.LayerOut
)
async def set_participants(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.ParticipantsUpdate,
) -> schemas.LayerOut:
    """Replace or reorder; whoever is on call now keeps their shift unless keep_current=false."""
    view = await service.set_participants(
        session, principal, schedule_id, layer_id, body.participants, keep_current=body.keep_current
    )
    return layer_out(view)


@router.post(
    "/schedules/{schedule_id}/layers/{layer_id}/participants", response_model=schemas.LayerOut
)
async def add_participant(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.ParticipantAdd,
) -> schemas.LayerOut:
    view = await service.add_participant(session, principal, schedule_id, layer_id, body)
    return layer_out(view)


@router.delete(
    "/schedules/{schedule_id}/layers/{layer_id}/participants/{user_id}",
    response_model=schemas.LayerOut,
)
async def remove_participant(
    session: DbSession, principal: Writer, schedule_id: Id, layer_id: Id, user_id: Id
) -> schemas.LayerOut:
    """Removes every occurrence of the user; the current responder keeps their shift."""
    view = await service.remove_participant(session, principal, schedule_id, layer_id, user_id)
    return layer_out(view)


@router.put("/schedules/{schedule_id}/layers/{layer_id}/shadows", response_model=schemas.LayerOut)
async def set_shadows(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.ShadowsUpdate,
) -> schemas.LayerOut:
    view = await service.set_shadows(session, principal, schedule_id, layer_id, body.shadows)
    return layer_out(view)


@router.post("/schedules/{schedule_id}/layers/{layer_id}/shadows", response_model=schemas.LayerOut)
async def add_shadow(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.ShadowAdd,
) -> schemas.LayerOut:
    view = await service.add_shadow(session, principal, schedule_id, layer_id, body.user_id)
    return layer_out(view)


@router.delete(
    "/schedules/{schedule_id}/layers/{layer_id}/shadows/{user_id}",
    response_model=schemas.LayerOut,
)
async def remove_shadow(
    session: DbSession, principal: Writer, schedule_id: Id, layer_id: Id, user_id: Id
) -> schemas.LayerOut:
    view = await service.remove_shadow(session, principal, schedule_id, layer_id, user_id)
    return layer_out(view)


@router.get(
    "/schedules/{schedule_id}/layers/{layer_id}/restrictions",
    response_model=list[schemas.RestrictionOut],
)
async def list_restrictions(
    session: DbSession, _: Reader, schedule_id: Id, layer_id: Id
) -> list[schemas.RestrictionOut]:
    view = await service.get_layer(session, schedule_id, layer_id)
    return _restrictions(view.version.restrictions)


@router.put(
    "/schedules/{schedule_id}/layers/{layer_id}/restrictions", response_model=schemas.LayerOut
)
async def set_restrictions(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.RestrictionsUpdate,
) -> schemas.LayerOut:
    """Replace the windows; an empty list removes every restriction."""
    view = await service.set_restrictions(
        session, principal, schedule_id, layer_id, body.restrictions
    )
    return layer_out(view)


@router.post(
    "/schedules/{schedule_id}/layers/{layer_id}/restrictions", response_model=schemas.LayerOut
)
async def add_restriction(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    body: schemas.RestrictionIn,
) -> schemas.LayerOut:
    view = await service.add_restriction(session, principal, schedule_id, layer_id, body)
    return layer_out(view)


@router.delete(
    "/schedules/{schedule_id}/layers/{layer_id}/restrictions/{index}",
    response_model=schemas.LayerOut,
)
async def remove_restriction(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    layer_id: Id,
    index: Annotated[int, Path(ge=0, lt=schemas.MAX_RESTRICTIONS)],
) -> schemas.LayerOut:
    """``index`` is the restriction's position in the layer's list (0 = first)."""
    view = await service.remove_restriction(session, principal, schedule_id, layer_id, index)
    return layer_out(view)


# ------------------------------------------------------------------------------- overrides


@router.get("/schedules/{schedule_id}/overrides", response_model=Page[schemas.OverrideOut])
async def list_overrides(
    session: DbSession,
    _: Reader,
    page: PageQuery,
    schedule_id: Id,
    start: When = None,
    end: When = None,
    user_id: Id | None = None,
) -> Page[schemas.OverrideOut]:
    """Overrides overlapping ``[start, end)`` when given, oldest first."""
    items, cursor = await overrides.list_overrides(
        session, schedule_id, page, start=start, end=end, user_id=user_id
    )
    return Page(items=[schemas.OverrideOut.model_validate(o) for o in items], next_cursor=cursor)


@router.post(
    "/schedules/{schedule_id}/overrides",
    response_model=schemas.OverrideOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_override(
    session: DbSession, principal: Writer, schedule_id: Id, body: schemas.OverrideCreate
) -> schemas.OverrideOut:
    """A start in the past takes effect now; 409 lists the ids of conflicting overrides."""
    override = await overrides.create_override(session, principal, schedule_id, body)
    return schemas.OverrideOut.model_validate(override)


@router.get("/schedules/{schedule_id}/overrides/{override_id}", response_model=schemas.OverrideOut)
async def get_override(
    session: DbSession, _: Reader, schedule_id: Id, override_id: Id
) -> schemas.OverrideOut:
    override = await overrides.get_override(session, schedule_id, override_id)
    return schemas.OverrideOut.model_validate(override)


@router.patch(
    "/schedules/{schedule_id}/overrides/{override_id}", response_model=schemas.OverrideOut
)
async def update_override(
    session: DbSession,
    principal: Writer,
    schedule_id: Id,
    override_id: Id,
    body: schemas.OverrideUpdate,
) -> schemas.OverrideOut:
    """Once an override has started only its end and reason can change."""
    override = await overrides.update_override(session, principal, schedule_id, override_id, body)
    return schemas.OverrideOut.model_validate(override)


@router.delete(
    "/schedules/{schedule_id}/overrides/{override_id}", status_code=status.HTTP_204_NO_CONTENT
)
async def delete_override(
    session: DbSession, principal: Writer, schedule_id: Id, override_id: Id
) -> Response:
    """Removes the override's future: one that already started ends now and stays in history."""
    await overrides.delete_override(session, principal, schedule_id, override_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------------- who is on call


@router.get("/oncall", response_model=list[schemas.OnCallOut])
async def who_is_on_call(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    at: When = None,
    team_id: Id | None = None,
) -> list[schemas.OnCallOut]:
    """Every schedule (or a team's): responders, shadows, until when, and who is next."""
    found = await oncall_queries.who_is_on_call(session, None, at or clock.now())
    return [a for a in found if team_id is None or a.team_id == team_id]


@router.get("/oncall/load", response_model=schemas.LoadOut)
async def pager_load_all(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    start: When = None,
    end: When = None,
    team_id: Id | None = None,
) -> schemas.LoadOut:
    """Pager load over every schedule (or a team's); default: the past four weeks."""
    now = clock.now()
    window_start, window_end = start or (end or now) - LOAD_WINDOW, end or now
    return await oncall_queries.pager_load(session, None, window_start, window_end, team_id=team_id)


@router.get("/schedules/{schedule_id}/oncall", response_model=schemas.OnCallOut)
async def schedule_on_call(
    session: DbSession, clock: ClockDep, _: Reader, schedule_id: Id, at: When = None
) -> schemas.OnCallOut:
    return await oncall_queries.schedule_on_call(session, schedule_id, at or clock.now())


@router.get("/schedules/{schedule_id}/final-schedule", response_model=schemas.FinalScheduleOut)
async def final_schedule(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    schedule_id: Id,
    start: When = None,
    end: When = None,
) -> schemas.FinalScheduleOut:
    """Every responder and shadow shift in the window (default: two weeks from now)."""
    window = _window(clock.now(), start, end, oncall_queries.DEFAULT_WINDOW)
    return await oncall_queries.final_shifts(session, schedule_id, *window)


@router.get("/schedules/{schedule_id}/gaps", response_model=schemas.GapsOut)
async def coverage_gaps(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    schedule_id: Id,
    start: When = None,
    end: When = None,
) -> schemas.GapsOut:
    """Where nobody is on call in the window (default: two weeks from now)."""
    window = _window(clock.now(), start, end, oncall_queries.DEFAULT_WINDOW)
    return await oncall_queries.coverage_gaps(session, schedule_id, *window)


@router.get("/schedules/{schedule_id}/load", response_model=schemas.LoadOut)
async def pager_load(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    schedule_id: Id,
    start: When = None,
    end: When = None,
) -> schemas.LoadOut:
    """Hours per person by business/evening/night/weekend in their own zone; dev/ops share."""
    now = clock.now()
    window_start, window_end = start or (end or now) - LOAD_WINDOW, end or now
    return await oncall_queries.pager_load(session, [schedule_id], window_start, window_end)


@router.get("/users/{user_id}/next-shift", response_model=schemas.NextShiftOut)
async def next_shift(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    user_id: Id,
    after: When = None,
    schedule_id: Id | None = None,
    within_days: Annotated[int, Query(ge=1, le=366)] = 90,
) -> schemas.NextShiftOut:
    """The user's current or next responder shift, on one schedule or on any."""
    return await oncall_queries.next_shift(
        session,
        user_id,
        after or clock.now(),
        horizon=timedelta(days=within_days),
        schedule_id=schedule_id,
    )


# ------------------------------------------------------------------------------ preferences


@router.get("/users/{user_id}/oncall-preferences", response_model=schemas.PreferencesOut)
async def get_preferences(session: DbSession, _: Reader, user_id: Id) -> schemas.PreferencesOut:
    prefs = await preferences.get_preferences(session, user_id)
    return schemas.PreferencesOut.model_validate(prefs)


@router.patch("/users/{user_id}/oncall-preferences", response_model=schemas.PreferencesOut)
async def update_preferences(
    session: DbSession, principal: Writer, user_id: Id, body: schemas.PreferencesUpdate
) -> schemas.PreferencesOut:
    prefs = await preferences.update_preferences(session, principal, user_id, body)
    return schemas.PreferencesOut.model_validate(prefs)


# --------------------------------------------------------------------------- cover requests


@router.post(
    "/schedules/{schedule_id}/cover-requests",
    response_model=schemas.CoverRequestOut,
    status_code=status.HTTP_201_CREATED,
)
async def create_cover_request(
    session: DbSession,
    clock: ClockDep,
    principal: Writer,
    schedule_id: Id,
    body: schemas.CoverRequestCreate,
) -> schemas.CoverRequestOut:
    """Ask for cover; the schedule's other participants are told."""
    created = await cover.create_request(session, principal, schedule_id, body)
    return cover.as_out(created, clock.now())


@router.get("/cover-requests", response_model=Page[schemas.CoverRequestOut])
async def list_cover_requests(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    page: PageQuery,
    schedule_id: Id | None = None,
    state: CoverRequestState | None = None,
    requester_id: Id | None = None,
) -> Page[schemas.CoverRequestOut]:
    items, cursor = await cover.list_requests(
        session, page, schedule_id=schedule_id, state=state, requester_id=requester_id
    )
    now = clock.now()
    return Page(items=[cover.as_out(item, now) for item in items], next_cursor=cursor)


@router.get("/cover-requests/{request_id}", response_model=schemas.CoverRequestOut)
async def get_cover_request(
    session: DbSession, clock: ClockDep, _: Reader, request_id: Id
) -> schemas.CoverRequestOut:
    return cover.as_out(await cover.get_request(session, request_id), clock.now())


@router.post("/cover-requests/{request_id}/accept", response_model=schemas.CoverRequestOut)
async def accept_cover_request(
    session: DbSession, clock: ClockDep, principal: Writer, request_id: Id
) -> schemas.CoverRequestOut:
    """Creates an override (you replace the requester) and tells you both."""
    accepted = await cover.accept_request(session, principal, request_id)
    return cover.as_out(accepted, clock.now())


@router.post("/cover-requests/{request_id}/cancel", response_model=schemas.CoverRequestOut)
async def cancel_cover_request(
    session: DbSession, clock: ClockDep, principal: Writer, request_id: Id
) -> schemas.CoverRequestOut:
    cancelled = await cover.cancel_request(session, principal, request_id)
    return cover.as_out(cancelled, clock.now())


# --------------------------------------------------------------------------- calendar feeds


@router.post(
    "/calendar-feeds", response_model=schemas.FeedCreated, status_code=status.HTTP_201_CREATED
)
async def create_feed(
    session: DbSession, settings: SettingsDep, principal: Writer, body: schemas.FeedCreate
) -> schemas.FeedCreated:
    """A secret iCalendar URL for a schedule or for one person's shifts (shown once)."""
    issued = await feeds.create_feed(session, principal, body)
    return schemas.FeedCreated(
        **schemas.FeedOut.model_validate(issued.feed).model_dump(),
        token=issued.secret,
        url=feeds.feed_url(settings.public_url, issued.secret),
    )


@router.get("/calendar-feeds", response_model=list[schemas.FeedOut])
async def list_feeds(
    session: DbSession,
    principal: Reader,
    everyone: Annotated[bool, Query(alias="all", description="Admins: every user's feeds")] = False,
) -> list[schemas.FeedOut]:
    items = await feeds.list_feeds(session, principal, everyone=everyone)
    return [schemas.FeedOut.model_validate(f) for f in items]


@router.delete("/calendar-feeds/{feed_id}", response_model=schemas.FeedOut)
async def revoke_feed(session: DbSession, principal: Writer, feed_id: Id) -> schemas.FeedOut:
    """The feed URL stops working at once (404)."""
    return schemas.FeedOut.model_validate(await feeds.revoke_feed(session, principal, feed_id))


@router.get(
    "/calendars/{token}.ics",
    openapi_extra=public_route("feed-token"),
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
async def calendar(request: Request, session: DbSession, token: str) -> Response:
    """The iCalendar feed behind a secret URL; subscribe to it from Google Calendar or Outlook."""
    guard, address = auth_guard(request), source_address(request)
    guard.check(address, Credential.FEED_TOKEN)
    try:
        body = await feeds.render_feed(session, token)
    except NotFound:
        guard.failed(address, Credential.FEED_TOKEN)
        raise
    return Response(
        content=body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
