"""``/baton oncall`` and ``/baton cover``: who carries the pager, and asking for cover.

``oncall <name>`` looks the name up as a schedule, then a service (the schedules its escalation
policy pages, in step order, plus people it pages directly), then a team (its schedules); a
name that is none of these exactly but is part of exactly one of them is taken as that one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.db import session_clock
from app.core.errors import BatonError
from app.core.textsearch import contains_text
from app.escalation import service as escalation
from app.integrations.slack import app_blocks, commands
from app.integrations.slack.app_blocks import Reply, when
from app.integrations.slack.command_context import Call, Refusal
from app.people import service as people
from app.people.models import Team, User
from app.schedules import cover, oncall_queries, repository
from app.schedules.models import Schedule
from app.schedules.oncall import final_schedule
from app.schedules.schemas import CoverRequestCreate, OnCallOut
from app.schedules.service import get_schedule_by_name


@dataclass(frozen=True)
class Target:
    kind: str  # "schedule" | "service" | "team"
    id: int
    name: str


async def _exact(session: AsyncSession, name: str) -> Target | None:
    schedule = await get_schedule_by_name(session, name)
    if schedule is not None:
        return Target("schedule", schedule.id, schedule.name)
    service = await catalog.get_service_by_name(session, name)
    if service is not None:
        return Target("service", service.id, service.name)
    team = await people.get_team_by_name(session, name)
    if team is not None:
        return Target("team", team.id, team.name)
    return None


async def find_target(session: AsyncSession, name: str) -> Target:
    """A schedule, service or team by name; a unique partial match will do."""
    exact = await _exact(session, name)
    if exact is not None:
        return exact
    candidates: list[Target] = []
    for kind, model in (("schedule", Schedule), ("service", Service), ("team", Team)):
        rows = await session.execute(
            select(model.id, model.name).where(contains_text(model.name, name)).limit(10)
        )
        candidates += [Target(kind, row_id, row_name) for row_id, row_name in rows.all()]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise Refusal(f"No schedule, service or team is called `{name}`.")
    listed = ", ".join(f"{c.name} ({c.kind})" for c in candidates[:8])
    raise Refusal(f"`{name}` could be several things: {listed}. Say which.")


async def _service_answers(
    session: AsyncSession, service: Service, at: datetime
) -> tuple[list[OnCallOut], list[str]]:
    """The schedules a service's policy pages, in step order, and the people it pages directly."""
    if service.escalation_policy_id is None:
        return [], [f"{service.name} has no escalation policy: nobody is paged for it."]
    policy = await escalation.load_snapshot(session, service.escalation_policy_id)
    if policy is None:
        return [], []
    schedule_ids: list[int] = []
    direct: list[str] = []
    for index, step in enumerate(policy.steps, start=1):
        for target in step.targets:
            if target.schedule_id is not None and target.schedule_id not in schedule_ids:
                schedule_ids.append(target.schedule_id)
            elif target.user_id is not None:
                user = await session.get(User, target.user_id)
                direct.append(f"{user.name if user else target.user_id} (step {index})")
    found = await oncall_queries.who_is_on_call(session, schedule_ids, at) if schedule_ids else []
    extra = [f"Paged directly by {policy.name}: {', '.join(direct)}"] if direct else []
    return found, extra


async def oncall(call: Call) -> Reply:
    """``oncall [service|schedule|team]``: who is on call now and next, for one or all."""
    ref = call.invocation.text.strip()
    async with call.ctx.db.transaction() as session:
        await call.principal(session)
        now = session_clock(session).now()
        extra: list[str] = []
        if not ref:
            found = await oncall_queries.who_is_on_call(session, None, now)
            heading = "On call now"
        else:
            target = await find_target(session, ref)
            heading = f"On call for {target.name}"
            if target.kind == "schedule":
                found = await oncall_queries.who_is_on_call(session, [target.id], now)
            elif target.kind == "service":
                service = await catalog.get_service(session, target.id)
                found, extra = await _service_answers(session, service, now)
            else:
                ids = list(
                    await session.scalars(
                        select(Schedule.id)
                        .where(Schedule.team_id == target.id)
                        .order_by(Schedule.id)
                    )
                )
                found = await oncall_queries.who_is_on_call(session, ids, now) if ids else []
                if not ids:
                    extra = [f"Team {target.name} has no schedules."]
    return app_blocks.oncall_reply(heading, found, extra).publicly(call.invocation.here)


# ---------------------------------------------------------------------------------- cover


async def _schedules_with_shift(
    session: AsyncSession, user_id: int, start: datetime, end: datetime
) -> list[Schedule]:
    """Schedules on which ``user_id`` is a responder at some point of ``[start, end)``."""
    loaded = await repository.loaded_schedules(session, await repository.all_schedule_ids(session))
    ids = [
        schedule_id
        for schedule_id, entry in loaded.items()
        if any(
            s.user_id == user_id and not s.shadow
            for s in final_schedule(entry.compiled, start, end)
        )
    ]
    if not ids:
        return []
    return list(await session.scalars(select(Schedule).where(Schedule.id.in_(ids))))


async def _cover_schedule(
    session: AsyncSession, ref: str, user_id: int, start: datetime, end: datetime
) -> Schedule:
    if ref:
        target = await find_target(session, ref)
        if target.kind != "schedule":
            raise Refusal(f"`{ref}` is a {target.kind}; name the schedule you need cover on.")
        schedule = await session.get(Schedule, target.id)
        assert schedule is not None
        return schedule
    mine = await _schedules_with_shift(session, user_id, start, end)
    if len(mine) == 1:
        return mine[0]
    if not mine:
        raise Refusal("You are not on call then: there is nothing to cover.")
    names = ", ".join(s.name for s in mine)
    raise Refusal(f"You are on call on several schedules then ({names}): name one.")


async def ask_cover(call: Call) -> Reply:
    """``cover <range> [schedule]``: the rotation's other people get a DM with Accept."""
    try:
        async with call.ctx.db.transaction() as session:
            principal = await call.principal(session)
            me = await session.get(User, principal.user_id)
            assert me is not None
            now = session_clock(session).now()
            start, end, ref = commands.parse_range(
                call.invocation.text, now, ZoneInfo(me.time_zone)
            )
            schedule = await _cover_schedule(session, ref, me.id, max(start, now), end)
            request = await cover.create_request(
                session, principal, schedule.id, CoverRequestCreate(start=start, end=end)
            )
    except BatonError as exc:
        return Reply(f"Could not ask for cover: {exc.detail}")
    return Reply(
        f"Asked the rest of the {schedule.name} rotation to cover you from "
        f"{when(request.starts_at, me.time_zone)} to {when(request.ends_at, me.time_zone)} "
        f"(cover request {request.id}). The first to accept takes it; you will be told."
    )


HANDLERS: dict[str, Callable[[Call], Awaitable[Reply]]] = {
    "oncall": oncall,
    "cover": ask_cover,
}
