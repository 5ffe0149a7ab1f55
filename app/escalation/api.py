from __future__ import annotations

from fastapi import APIRouter, Response, status

from app.core.auth import Reader, Writer
from app.core.pagination import PageQuery
from app.core.schemas import Id, Page
from app.core.session import DbSession
from app.escalation import schemas, service
from app.escalation.models import EscalationPolicy

router = APIRouter(prefix="/api/v1/escalation-policies", tags=["escalation"])


def _out(policy: EscalationPolicy) -> schemas.PolicyOut:
    return schemas.PolicyOut.model_validate(policy)


@router.get("", response_model=Page[schemas.PolicyOut])
async def list_policies(
    session: DbSession, _: Reader, page: PageQuery, team_id: Id | None = None
) -> Page[schemas.PolicyOut]:
    policies, cursor = await service.list_policies(session, page, team_id=team_id)
    return Page(items=[_out(p) for p in policies], next_cursor=cursor)


@router.post("", response_model=schemas.PolicyOut, status_code=status.HTTP_201_CREATED)
async def create_policy(
    session: DbSession, principal: Writer, body: schemas.PolicyCreate
) -> schemas.PolicyOut:
    return _out(await service.create_policy(session, principal, body))


@router.get("/{policy_id}", response_model=schemas.PolicyOut)
async def get_policy(session: DbSession, _: Reader, policy_id: Id) -> schemas.PolicyOut:
    return _out(await service.get_policy(session, policy_id))


@router.patch("/{policy_id}", response_model=schemas.PolicyOut)
async def update_policy(
    session: DbSession, principal: Writer, policy_id: Id, body: schemas.PolicyUpdate
) -> schemas.PolicyOut:
    return _out(await service.update_policy(session, principal, policy_id, body))


@router.delete("/{policy_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_policy(session: DbSession, principal: Writer, policy_id: Id) -> Response:
    await service.delete_policy(session, principal, policy_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
