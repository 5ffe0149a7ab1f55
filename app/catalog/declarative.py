"""``baton apply`` for services: owner team, escalation policy, support model, runbook, the
deploy watch. Deploys themselves are what CI/CD reports at run time, never configuration."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import history
from app.catalog.models import (
    DEFAULT_DEPLOY_WATCH_MINUTES,
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
    RunbookUrl,
    ServiceName,
    WatchedEnvironments,
)
from app.catalog.service import get_service_by_name
from app.core.declarative import Action, ApplyReport, UnknownReference, assign
from app.escalation.service import get_policy_by_name
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
            "config_managed": True,
        }
        service = await get_service_by_name(session, spec.name)
        if service is None:
            session.add(Service(**values))
            report.add(Action.CREATE, "service", spec.name)
        else:
            changed = assign(service, values)
            report.add(
                Action.UPDATE if changed else Action.UNCHANGED, "service", spec.name, changed
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
