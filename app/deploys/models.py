from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, BigIntegerType, IntPK, JSONType, TimestampMixin, str_enum


class DeployStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"

    @property
    def finished(self) -> bool:
        return self is not DeployStatus.STARTED


class DeploySource(StrEnum):
    API = "api"
    CLI = "cli"
    PAGERDUTY = "pagerduty"  # a PagerDuty change event
    GITHUB = "github"  # a deployment_status webhook


class CauseVerdict(StrEnum):
    SUSPECTED = "suspected"  # an incident opened in the deploy's watch; nobody has judged it
    CONFIRMED = "confirmed"  # a responder said the deploy caused the incident
    REJECTED = "rejected"  # a responder said it did not


class Deployment(TimestampMixin, Base):
    """One deploy of a service to an environment, as a CI/CD system reported it."""

    __tablename__ = "deployments"
    __table_args__ = (
        # The deploy watch looks up a service's latest deploys when an incident opens.
        Index("ix_deployments_service_started", "service_id", "started_at"),
        UniqueConstraint("service_id", "external_id"),
    )

    id: Mapped[IntPK]
    service_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("services.id", ondelete="CASCADE")
    )
    environment: Mapped[str] = mapped_column(String(100), default="")
    version: Mapped[str] = mapped_column(String(200))
    # The version this deploy replaced (the latest earlier deploy of the service to the same
    # environment that did not fail): the rollback target a responder needs.
    previous_version: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(String(1024), default="")
    commit_sha: Mapped[str] = mapped_column(String(64), default="")
    # When the commit was made, where the sender knows it (the change lead time starts here).
    committed_at: Mapped[datetime | None]
    repository_url: Mapped[str] = mapped_column(String(2048), default="")
    deployer_user_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Who deployed as the sender named them (a CI login, a name); kept when no user matched.
    deployer_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[DeployStatus] = mapped_column(str_enum(DeployStatus, 16))
    source: Mapped[DeploySource] = mapped_column(str_enum(DeploySource, 16))
    # The sender's own id for this deploy: a repeat with the same id changes nothing.
    external_id: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    links: Mapped[list[dict[str, str]]] = mapped_column(JSONType, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Some incident in the watch window has not been judged yet.
    suspect: Mapped[bool] = mapped_column(default=False)
    # A responder confirmed it caused an incident (the change failure rate counts it).
    caused_incident: Mapped[bool] = mapped_column(default=False)


class IncidentDeploy(Base):
    """A deploy that was in its watch window when an incident opened, and what was judged."""

    __tablename__ = "incident_deploys"
    __table_args__ = (Index("ix_incident_deploys_deployment", "deployment_id"),)

    incident_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    deployment_id: Mapped[int] = mapped_column(
        BigIntegerType, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
    )
    linked_at: Mapped[datetime]
    minutes_after_deploy: Mapped[int]
    verdict: Mapped[CauseVerdict] = mapped_column(
        str_enum(CauseVerdict, 16), default=CauseVerdict.SUSPECTED
    )
    judged_at: Mapped[datetime | None]
    judged_by_id: Mapped[int | None] = mapped_column(
        BigIntegerType, ForeignKey("users.id", ondelete="SET NULL")
    )
