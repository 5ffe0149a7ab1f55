"""Cover requests: someone asks for cover over a range, a colleague accepts, an override appears.

The accepted range becomes an override in which the acceptor replaces only the requester (a
co-responder on another layer keeps their shift). The people who could cover are told when the
request is made; the requester and the acceptor are told when it is accepted. Messages leave
after the transaction commits (``messaging.tell``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.pagination import PageParams, paginate
from app.people.models import User
from app.schedules import messaging, repository, schemas
from app.schedules.models import CoverRequest, CoverRequestState, Schedule
from app.schedules.oncall import MAX_WINDOW, final_schedule
from app.schedules.overrides import add_override
from app.schedules.service import (
    current_layers,
    get_schedule,
    lock_schedule,
    people,
    require_user,
)


def state_of(request: CoverRequest, now: datetime) -> CoverRequestState:
    """An open request nobody accepted before its end has expired (computed, never stale)."""
    if request.state is CoverRequestState.OPEN and request.ends_at <= now:
        return CoverRequestState.EXPIRED
    return request.state


def as_out(request: CoverRequest, now: datetime) -> schemas.CoverRequestOut:
    return schemas.CoverRequestOut(
        id=request.id,
        schedule_id=request.schedule_id,
        requester_id=request.requester_id,
        start=request.starts_at,
        end=request.ends_at,
        message=request.message,
        state=state_of(request, now),
        accepted_by_id=request.accepted_by_id,
        accepted_at=request.accepted_at,
        cancelled_at=request.cancelled_at,
        override_id=request.override_id,
        created_at=request.created_at,
    )


def _when(start: datetime, end: datetime, user: User) -> str:
    zone = ZoneInfo(user.time_zone)
    fmt = "%a %d %b %H:%M"
    return (
        f"{start.astimezone(zone).strftime(fmt)} to {end.astimezone(zone).strftime(fmt)} "
        f"({user.time_zone})"
    )


async def _participants(session: AsyncSession, schedule: Schedule) -> set[int]:
    return {
        user_id
        for view in await current_layers(session, schedule)
        for user_id in (*view.version.participant_ids, *view.version.shadow_ids)
    }


async def _require_on_call(
    session: AsyncSession, schedule: Schedule, user_id: int, start: datetime, end: datetime
) -> None:
    loaded = await repository.loaded_schedule(session, schedule.id)
    assert loaded is not None
    shifts = final_schedule(loaded.compiled, start, end)
    if not any(s.user_id == user_id and not s.shadow for s in shifts):
        raise InvalidInput(
            f"user {user_id} is not on call for {schedule.name} in that range: nothing to cover",
            field="body.start",
        )


async def create_request(
    session: AsyncSession,
    principal: Principal,
    schedule_id: int,
    data: schemas.CoverRequestCreate,
) -> CoverRequest:
    principal.require_write()
    schedule = await get_schedule(session, schedule_id)
    requester_id = data.requester_id if data.requester_id is not None else principal.user_id
    if requester_id != principal.user_id:
        principal.require_team_write(schedule.team_id, "cover requests for someone else")
        await require_user(session, requester_id, "body.requester_id")
    now = session_clock(session).now()
    if data.end <= now:
        raise InvalidInput("the range is already over", field="body.end")
    start = max(data.start, now)
    if data.end - start > MAX_WINDOW:
        raise InvalidInput(f"ask for at most {MAX_WINDOW.days} days at once", field="body.end")
    await _require_on_call(session, schedule, requester_id, start, data.end)
    request = CoverRequest(
        schedule_id=schedule.id,
        requester_id=requester_id,
        starts_at=start,
        ends_at=data.end,
        message=data.message,
    )
    session.add(request)
    await session.flush()
    await _ask_colleagues(session, schedule, request)
    return request


async def _ask_colleagues(session: AsyncSession, schedule: Schedule, request: CoverRequest) -> None:
    candidates = await _participants(session, schedule) - {request.requester_id}
    users = await people(session, candidates | {request.requester_id})
    requester = users[request.requester_id]
    note = f' "{request.message}"' if request.message else ""
    for user_id in sorted(candidates):
        await messaging.tell(
            session,
            user_id,
            subject=f"Cover request: {schedule.name}",
            text=f"{requester.name} asks for cover on {schedule.name} "
            f"{_when(request.starts_at, request.ends_at, users[user_id])}.{note} "
            f"Accept it in Baton (cover request {request.id}).",
            context={"cover_request_id": request.id, "schedule_id": schedule.id},
        )


async def list_requests(
    session: AsyncSession,
    page: PageParams,
    *,
    schedule_id: int | None = None,
    state: CoverRequestState | None = None,
    requester_id: int | None = None,
) -> tuple[Sequence[CoverRequest], str | None]:
    stmt = select(CoverRequest)
    if schedule_id is not None:
        stmt = stmt.where(CoverRequest.schedule_id == schedule_id)
    if requester_id is not None:
        stmt = stmt.where(CoverRequest.requester_id == requester_id)
    if state is not None:
        stmt = stmt.where(_state_filter(state, session_clock(session).now()))
    return await paginate(session, stmt, CoverRequest.id, page)


def _state_filter(state: CoverRequestState, now: datetime) -> ColumnElement[bool]:
    is_open = CoverRequest.state == CoverRequestState.OPEN
    if state is CoverRequestState.OPEN:
        return and_(is_open, CoverRequest.ends_at > now)
    if state is CoverRequestState.EXPIRED:
        return or_(
            CoverRequest.state == CoverRequestState.EXPIRED,
            and_(is_open, CoverRequest.ends_at <= now),
        )
    return CoverRequest.state == state


async def get_request(session: AsyncSession, request_id: int) -> CoverRequest:
    request = await session.get(CoverRequest, request_id)
    if request is None:
        raise NotFound(f"cover request {request_id} not found")
    return request


async def _locked(session: AsyncSession, request_id: int) -> tuple[Schedule, CoverRequest]:
    """The request and its schedule, schedule locked first (one lock order, no deadlocks)."""
    request = await get_request(session, request_id)
    schedule = await lock_schedule(session, request.schedule_id)
    await session.refresh(request)
    return schedule, request


def _require_open(request: CoverRequest, now: datetime) -> None:
    state = state_of(request, now)
    if state is not CoverRequestState.OPEN:
        raise Conflict(f"cover request {request.id} is {state.value}", state=state.value)


async def _may_cover(session: AsyncSession, principal: Principal, schedule: Schedule) -> None:
    principal.require_write()
    if principal.is_admin or schedule.team_id in principal.team_ids:
        return
    if principal.user_id not in await _participants(session, schedule):
        raise Forbidden("only the schedule's team and its participants can cover it")


async def accept_request(
    session: AsyncSession, principal: Principal, request_id: int
) -> CoverRequest:
    schedule, request = await _locked(session, request_id)
    now = session_clock(session).now()
    _require_open(request, now)
    if principal.user_id == request.requester_id:
        raise Conflict("you cannot cover your own request")
    await _may_cover(session, principal, schedule)
    override = await add_override(
        session,
        schedule,
        start=request.starts_at,
        end=request.ends_at,
        user_id=principal.user_id,
        replaces_user_id=request.requester_id,
        reason=f"cover request {request.id}",
        created_by_id=principal.user_id,
    )
    request.state = CoverRequestState.ACCEPTED
    request.accepted_by_id = principal.user_id
    request.accepted_at = now
    request.override_id = override.id
    await session.flush()
    await _tell_both(session, schedule, request)
    return request


async def _tell_both(session: AsyncSession, schedule: Schedule, request: CoverRequest) -> None:
    assert request.accepted_by_id is not None
    users = await people(session, [request.requester_id, request.accepted_by_id])
    requester, acceptor = users[request.requester_id], users[request.accepted_by_id]
    messages: Iterable[tuple[User, str]] = (
        (
            requester,
            f"{acceptor.name} covers you on {schedule.name} "
            f"{_when(request.starts_at, request.ends_at, requester)}.",
        ),
        (
            acceptor,
            f"You cover {requester.name} on {schedule.name} "
            f"{_when(request.starts_at, request.ends_at, acceptor)}. Thank you!",
        ),
    )
    for user, text in messages:
        await messaging.tell(
            session,
            user.id,
            subject=f"Cover accepted: {schedule.name}",
            text=text,
            context={"cover_request_id": request.id, "override_id": request.override_id},
        )


async def cancel_request(
    session: AsyncSession, principal: Principal, request_id: int
) -> CoverRequest:
    schedule, request = await _locked(session, request_id)
    principal.require_write()
    if principal.user_id != request.requester_id:
        principal.require_team_write(schedule.team_id, "someone else's cover request")
    now = session_clock(session).now()
    _require_open(request, now)
    request.state = CoverRequestState.CANCELLED
    request.cancelled_at = now
    await session.flush()
    return request


async def open_requests_for(
    session: AsyncSession, user_id: int, *, limit: int = 50
) -> list[CoverRequest]:
    """Open requests this person was asked to cover: on schedules they take part in (as
    responder or shadow, the people ``create_request`` tells), not their own. Soonest first."""
    now = session_clock(session).now()
    candidates = (
        await session.scalars(
            select(CoverRequest)
            .where(
                _state_filter(CoverRequestState.OPEN, now),
                CoverRequest.requester_id != user_id,
            )
            .order_by(CoverRequest.starts_at, CoverRequest.id)
        )
    ).all()
    asked: dict[int, bool] = {}
    found: list[CoverRequest] = []
    for request in candidates:
        if request.schedule_id not in asked:
            schedule = await get_schedule(session, request.schedule_id)
            asked[request.schedule_id] = user_id in await _participants(session, schedule)
        if asked[request.schedule_id]:
            found.append(request)
            if len(found) >= limit:
                break
    return found
