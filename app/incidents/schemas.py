from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from app.core.jsondepth import clamp_depth
from app.core.schemas import Id, InputModel, Line, OutputModel, Text
from app.incidents.lifecycle import IncidentState
from app.people.models import Urgency


class IncidentOut(OutputModel):
    id: int
    service_id: int
    title: str
    state: IncidentState
    urgency: Urgency
    group_key: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by_id: int | None
    resolved_at: datetime | None
    resolved_by_id: int | None
    escalation_step: int
    escalation_loop: int
    next_escalation_at: datetime | None
    escalation_exhausted_at: datetime | None
    held_for_maintenance: bool
    ack_expires_at: datetime | None
    alert_count: int
    truncated_alerts: int
    last_alert_at: datetime | None


class AlertOut(OutputModel):
    id: int
    dedup_key: str
    status: str
    summary: str
    severity: str
    source: str
    details: Annotated[dict[str, Any], BeforeValidator(clamp_depth)] = Field(
        description="As the source sent them; levels past 64 read as a short note."
    )
    links: list[dict[str, str]]
    starts_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    seen_count: int


class AssigneeOut(OutputModel):
    user_id: int
    shadow: bool
    assigned_at: datetime


class EventOut(OutputModel):
    id: int
    at: datetime
    kind: str
    actor_user_id: int | None
    channel: str
    message: str
    data: dict[str, Any]


class NotificationOut(OutputModel):
    id: int
    page_id: int | None
    user_id: int | None
    kind: str
    contact_type: str
    address: str
    status: str
    due_at: datetime
    attempts: int
    provider: str | None
    provider_message_id: str | None
    last_error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    bundle_id: int | None


class IncidentDetail(IncidentOut):
    service_name: str
    escalation_policy: dict[str, Any] | None = Field(validation_alias="policy_snapshot")
    alerts: list[AlertOut]
    assignees: list[AssigneeOut]
    timeline: list[EventOut]


class IncidentCreate(InputModel):
    service_id: Id
    title: Line = Field(min_length=1, max_length=1024)
    urgency: Urgency = Urgency.HIGH
    details: Text = Field(default="", max_length=2000)


class ResolveBody(InputModel):
    note: Text = Field(default="", max_length=2000)


class ReassignBody(InputModel):
    user_id: Id
    note: Text = Field(default="", max_length=2000)


class NoteBody(InputModel):
    text: Text = Field(min_length=1, max_length=2000)


class UrgencyBody(InputModel):
    urgency: Urgency
