"""API shapes of the Slack app: a schedule's announcement settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Self

from pydantic import Field, model_validator

from app.core.schemas import InputModel, OutputModel

CHANNEL_ID = r"^[CG][A-Z0-9]{6,30}$"
USERGROUP_ID = r"^S[A-Z0-9]{6,30}$"
WALL_TIME = r"^([01]\d|2[0-3]):[0-5]\d$"


class AnnouncementIn(InputModel):
    channel_id: str | None = Field(
        default=None,
        pattern=CHANNEL_ID,
        description="Channel id (C… or G…) to post in; invite the Baton bot there.",
    )
    on_change: bool = Field(default=True, description="Post when the on-call people change.")
    daily_at: str | None = Field(
        default=None,
        pattern=WALL_TIME,
        description="Post who is on call every day at this time of the schedule's zone (HH:MM).",
    )
    usergroup_id: str | None = Field(
        default=None,
        pattern=USERGROUP_ID,
        description="Slack user group (S…) whose members Baton keeps equal to the responders.",
    )
    set_topic: bool = Field(
        default=False, description="Keep the channel topic saying who is on call."
    )

    @model_validator(mode="after")
    def _needs_a_destination(self) -> Self:
        if self.channel_id is None and (self.on_change or self.daily_at or self.set_topic):
            raise ValueError("channel_id is needed to post or to set the topic")
        if self.channel_id is None and self.usergroup_id is None:
            raise ValueError("give a channel_id, a usergroup_id, or both")
        return self


class AnnouncementOut(OutputModel):
    schedule_id: int
    configured: bool
    channel_id: str | None = None
    on_change: bool = False
    daily_at: str | None = None
    usergroup_id: str | None = None
    set_topic: bool = False
    announced_responders: list[int] | None = Field(
        default=None, description="The responders the engine last announced (user ids)."
    )
    announced_at: datetime | None = None
    daily_posted_on: date | None = None
    usergroup_members: list[str] | None = Field(
        default=None, description="The Slack user ids Baton last put in the user group."
    )
    topic: str | None = None
    last_error: str = ""
