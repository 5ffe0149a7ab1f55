from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from app.catalog.models import (
    DEFAULT_DEPLOY_WATCH_MINUTES,
    DEFAULT_REVIEW_AFTER_MINUTES,
    DEFAULT_REVIEW_NUDGE_DAYS,
    DeployerNotice,
    SupportModel,
    UrgencyRule,
)
from app.core import validation
from app.core.schemas import (
    EARLIEST_INSTANT,
    INSTANT_LIMIT,
    Id,
    InputModel,
    OutputModel,
    PatchModel,
    Text,
)

ServiceName = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][\w .:/-]*$")
]
RunbookUrl = Annotated[str, AfterValidator(lambda v: validation.http_url(v) if v else v)]
Labels = Annotated[dict[str, str], Field(max_length=50)]
# An instant in the years the calendar maths can handle; a missing offset is refused below,
# with an example.
Moment = Annotated[datetime, Field(ge=EARLIEST_INSTANT, lt=INSTANT_LIMIT)]
FallbackEmail = Annotated[str, AfterValidator(lambda v: validation.email(v) if v else v)]
FallbackChannel = Annotated[
    str, Field(max_length=80), AfterValidator(lambda v: validation.slack_channel(v) if v else v)
]
# A day at most: a longer watch would pin every incident of a busy service on some deploy.
DeployWatchMinutes = Annotated[int, Field(ge=0, le=1440)]
WatchedEnvironment = Annotated[
    str, Field(min_length=1, max_length=100), AfterValidator(validation.plain_line)
]


# The review policy: at most a week; nudges between a day and about a quarter after resolution.
ReviewAfterMinutes = Annotated[int, Field(ge=0, le=10080)]
ReviewNudgeDays = Annotated[int, Field(ge=1, le=90)]


def _distinct(environments: list[str]) -> list[str]:
    return list(dict.fromkeys(environments))


# The environments whose deploys the watch counts (empty: every environment).
WatchedEnvironments = Annotated[
    list[WatchedEnvironment], Field(max_length=20), AfterValidator(_distinct)
]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    for key, value in labels.items():
        if not key or len(key) > 100 or len(value) > 500:
            raise ValueError("label keys are 1-100 characters and values at most 500")
        validation.plain_line(key)
        validation.plain_line(value)
    return labels


class ServiceCreate(InputModel):
    name: ServiceName
    team_id: Id
    escalation_policy_id: Id | None = None
    description: Text = Field(default="", max_length=2000)
    support_model: SupportModel = SupportModel.DEV
    runbook_url: RunbookUrl = ""
    labels: Annotated[Labels, AfterValidator(_check_labels)] = Field(default_factory=dict)
    urgency_rule: UrgencyRule = UrgencyRule.HIGH
    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=10080)
    fallback_email: FallbackEmail = ""
    fallback_slack_channel: FallbackChannel = ""
    deploy_watch_minutes: DeployWatchMinutes = DEFAULT_DEPLOY_WATCH_MINUTES
    deployer_notice: DeployerNotice = DeployerNotice.NOTIFY
    deploy_watch_environments: WatchedEnvironments = Field(default_factory=list)
    review_after_minutes: ReviewAfterMinutes = DEFAULT_REVIEW_AFTER_MINUTES
    review_nudge_days: ReviewNudgeDays = DEFAULT_REVIEW_NUDGE_DAYS
    ops_team_id: Id | None = None
    handback_on_silence: bool = False


class ServiceUpdate(PatchModel):
    nullable = frozenset({"ack_timeout_minutes", "escalation_policy_id", "ops_team_id"})

    name: ServiceName | None = None
    team_id: Id | None = None
    escalation_policy_id: Id | None = None
    description: Text | None = Field(default=None, max_length=2000)
    support_model: SupportModel | None = None
    runbook_url: RunbookUrl | None = None
    labels: Annotated[Labels, AfterValidator(_check_labels)] | None = None
    urgency_rule: UrgencyRule | None = None
    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=10080)
    fallback_email: FallbackEmail | None = None
    fallback_slack_channel: FallbackChannel | None = None
    deploy_watch_minutes: DeployWatchMinutes | None = None
    deployer_notice: DeployerNotice | None = None
    deploy_watch_environments: WatchedEnvironments | None = None
    review_after_minutes: ReviewAfterMinutes | None = None
    review_nudge_days: ReviewNudgeDays | None = None
    ops_team_id: Id | None = None
    handback_on_silence: bool | None = None


class ServiceOut(OutputModel):
    id: int
    name: str
    team_id: int
    escalation_policy_id: int | None
    description: str
    support_model: SupportModel
    runbook_url: str
    labels: dict[str, str]
    urgency_rule: UrgencyRule
    ack_timeout_minutes: int | None
    fallback_email: str = Field(
        description="Told when escalation runs out with nobody acknowledging (empty: global)."
    )
    fallback_slack_channel: str
    deploy_watch_minutes: int = Field(
        description="An incident opening while a deploy runs, or this many minutes after it "
        "finished, names the deploy (0: only while it runs)."
    )
    deployer_notice: DeployerNotice = Field(
        description="What the deployer hears of such an incident: off, notify (an FYI) or page."
    )
    deploy_watch_environments: list[str] = Field(
        description="Only deploys to these environments are watched (empty: all)."
    )
    review_after_minutes: int = Field(
        default=DEFAULT_REVIEW_AFTER_MINUTES,
        description="A review is owed for high-urgency incidents open longer than this (and "
        "for every incident linked to a deploy).",
    )
    review_nudge_days: int = Field(
        default=DEFAULT_REVIEW_NUDGE_DAYS,
        description="The owner of a review still owed is nudged this many days after the "
        "incident resolved.",
    )
    ops_team_id: int | None = Field(
        default=None,
        description="The Ops team that supports it, or would take it on (while handed back: "
        "its consultants).",
    )
    support_since: datetime | None = Field(
        default=None, description="When the current support model began (null: at creation)."
    )
    developer_policy_id: int | None = Field(
        default=None,
        description="The developers' escalation policy, kept while Ops supports it.",
    )
    handback_on_silence: bool = Field(
        default=False,
        description="A handback proposal left unanswered past its grace period moves it back.",
    )
    in_maintenance: bool = False
    created_at: datetime
    updated_at: datetime


class MaintenanceCreate(InputModel):
    starts_at: Moment | None = Field(default=None, description="Default: now.")
    ends_at: Moment
    reason: Text = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _aware(self) -> Self:
        for name in ("starts_at", "ends_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} needs a time zone offset, e.g. 2026-03-14T09:00:00Z")
        return self


class MaintenanceOut(OutputModel):
    id: int
    service_id: int
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by_id: int | None
    created_at: datetime
