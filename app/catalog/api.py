from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.catalog import schemas, service
from app.catalog.models import Service, SupportModel
from app.core.auth import Reader, Writer
from app.core.pagination import PageQuery
from app.core.schemas import Id, Page
from app.core.session import ClockDep, DbSession

router = APIRouter(prefix="/api/v1/services", tags=["services"])


def _out(svc: Service, in_maintenance: set[int]) -> schemas.ServiceOut:
    out = schemas.ServiceOut.model_validate(svc)
    out.in_maintenance = svc.id in in_maintenance
    return out


@router.get("", response_model=Page[schemas.ServiceOut])
async def list_services(
    session: DbSession,
    clock: ClockDep,
    _: Reader,
    page: PageQuery,
    team_id: Id | None = None,
    support_model: SupportModel | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[schemas.ServiceOut]:
    services, cursor = await service.list_services(
        session, page, team_id=team_id, support_model=support_model, q=q
    )
    held = await service.services_in_maintenance(session, clock.now())
    return Page(items=[_out(s, held) for s in services], next_cursor=cursor)


@router.post("", response_model=schemas.ServiceOut, status_code=status.HTTP_201_CREATED)
async def create_service(
    session: DbSession, principal: Writer, body: schemas.ServiceCreate
) -> schemas.ServiceOut:
    return _out(await service.create_service(session, principal, body), set())


@router.get("/{service_id}", response_model=schemas.ServiceOut)
async def get_service(
    session: DbSession, clock: ClockDep, _: Reader, service_id: Id
) -> schemas.ServiceOut:
    svc = await service.get_service(session, service_id)
    return _out(svc, await service.services_in_maintenance(session, clock.now()))


@router.patch("/{service_id}", response_model=schemas.ServiceOut)
async def update_service(
    session: DbSession,
    clock: ClockDep,
    principal: Writer,
    service_id: Id,
    body: schemas.ServiceUpdate,
) -> schemas.ServiceOut:
    svc = await service.update_service(session, principal, service_id, body)
    return _out(svc, await service.services_in_maintenance(session, clock.now()))


@router.delete("/{service_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_service(session: DbSession, principal: Writer, service_id: Id) -> Response:
    await service.delete_service(session, principal, service_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{service_id}/maintenance", response_model=list[schemas.MaintenanceOut])
async def list_maintenance(
    session: DbSession, _: Reader, service_id: Id
) -> list[schemas.MaintenanceOut]:
    windows = await service.list_maintenance(session, service_id)
    return [schemas.MaintenanceOut.model_validate(w) for w in windows]


@router.post(
    "/{service_id}/maintenance",
    response_model=schemas.MaintenanceOut,
    status_code=status.HTTP_201_CREATED,
)
async def start_maintenance(
    session: DbSession, principal: Writer, service_id: Id, body: schemas.MaintenanceCreate
) -> schemas.MaintenanceOut:
    window = await service.start_maintenance(session, principal, service_id, body)
    return schemas.MaintenanceOut.model_validate(window)


@router.delete("/{service_id}/maintenance/{window_id}", response_model=schemas.MaintenanceOut)
async def end_maintenance(
    session: DbSession, principal: Writer, service_id: Id, window_id: Id
) -> schemas.MaintenanceOut:
    window = await service.end_maintenance(session, principal, service_id, window_id)
    return schemas.MaintenanceOut.model_validate(window)
