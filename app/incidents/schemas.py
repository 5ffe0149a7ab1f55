from __future__ import annotations

import dataclasses
import functools
import operator
from datetime import datetime
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import BaseModel, BeforeValidator, Field, create_model

from app.core.jsondepth import clamp_depth
from app.core.schemas import Id, InputModel, Line, OutputModel, Text
from app.incidents import events
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
    nearby_deploy: dict[str, Any] | None = Field(
        default=None,
        description="The deploy the incident opened after: deployment_id, version, "
        "previous_version, environment, deployer_name, deployed_at, verdict.",
    )


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


def _event_model(cls: type[events.Event]) -> type[BaseModel]:
    """The API shape of one event kind, read off its dataclass: a new kind needs nothing here."""
    hints = get_type_hints(cls)
    definitions: dict[str, Any] = {"kind": (Literal[cls.kind.value], ...)}
    for f in dataclasses.fields(cls):
        options: dict[str, Any] = {}
        if f.default is not dataclasses.MISSING:
            options["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            options["default_factory"] = f.default_factory
        if events.json_key(f.name) != f.name:
            options["alias"] = events.json_key(f.name)
        definitions[f.name] = (hints[f.name], Field(**options))
    # A dataclass without a docstring gets its signature as one: no use to API readers.
    doc = cls.__doc__ if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}(") else None
    return create_model(f"{cls.__name__}Event", __doc__=doc, __base__=OutputModel, **definitions)


TypedEvent = Annotated[
    functools.reduce(operator.or_, [_event_model(c) for c in events.registered().values()]),
    Field(discriminator="kind"),
]


class EventOut(OutputModel):
    id: int
    at: datetime
    kind: str
    actor_user_id: int | None
    channel: str
    message: str = Field(description="The event in words, rendered when read.")
    data: dict[str, Any] = Field(
        description='The stored payload: the event\'s fields, with the payload version as "v".'
    )
    event: TypedEvent | None = Field(
        description="The typed event (its kind and fields); null for a row written before events "
        "were typed that the migration could not read."
    )


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
