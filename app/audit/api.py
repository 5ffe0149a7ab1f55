from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AfterValidator, AwareDatetime

from app.audit import schemas, service
from app.audit.entities import EntityType
from app.audit.models import ActorKind
from app.core.auth import AdminOnly
from app.core.pagination import PageQuery
from app.core.schemas import ID_LIMIT, Page
from app.core.session import DbSession

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # Year 1 or 9999 with an offset has no UTC instant.
        raise ValueError("the instant is out of range once converted to UTC") from None


Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


@router.get("", response_model=Page[schemas.AuditRecordOut])
async def list_audit_records(
    session: DbSession,
    _: AdminOnly,
    page: PageQuery,
    actor_user_id: Annotated[
        int | None, Query(ge=1, lt=ID_LIMIT, description="Changes by this user")
    ] = None,
    actor_kind: ActorKind | None = None,
    entity_type: EntityType | None = None,
    entity_id: Annotated[int | None, Query(ge=1, lt=ID_LIMIT)] = None,
    action: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[Instant | None, Query(description="At or after this instant")] = None,
    until: Annotated[Instant | None, Query(description="Before this instant")] = None,
) -> Page[schemas.AuditRecordOut]:
    """Who changed which configuration, newest first (admins only)."""
    criteria = service.AuditFilter(
        actor_user_id=actor_user_id,
        actor_kind=actor_kind,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        since=since,
        until=until,
    )
    rows, cursor = await service.list_records(session, criteria, page)
    return Page(items=[schemas.AuditRecordOut.model_validate(r) for r in rows], next_cursor=cursor)
