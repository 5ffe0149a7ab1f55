"""Services: what is run and paged for, who owns it, how it escalates, when it is in maintenance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import changes as changes_module
from app.catalog import history, schemas
from app.catalog.models import MaintenanceWindow, Service
from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.core.pagination import PageParams, paginate
from app.core.textsearch import contains_text
from app.escalation.models import EscalationPolicy
from app.people.models import Team, TeamKind

MAX_MAINTENANCE = timedelta(days=14)


async def list_services(
    session: AsyncSession,
    page: PageParams,
    *,
    team_id: int | None = None,
    support_model: str | None = None,
    q: str | None = None,
) -> tuple[Sequence[Service], str | None]:
    stmt = select(Service)
    if team_id is not None:
        stmt = stmt.where(Service.team_id == team_id)
    if support_model:
        stmt = stmt.where(Service.support_model == support_model)
    if q:
        stmt = stmt.where(contains_text(Service.name, q))
    return await paginate(session, stmt, Service.id, page)


async def get_service(session: AsyncSession, service_id: int) -> Service:
    service = await session.get(Service, service_id)
    if service is None:
        raise NotFound(f"service {service_id} not found")
    return service


async def get_service_by_name(session: AsyncSession, name: str) -> Service | None:
    return await session.scalar(select(Service).where(func.lower(Service.name) == name.lower()))


async def _check_references(
    session: AsyncSession,
    team_id: int | None,
    policy_id: int | None,
    ops_team_id: int | None = None,
) -> None:
    if team_id is not None and await session.get(Team, team_id) is None:
        raise InvalidInput(f"team {team_id} does not exist", field="body.team_id")
    if ops_team_id is not None:
        ops_team = await session.get(Team, ops_team_id)
        if ops_team is None:
            raise InvalidInput(f"team {ops_team_id} does not exist", field="body.ops_team_id")
        if ops_team.kind is not TeamKind.OPS:
            raise InvalidInput(f"team {ops_team.name} is not an Ops team", field="body.ops_team_id")
    if policy_id is not None and await session.get(EscalationPolicy, policy_id) is None:
        raise InvalidInput(
            f"escalation policy {policy_id} does not exist", field="body.escalation_policy_id"
        )


async def _ensure_name_free(session: AsyncSession, name: str, except_id: int | None) -> None:
    existing = await get_service_by_name(session, name)
    if existing is not None and existing.id != except_id:
        raise Conflict(f"a service named {name!r} already exists")


async def create_service(
    session: AsyncSession, principal: Principal, data: schemas.ServiceCreate
) -> Service:
    principal.require_team_write(data.team_id, "the team's services")
    await _check_references(session, data.team_id, data.escalation_policy_id, data.ops_team_id)
    await _ensure_name_free(session, data.name, None)
    service = Service(**data.model_dump())
    session.add(service)
    await session.flush()
    return service


async def update_service(
    session: AsyncSession, principal: Principal, service_id: int, data: schemas.ServiceUpdate
) -> Service:
    service = await get_service(session, service_id)
    principal.require_team_write(service.team_id, "this service")
    changes = data.model_dump(exclude_unset=True)
    if changes.get("team_id") is not None:
        principal.require_team_write(changes["team_id"], "the new owning team's services")
    await _check_references(
        session,
        changes.get("team_id"),
        changes.get("escalation_policy_id"),
        changes.get("ops_team_id"),
    )
    if changes.get("name"):
        await _ensure_name_free(session, changes["name"], service.id)
    if changes.get("support_model") not in (None, service.support_model):
        # The support model moves by a hand-over or a handback (app/readiness), which check the
        # launch requirements and switch the policy; setting it directly is an admin's override.
        if not principal.is_admin:
            raise Forbidden(
                "the support model changes by a hand-over to Ops or a handback to the "
                "developers (the service's readiness page); only admins set it directly"
            )
        service.support_since = session_clock(session).now()
    for key, value in changes.items():
        setattr(service, key, value)
    await session.flush()
    changes_module.after_commit(session, service.id)
    return service


async def delete_service(session: AsyncSession, principal: Principal, service_id: int) -> None:
    service = await get_service(session, service_id)
    principal.require_team_write(service.team_id, "this service")
    incidents = await history.incident_count(session, service_id)
    if incidents:
        raise Conflict(
            f"service {service.name} has {incidents} incidents; their history is kept, so the "
            "service cannot be deleted"
        )
    await session.delete(service)
    await session.flush()


# ------------------------------------------------------------------------------- maintenance


async def active_window(
    session: AsyncSession, service_id: int, at: datetime
) -> MaintenanceWindow | None:
    return await session.scalar(_ACTIVE_WINDOW, {"service_id": service_id, "at": at})


# Built once: every batch of new incidents asks.
_ACTIVE_WINDOW = (
    select(MaintenanceWindow)
    .where(
        MaintenanceWindow.service_id == bindparam("service_id"),
        MaintenanceWindow.starts_at <= bindparam("at"),
        MaintenanceWindow.ends_at > bindparam("at"),
    )
    .order_by(MaintenanceWindow.ends_at.desc())
    .limit(1)
)


async def services_in_maintenance(session: AsyncSession, at: datetime) -> set[int]:
    rows = await session.scalars(
        select(MaintenanceWindow.service_id).where(
            MaintenanceWindow.starts_at <= at, MaintenanceWindow.ends_at > at
        )
    )
    return set(rows)


async def list_maintenance(session: AsyncSession, service_id: int) -> Sequence[MaintenanceWindow]:
    await get_service(session, service_id)
    stmt = (
        select(MaintenanceWindow)
        .where(MaintenanceWindow.service_id == service_id)
        .order_by(MaintenanceWindow.starts_at.desc())
        .limit(100)
    )
    return (await session.scalars(stmt)).all()


async def start_maintenance(
    session: AsyncSession, principal: Principal, service_id: int, data: schemas.MaintenanceCreate
) -> MaintenanceWindow:
    service = await get_service(session, service_id)
    principal.require_team_write(service.team_id, "this service's maintenance")
    now = session_clock(session).now()
    starts = data.starts_at or now
    if data.ends_at <= starts:
        raise InvalidInput("ends_at must be after starts_at", field="body.ends_at")
    if data.ends_at <= now:
        raise InvalidInput("the window is already over", field="body.ends_at")
    if data.ends_at - starts > MAX_MAINTENANCE:
        raise InvalidInput(
            "maintenance windows last at most 14 days; nobody is paged during one",
            field="body.ends_at",
        )
    window = MaintenanceWindow(
        service_id=service_id,
        starts_at=starts,
        ends_at=data.ends_at,
        reason=data.reason,
        created_by_id=principal.user_id,
        created_at=now,
    )
    session.add(window)
    await session.flush()
    return window


async def end_maintenance(
    session: AsyncSession, principal: Principal, service_id: int, window_id: int
) -> MaintenanceWindow:
    service = await get_service(session, service_id)
    principal.require_team_write(service.team_id, "this service's maintenance")
    window = await session.get(MaintenanceWindow, window_id)
    if window is None or window.service_id != service_id:
        raise NotFound(f"maintenance window {window_id} not found for service {service_id}")
    now = session_clock(session).now()
    if window.ends_at > now:
        # Ending early keeps the record of the window that was; the engine releases held
        # incidents on its next pass.
        window.ends_at = max(now, window.starts_at + timedelta(microseconds=1))
    await session.flush()
    return window
