from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

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
# The weekly digest: a weekday (0 = Monday) and a wall time in the team's zone.
DigestWeekday = Annotated[int, Field(ge=0, le=6)]
DigestTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
DigestChannel = Annotated[
    str, Field(max_length=80), AfterValidator(lambda v: validation.slack_channel(v) if v else v)
]
DigestEmail = Annotated[
    str, Field(max_length=320), AfterValidator(lambda v: validation.email(v) if v else v)
]


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
    time_zone: TimeZoneName = "UTC"
    digest_weekday: DigestWeekday = 0
    digest_time: DigestTime = "09:00"
    digest_slack_channel: DigestChannel = ""
    digest_email: DigestEmail = ""
    digest_enabled: bool = True
    slack_channel: DigestChannel = ""


class TeamUpdate(PatchModel):
    name: TeamName | None = None
    kind: TeamKind | None = None
    description: Text | None = Field(default=None, max_length=2000)
    time_zone: TimeZoneName | None = None
    digest_weekday: DigestWeekday | None = None
    digest_time: DigestTime | None = None
    digest_slack_channel: DigestChannel | None = None
    digest_email: DigestEmail | None = None
    digest_enabled: bool | None = None
    slack_channel: DigestChannel | None = None


class MembershipOut(OutputModel):
    user_id: int
    team_id: int
    role: TeamRole


class TeamOut(OutputModel):
    id: int
    name: str
    kind: TeamKind
    description: str
    time_zone: str = Field(default="UTC", description="The team's zone: its weekly digest's.")
    digest_weekday: int = Field(default=0, description="The digest's weekday, 0 = Monday.")
    digest_time: str = Field(default="09:00", description="The digest's wall time, HH:MM.")
    digest_slack_channel: str = ""
    digest_email: str = ""
    digest_enabled: bool = True
    slack_channel: str = Field(
        default="", description="Hand-over and handback posts (empty: the digest's channel)."
    )
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
