from __future__ import annotations

from datetime import datetime
from typing import Self

from pydantic import Field, model_validator

from app.core import validation
from app.core.schemas import Id, InputModel, Name, OutputModel, PatchModel, Text
from app.escalation.models import TargetKind


class TargetIn(InputModel):
    kind: TargetKind
    user_id: Id | None = None
    schedule_id: Id | None = None
    address: str | None = Field(default=None, max_length=2048)

    @model_validator(mode="after")
    def _one_reference(self) -> Self:
        needed = {
            TargetKind.USER: "user_id",
            TargetKind.SCHEDULE: "schedule_id",
            TargetKind.SLACK_CHANNEL: "address",
            TargetKind.WEBHOOK: "address",
        }[self.kind]
        for name in ("user_id", "schedule_id", "address"):
            value = getattr(self, name)
            if name == needed and value is None:
                raise ValueError(f"a {self.kind} target needs {name}")
            if name != needed and value is not None:
                raise ValueError(f"a {self.kind} target takes {needed}, not {name}")
        if self.kind is TargetKind.WEBHOOK and self.address is not None:
            self.address = validation.http_url(self.address)
        if self.kind is TargetKind.SLACK_CHANNEL and self.address is not None:
            channel = self.address.lstrip("#")
            if not channel or not channel.replace("-", "").replace("_", "").isalnum():
                raise ValueError("a Slack channel is an id like C0123ABCD or a name")
            self.address = channel
        return self


class StepIn(InputModel):
    delay_minutes: int = Field(
        ge=1, le=1440, description="Minutes to wait for an acknowledgement before the next step."
    )
    targets: list[TargetIn] = Field(min_length=1, max_length=50)


class PolicyCreate(InputModel):
    name: Name
    team_id: Id
    description: Text = Field(default="", max_length=2000)
    repeat: int = Field(default=0, ge=0, le=9, description="Extra passes over the ladder.")
    steps: list[StepIn] = Field(min_length=1, max_length=20)


class PolicyUpdate(PatchModel):
    name: Name | None = None
    team_id: Id | None = None
    description: Text | None = Field(default=None, max_length=2000)
    repeat: int | None = Field(default=None, ge=0, le=9)
    steps: list[StepIn] | None = Field(default=None, min_length=1, max_length=20)


class TargetOut(OutputModel):
    kind: TargetKind
    user_id: int | None
    schedule_id: int | None
    address: str | None


class StepOut(OutputModel):
    position: int
    delay_minutes: int
    targets: list[TargetOut]


class PolicyOut(OutputModel):
    id: int
    name: str
    team_id: int
    description: str
    repeat: int
    steps: list[StepOut]
    created_at: datetime
    updated_at: datetime
