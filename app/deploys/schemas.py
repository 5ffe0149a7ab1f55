from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, model_validator

from app.core import validation
from app.core.schemas import Id, InputModel, Instant, Line, OutputModel, PatchModel
from app.deploys.models import CauseVerdict, DeploySource, DeployStatus
from app.deploys.watch import Verdict

Version = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(validation.plain_line)]
Environment = Annotated[str, Field(max_length=100), AfterValidator(validation.plain_line)]
CommitSha = Annotated[str, Field(max_length=64, pattern=r"^[0-9A-Fa-f]*$")]
HttpUrl = Annotated[str, AfterValidator(lambda v: validation.http_url(v) if v else v)]
DETAILS_KEYS = 100


def _plain_json(value: Any) -> Any:
    """Free-form details follow the API's rule for text: control and bidi characters are
    refused, in keys and values alike (depth was bounded before parsing); numbers are finite,
    as JSON's are (Python's parser takes NaN and reads 1e400 as infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers in details must be finite (no NaN or Infinity)")
    if isinstance(value, str):
        return validation.plain_text(value)
    if isinstance(value, dict):
        return {validation.plain_line(str(k)): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value


Details = Annotated[dict[str, Any], Field(max_length=DETAILS_KEYS), AfterValidator(_plain_json)]


@dataclass(frozen=True)
class DeployReport:
    """A deploy as any sender reported it (the API, a PagerDuty change event, GitHub, the CLI),
    before it is matched to a user and stored."""

    version: str
    status: DeployStatus = DeployStatus.SUCCEEDED
    environment: str = ""
    # The version this replaced, as the sender knows it: used when Baton knows no earlier one.
    previous_version: str = ""
    summary: str = ""
    commit_sha: str = ""
    committed_at: datetime | None = None
    repository_url: str = ""
    deployer: str = ""  # a Baton user's e-mail, or whatever the sender calls them
    started_at: datetime | None = None  # None: when Baton received it
    finished_at: datetime | None = None  # None for an outcome: when Baton received it
    links: tuple[dict[str, str], ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    external_id: str | None = None


class Link(InputModel):
    href: Annotated[str, AfterValidator(validation.http_url)]
    text: Line = Field(default="", max_length=200)


class DeploymentCreate(InputModel):
    service: Annotated[str, Field(min_length=1, max_length=200)] | Id | None = Field(
        default=None,
        description="The service's id or name (with an integration key: optional, the key's).",
    )
    version: Version
    environment: Environment = ""
    previous_version: Annotated[
        str, Field(max_length=200), AfterValidator(validation.plain_line)
    ] = Field(default="", description="The version this replaced, if Baton has not seen it.")
    status: DeployStatus = DeployStatus.SUCCEEDED
    summary: Line = Field(default="", max_length=1024)
    commit_sha: CommitSha = ""
    committed_at: Instant | None = None
    repository_url: HttpUrl = ""
    deployer: Line = Field(
        default="", max_length=200, description="A Baton user's e-mail, or free text."
    )
    started_at: Instant | None = None
    finished_at: Instant | None = None
    links: list[Link] = Field(default_factory=list, max_length=20)
    details: Details = Field(default_factory=dict)
    external_id: Line | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="The sender's id for this deploy: sending it again changes nothing.",
    )

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.started_at and self.finished_at and self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        if self.status is DeployStatus.STARTED and self.finished_at is not None:
            raise ValueError("a deploy that has only started has no finished_at")
        return self

    def report(self) -> DeployReport:
        return DeployReport(
            version=self.version,
            status=self.status,
            environment=self.environment,
            previous_version=self.previous_version,
            summary=self.summary,
            commit_sha=self.commit_sha.lower(),
            committed_at=self.committed_at,
            repository_url=self.repository_url,
            deployer=self.deployer,
            started_at=self.started_at,
            finished_at=self.finished_at,
            links=tuple({"href": link.href, "text": link.text} for link in self.links),
            details=self.details,
            external_id=self.external_id,
        )


class DeploymentOutcome(PatchModel):
    status: DeployStatus
    finished_at: Instant | None = None


class IncidentLink(OutputModel):
    incident_id: int
    title: str
    state: str
    opened_at: datetime
    resolved_at: datetime | None
    minutes_after_deploy: int
    verdict: CauseVerdict
    judged_at: datetime | None
    judged_by_id: int | None


class DeploymentOut(OutputModel):
    id: int
    service_id: int
    service_name: str
    environment: str
    version: str
    previous_version: str
    summary: str
    commit_sha: str
    committed_at: datetime | None
    repository_url: str
    deployer_user_id: int | None
    deployer_name: str
    status: DeployStatus
    source: DeploySource
    external_id: str | None
    started_at: datetime
    finished_at: datetime | None
    watched_until: datetime
    links: list[dict[str, str]]
    details: dict[str, Any]
    suspect: bool
    caused_incident: bool
    created_at: datetime


class IncidentDeployOut(DeploymentOut):
    minutes_after_deploy: int
    verdict: CauseVerdict
    judged_at: datetime | None
    judged_by_id: int | None


class VerdictOut(OutputModel):
    deployment_id: int
    verdict: Verdict
    watching: bool = Field(description="The watch window is still open: the verdict may change.")
    watched_until: datetime
    failed_change: bool = Field(
        description="Counted as a failed change: confirmed as a cause, or reported failed."
    )
    recovered_at: datetime | None = Field(
        description="Failed changes: when service was restored (incidents resolved, or a later "
        "successful deploy)."
    )
    incidents: list[IncidentLink]


class Judgement(InputModel):
    note: Line = Field(default="", max_length=1000)
