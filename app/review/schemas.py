from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from app.core import validation
from app.core.schemas import Day, Id, InputModel, OutputModel, PatchModel
from app.review.models import TEXT_LIMIT, ActionStatus, ReviewState, Severity

# Markdown the responder writes: kept as written (only control and bidi characters refused).
ReviewText = Annotated[str, Field(max_length=TEXT_LIMIT), AfterValidator(validation.plain_text)]
Title = Annotated[
    str,
    Field(min_length=1, max_length=500),
    AfterValidator(validation.plain_line),
    AfterValidator(validation.non_blank),
]
TrackerUrl = Annotated[
    str, Field(max_length=2048), AfterValidator(lambda v: validation.http_url(v) if v else v)
]


class ReviewUpdate(PatchModel):
    nullable = frozenset({"owner_id"})

    severity: Severity | None = None
    summary: ReviewText | None = None
    customer_impact: ReviewText | None = None
    root_cause: ReviewText | None = None
    contributing_factors: ReviewText | None = None
    went_well: ReviewText | None = None
    went_badly: ReviewText | None = None
    lessons: ReviewText | None = None
    owner_id: Id | None = None


class StateChange(InputModel):
    state: ReviewState


class ActionItemCreate(InputModel):
    title: Title
    owner_id: Id | None = None
    due_date: Day | None = Field(
        default=None, description="A day in the past is accepted, and flagged as past due."
    )
    tracker_url: TrackerUrl = ""


class ActionItemUpdate(PatchModel):
    nullable = frozenset({"owner_id", "due_date"})

    title: Title | None = None
    owner_id: Id | None = None
    due_date: Day | None = None
    status: ActionStatus | None = None
    tracker_url: TrackerUrl | None = None


class ActionItemOut(OutputModel):
    id: int
    review_id: int
    incident_id: int
    title: str
    owner_id: int | None
    due_date: date | None
    status: ActionStatus
    tracker_url: str
    past_due: bool = Field(description="Open, and its due date is before today (UTC).")
    completed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ReviewOut(OutputModel):
    id: int
    incident_id: int
    state: ReviewState
    severity: Severity
    summary: str
    customer_impact: str
    root_cause: str
    contributing_factors: str
    went_well: str
    went_badly: str
    lessons: str
    owner_id: int | None
    published_at: datetime | None
    published_by_id: int | None
    nudged_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TimelineEntryOut(OutputModel):
    at: datetime
    kind: str
    text: str
    by: str
    channel: str


class DeployNearbyOut(OutputModel):
    deployment_id: int
    version: str
    previous_version: str
    environment: str
    deployer: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    commit_sha: str
    minutes_after_deploy: int
    verdict: str = Field(description="suspected, confirmed (the cause) or rejected.")


class ReviewDocumentOut(OutputModel):
    """A review with everything its page shows: the incident's whole timeline folded."""

    review: ReviewOut
    incident: dict[str, Any] = Field(description="id, title, service, urgency, state, times.")
    started_at: datetime | None = Field(description="The first alert, else the opening.")
    seconds_to_acknowledge: int | None
    seconds_to_resolve: int | None
    timeline: list[TimelineEntryOut]
    pages: list[dict[str, Any]] = Field(description="Who was paged when, through which channel.")
    notifications: list[dict[str, Any]]
    acknowledgements: list[dict[str, Any]]
    escalations: list[dict[str, Any]]
    reassignments: list[dict[str, Any]]
    resolution: dict[str, Any] | None
    alerts: list[dict[str, Any]] = Field(description="The alerts and their labels.")
    deploys: list[DeployNearbyOut]
    notes: list[dict[str, Any]]
    action_items: list[ActionItemOut]


class ReviewListItem(OutputModel):
    """A review, or (``missing=true``) an incident whose service's policy says it needs a
    review that is not published yet."""

    incident_id: int
    incident_title: str
    service_id: int
    service_name: str
    team_id: int
    resolved_at: datetime | None
    review_id: int | None
    state: ReviewState | None = Field(description="None: no draft yet.")
    severity: Severity
    owner_id: int | None
    updated_at: datetime | None
    published_at: datetime | None
    owed: bool = Field(description="The service's review policy asks for this review.")
    why: list[str] = Field(description="Why it is owed, in words.")
    nudge_due_at: datetime | None = Field(description="When its owner is (or was) nudged.")
    nudged_at: datetime | None
