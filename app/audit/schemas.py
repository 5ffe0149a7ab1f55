from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from app.audit.models import ActorKind
from app.core.schemas import OutputModel


class AuditRecordOut(OutputModel):
    id: int
    at: datetime
    actor_kind: ActorKind
    actor_user_id: int | None = Field(description="The person who acted, if one did.")
    actor_token_id: int | None = Field(description="The API token they used, if any.")
    actor_label: str = Field(description='For example "declarative apply by alice".')
    channel: str = Field(description="api, slack, sms, voice, cli or system.")
    request_id: str | None
    entity_type: str
    entity_id: int | None
    action: str = Field(description="created, updated, deleted, revoked, verified, applied, ...")
    before: dict[str, Any] | None = Field(
        description="Deleted: the whole entity; updated: the changed fields; secrets redacted."
    )
    after: dict[str, Any] | None = Field(
        description="Created: the whole entity; updated: the changed fields; secrets redacted."
    )
