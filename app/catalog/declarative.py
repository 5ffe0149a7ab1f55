"""``baton apply`` for services: owner team, escalation policy, support model, runbook, the
deploy watch, the review policy, the Ops team. Deploys themselves are what CI/CD reports at run
time, never configuration."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import history
from app.catalog.models import (
    DEFAULT_DEPLOY_WATCH_MINUTES,
    DEFAULT_REVIEW_AFTER_MINUTES,
    DEFAULT_REVIEW_NUDGE_DAYS,
    DeployerNotice,
    Service,
    SupportModel,
    UrgencyRule,
)
from app.catalog.schemas import (
    DeployWatchMinutes,
    FallbackChannel,
    FallbackEmail,
    Labels,
    ReviewAfterMinutes,
    ReviewNudgeDays,
    RunbookUrl,
    ServiceName,
    WatchedEnvironments,
)
from app.catalog.service import get_service_by_name
from app.core.db import session_clock
from app.core.declarative import Action, ApplyReport, UnknownReference, assign
from app.escalation.service import get_policy_by_name
from app.people.models import TeamKind
from app.people.service import get_team_by_name


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: ServiceName
    team: str
    escalation_policy: str | None = None
    description: str = Field(default="", max_length=2000)
    support_model: SupportModel = SupportModel.DEV
    runbook_url: RunbookUrl = ""
    labels: Labels = Field(default_factory=dict)
    urgency_rule: UrgencyRule = UrgencyRule.HIGH
    ack_timeout_minutes: int | None = Field(default=None, ge=1, le=10080)
    fallback_email: FallbackEmail = ""
    fallback_slack_channel: FallbackChannel = ""
    deploy_watch_minutes: DeployWatchMinutes = DEFAULT_DEPLOY_WATCH_MINUTES
    deployer_notice: DeployerNotice = DeployerNotice.NOTIFY
    deploy_watch_environments: WatchedEnvironments = Field(default_factory=list)
    review_after_minutes: ReviewAfterMinutes = DEFAULT_REVIEW_AFTER_MINUTES
    review_nudge_days: ReviewNudgeDays = DEFAULT_REVIEW_NUDGE_DAYS
    # Left out: kept as it is, since a hand-over request names the Ops team too; null clears it.
    ops_team: str | None = None
    handback_on_silence: bool = False

    @field_validator("deployer_notice", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads an unquoted `off` as false; the file meant the notice called off.
        return DeployerNotice.OFF if value is False else value


class CatalogSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: list[ServiceSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_services(self) -> Self:
        names = [s.name.lower() for s in self.services]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"services listed twice: {', '.join(dupes)}")
        return self


async def apply_catalog(
    session: AsyncSession, section: CatalogSection, report: ApplyReport, *, prune: bool
) -> None:
    seen = set()
    for spec in section.services:
        seen.add(spec.name.lower())
        team = await get_team_by_name(session, spec.team)
        if team is None:
            raise UnknownReference(f"service {spec.name}: team {spec.team} is unknown")
        policy_id = None
        if spec.escalation_policy:
            policy = await get_policy_by_name(session, spec.escalation_policy)
            if policy is None:
                raise UnknownReference(
                    f"service {spec.name}: escalation policy {spec.escalation_policy} is unknown"
                )
            policy_id = policy.id
        service = await get_service_by_name(session, spec.name)
        values = {
            "name": spec.name,
            "team_id": team.id,
            "escalation_policy_id": policy_id,
            "description": spec.description,
            "support_model": spec.support_model,
            "runbook_url": spec.runbook_url,
            "labels": spec.labels,
            "urgency_rule": spec.urgency_rule,
            "ack_timeout_minutes": spec.ack_timeout_minutes,
            "fallback_email": spec.fallback_email,
            "fallback_slack_channel": spec.fallback_slack_channel,
            "deploy_watch_minutes": spec.deploy_watch_minutes,
            "deployer_notice": spec.deployer_notice,
            "deploy_watch_environments": spec.deploy_watch_environments,
            "review_after_minutes": spec.review_after_minutes,
            "review_nudge_days": spec.review_nudge_days,
            "handback_on_silence": spec.handback_on_silence,
            "config_managed": True,
        }
        if "ops_team" in spec.model_fields_set:
            values["ops_team_id"] = await _ops_team_id(session, spec)
        notes: tuple[str, ...] = ()
        if service is not None and _handed_over_since_the_file(service, spec):
            # Ops took it on through a hand-over the file does not know of yet: re-applying the
            # file must not quietly undo that (the hand-back is how it goes back, on record).
            for name in ("support_model", "escalation_policy_id", "ops_team_id"):
                values.pop(name, None)
            notes = ("supported by Ops since a hand-over; support and policy kept",)
        if service is None:
            session.add(Service(**values))
            report.add(Action.CREATE, "service", spec.name)
        else:
            support_before = service.support_model
            changed = assign(service, values)
            if service.support_model is not support_before:
                # The readiness checklist counts the developers' time from here.
                service.support_since = session_clock(session).now()
            report.add(
                Action.UPDATE if changed else Action.UNCHANGED,
                "service",
                spec.name,
                changed + notes,
            )
    await session.flush()
    for service in await session.scalars(select(Service).where(Service.config_managed.is_(True))):
        if service.name.lower() in seen:
            continue
        has_history = await history.incident_count(session, service.id)
        if prune and not has_history:
            await session.delete(service)
            report.add(Action.DELETE, "service", service.name)
        else:
            # A service with incidents keeps its history; it is never pruned.
            report.add(
                Action.STALE,
                "service",
                service.name,
                ("has incidents, kept",) if has_history else (),
            )


async def _ops_team_id(session: AsyncSession, spec: ServiceSpec) -> int | None:
    if spec.ops_team is None:
        return None
    team = await get_team_by_name(session, spec.ops_team)
    if team is None:
        raise UnknownReference(f"service {spec.name}: ops_team {spec.ops_team} is unknown")
    if team.kind is not TeamKind.OPS:
        raise UnknownReference(
            f"service {spec.name}: ops_team {spec.ops_team} is a {team.kind} team, not an Ops team"
        )
    return team.id


def _handed_over_since_the_file(service: Service, spec: ServiceSpec) -> bool:
    """Ops supports the service after a hand-over (which keeps the developers' policy for the
    way back), while the file still says the developers do."""
    return (
        service.support_model is SupportModel.OPS
        and service.developer_policy_id is not None
        and spec.support_model is SupportModel.DEV
    )
