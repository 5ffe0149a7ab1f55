from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import Field, model_validator

from app.core import validation
from app.core.auth import Role, TeamRole
from app.core.schemas import (
    EmailAddress,
    Id,
    InputModel,
    Line,
    Name,
    OutputModel,
    PatchModel,
    Text,
    TimeZoneName,
)
from app.people.models import ContactType, TeamKind, Urgency

TeamName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w .-]*$")]


class UserCreate(InputModel):
    name: Name
    email: EmailAddress
    time_zone: TimeZoneName = "UTC"
    role: Role = Role.MEMBER


class UserUpdate(PatchModel):
    name: Name | None = None
    email: EmailAddress | None = None
    time_zone: TimeZoneName | None = None
    role: Role | None = None


class UserOut(OutputModel):
    id: int
    name: str
    email: str
    time_zone: str
    role: Role
    created_at: datetime
    updated_at: datetime


class WhoAmI(OutputModel):
    user_id: int
    role: Role
    team_ids: list[int]
    managed_team_ids: list[int]


class TeamCreate(InputModel):
    name: TeamName
    kind: TeamKind
    description: Text = Field(default="", max_length=2000)


class TeamUpdate(PatchModel):
    name: TeamName | None = None
    kind: TeamKind | None = None
    description: Text | None = Field(default=None, max_length=2000)


class MembershipOut(OutputModel):
    user_id: int
    team_id: int
    role: TeamRole


class TeamOut(OutputModel):
    id: int
    name: str
    kind: TeamKind
    description: str
    created_at: datetime
    updated_at: datetime


class TeamDetail(TeamOut):
    members: list[MembershipOut]


class MembershipCreate(InputModel):
    user_id: Id
    role: TeamRole = TeamRole.MEMBER


class MembershipUpdate(InputModel):
    role: TeamRole


def normalize_address(kind: ContactType, address: str) -> str:
    if kind in (ContactType.SMS, ContactType.VOICE):
        return validation.phone_e164(address)
    if kind is ContactType.EMAIL:
        return validation.email(address)
    if kind is ContactType.WEBHOOK:
        return validation.http_url(address)
    slack_id = address.strip()
    if not slack_id or slack_id[0] not in "UW" or not slack_id.isalnum():
        raise ValueError("a Slack contact is a Slack member id such as U0123ABCD")
    return slack_id


class ContactMethodCreate(InputModel):
    type: ContactType
    address: str = Field(min_length=1, max_length=2048)
    label: Line = Field(default="", max_length=100)

    @model_validator(mode="after")
    def _normalize(self) -> Self:
        self.address = normalize_address(self.type, self.address)
        return self


class ContactMethodUpdate(PatchModel):
    address: str | None = Field(default=None, min_length=1, max_length=2048)
    label: Line | None = Field(default=None, max_length=100)


class ContactMethodOut(OutputModel):
    id: int
    user_id: int
    type: ContactType
    address: str
    label: str
    verified: bool = Field(validation_alias="is_verified")
    verified_at: datetime | None
    pageable: bool = Field(validation_alias="is_pageable")
    disabled_at: datetime | None
    disabled_reason: str
    created_at: datetime


class VerificationSent(OutputModel):
    contact_method_id: int
    expires_at: datetime
    detail: str


class VerificationConfirm(InputModel):
    code: str = Field(min_length=4, max_length=10, pattern=r"^\d+$")


class NotificationRuleCreate(InputModel):
    contact_method_id: Id
    delay_minutes: int = Field(ge=0, le=1440)
    urgency: Urgency = Urgency.HIGH


class NotificationRuleOut(OutputModel):
    id: int
    user_id: int
    contact_method_id: int
    delay_minutes: int
    urgency: Urgency
    created_at: datetime


class TokenCreate(InputModel):
    name: Line = Field(min_length=1, max_length=100)
    expires_at: datetime | None = None
    user_id: Id | None = Field(
        default=None, description="Admins may create a token for another user."
    )


class TokenOut(OutputModel):
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="The secret. It is shown only in this answer; store it now.")
