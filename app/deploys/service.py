"""Deploys: recording what senders report, the deploy watch, verdicts and judgements.

Every sender (the API, a PagerDuty change event, a GitHub webhook, ``baton deploy``) hands a
:class:`~app.deploys.schemas.DeployReport` to :func:`record`, in the caller's transaction. A
report with an external id the service has seen moves that deploy on (started to an outcome)
or changes nothing; a report never pages anyone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.catalog.models import DeployerNotice, Service
from app.core.auth import Principal
from app.core.db import session_clock
from app.core.errors import BatonError, Conflict, NotFound
from app.deploys import watch
from app.deploys.models import (
    CauseVerdict,
    Deployment,
    DeploySource,
    DeployStatus,
    IncidentDeploy,
)
from app.deploys.schemas import DeployReport
from app.incidents import decide
from app.incidents import service as incidents
from app.incidents.models import Incident
from app.people.models import User

_FAILED = (DeployStatus.FAILED, DeployStatus.ROLLED_BACK)
# What an outcome may follow: a deploy that succeeded can still be rolled back.
_MOVES = {
    DeployStatus.STARTED: {DeployStatus.SUCCEEDED, DeployStatus.FAILED, DeployStatus.ROLLED_BACK},
    DeployStatus.SUCCEEDED: {DeployStatus.ROLLED_BACK},
    DeployStatus.FAILED: {DeployStatus.ROLLED_BACK},
    DeployStatus.ROLLED_BACK: set(),
}


class FutureTimestamp(BatonError):
    status_code = 400
    code = "timestamp_in_future"


@dataclass(frozen=True)
class Recorded:
    deployment: Deployment
    created: bool
    changed: bool  # False: a repeat of what was already known


def watch_of(service: Service) -> timedelta:
    return timedelta(minutes=service.deploy_watch_minutes)


def deployed_at(deployment: Deployment) -> datetime:
    """When the change reached the environment, as far as Baton knows."""
    return deployment.finished_at or deployment.started_at


def reported_failed(deployment: Deployment) -> bool:
    return deployment.status in _FAILED


def verdict_of_row(deployment: Deployment) -> watch.Verdict:
    """The verdict from the flags the subscribers keep on the row (``suspect``: some incident
    not judged yet; ``caused_incident``: some confirmed): what :func:`verdict_of` answers,
    without its queries, for tables of deploys."""
    judgements = [
        *(["confirmed"] if deployment.caused_incident else []),
        *(["suspected"] if deployment.suspect else []),
    ]
    return watch.verdict(reported_failed=reported_failed(deployment), judgements=judgements)


def watched_until(deployment: Deployment, service: Service) -> datetime:
    return watch.Run(deployment.started_at, deployment.finished_at).watched_until(watch_of(service))


# -------------------------------------------------------------------------------- recording


async def _deployer(session: AsyncSession, said: str) -> tuple[int | None, str]:
    """A Baton user when ``said`` is one's e-mail (or exact name); else the words as given."""
    said = said.strip()
    if not said:
        return None, ""
    user = await session.scalar(
        select(User).where(or_(func.lower(User.email) == said.lower(), User.name == said))
    )
    return (user.id, user.name) if user is not None else (None, said[:200])


def _check_times(report: DeployReport, now: datetime) -> None:
    for name in ("started_at", "finished_at", "committed_at"):
        at = getattr(report, name)
        if at is not None and watch.is_in_future(at, now):
            raise FutureTimestamp(
                f"{name} {at.isoformat()} is more than a day ahead of Baton's clock",
                field=name,
            )


async def _previous_version(
    session: AsyncSession, service_id: int, environment: str, before: datetime
) -> str:
    version = await session.scalar(
        select(Deployment.version)
        .where(
            Deployment.service_id == service_id,
            Deployment.environment == environment,
            Deployment.started_at < before,
            Deployment.status.not_in(_FAILED),
        )
        .order_by(Deployment.started_at.desc(), Deployment.id.desc())
        .limit(1)
    )
    return version or ""


async def record(
    session: AsyncSession, service: Service, report: DeployReport, source: DeploySource
) -> Recorded:
    """Store ``report`` for ``service``: a new deploy, or the next state of one already known
    by its external id."""
    now = session_clock(session).now()
    _check_times(report, now)
    if report.external_id is not None:
        known = await _by_external_id(session, service.id, report.external_id)
        if known is not None:
            return Recorded(known, created=False, changed=_move_on(known, report, now))
    started = report.started_at or (
        report.finished_at if report.status.finished and report.finished_at else now
    )
    finished = None
    if report.status.finished:
        finished = max(report.finished_at or now, started)
    user_id, name = await _deployer(session, report.deployer)
    deployment = Deployment(
        service_id=service.id,
        environment=report.environment,
        version=report.version,
        previous_version=(
            await _previous_version(session, service.id, report.environment, started)
            or report.previous_version
        ),
        summary=report.summary,
        commit_sha=report.commit_sha,
        committed_at=report.committed_at,
        repository_url=report.repository_url,
        deployer_user_id=user_id,
        deployer_name=name,
        status=report.status,
        source=source,
        external_id=report.external_id,
        started_at=started,
        finished_at=finished,
        links=[dict(link) for link in report.links],
        details=dict(report.details),
        suspect=False,
        caused_incident=False,
    )
    try:
        async with session.begin_nested():
            session.add(deployment)
            await session.flush()
    except IntegrityError:
        # The same external id arrived twice at once: the other request stored it.
        assert report.external_id is not None
        known = await _by_external_id(session, service.id, report.external_id)
        if known is None:
            raise
        return Recorded(known, created=False, changed=_move_on(known, report, now))
    return Recorded(deployment, created=True, changed=True)


async def _by_external_id(
    session: AsyncSession, service_id: int, external_id: str
) -> Deployment | None:
    return await session.scalar(
        select(Deployment)
        .where(Deployment.service_id == service_id, Deployment.external_id == external_id)
        .with_for_update()
    )


def _move_on(deployment: Deployment, report: DeployReport, now: datetime) -> bool:
    """Apply a later report of the same deploy: only moves forward; a repeat changes nothing."""
    if report.status not in _MOVES[deployment.status]:
        return False
    deployment.status = report.status
    deployment.finished_at = max(report.finished_at or now, deployment.started_at)
    if report.commit_sha and not deployment.commit_sha:
        deployment.commit_sha = report.commit_sha
    for link in report.links:
        if link not in deployment.links:
            deployment.links = [*deployment.links, dict(link)]
    return True


async def set_outcome(
    session: AsyncSession,
    principal: Principal,
    deployment_id: int,
    status: DeployStatus,
    finished_at: datetime | None,
) -> Deployment:
    """``PATCH``: a started deploy succeeded, failed or was rolled back."""
    deployment, service = await get_with_service(session, deployment_id)
    principal.require_team_write(service.team_id, "this service's deploys")
    now = session_clock(session).now()
    if finished_at is not None and watch.is_in_future(finished_at, now):
        raise FutureTimestamp(
            f"finished_at {finished_at.isoformat()} is more than a day ahead of Baton's clock"
        )
    if status is deployment.status:
        return deployment
    if status not in _MOVES[deployment.status]:
        raise Conflict(
            f"a deploy that {deployment.status.value.replace('_', ' ')} cannot become "
            f"{status.value.replace('_', ' ')}",
            status=deployment.status.value,
        )
    if finished_at is not None and finished_at < deployment.started_at:
        raise Conflict("finished_at is before the deploy started")
    _move_on(
        deployment,
        DeployReport(version=deployment.version, status=status, finished_at=finished_at),
        now,
    )
    deployment.updated_at = now
    return deployment


# ---------------------------------------------------------------------------------- reading


async def get_with_service(session: AsyncSession, deployment_id: int) -> tuple[Deployment, Service]:
    row = (
        await session.execute(
            select(Deployment, Service)
            .join(Service, Service.id == Deployment.service_id)
            .where(Deployment.id == deployment_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"deploy {deployment_id} not found")
    return row[0], row[1]


@dataclass(frozen=True)
class DeployFilter:
    service_id: int | None = None
    team_id: int | None = None
    environment: str | None = None
    status: DeployStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    suspect_or_failed: bool = False


def filtered(stmt: Select[tuple[Deployment]], criteria: DeployFilter) -> Select[tuple[Deployment]]:
    if criteria.service_id is not None:
        stmt = stmt.where(Deployment.service_id == criteria.service_id)
    if criteria.team_id is not None:
        stmt = stmt.where(
            Deployment.service_id.in_(select(Service.id).where(Service.team_id == criteria.team_id))
        )
    if criteria.environment is not None:
        stmt = stmt.where(Deployment.environment == criteria.environment)
    if criteria.status is not None:
        stmt = stmt.where(Deployment.status == criteria.status)
    if criteria.since is not None:
        stmt = stmt.where(Deployment.started_at >= criteria.since)
    if criteria.until is not None:
        stmt = stmt.where(Deployment.started_at < criteria.until)
    if criteria.suspect_or_failed:
        stmt = stmt.where(
            or_(
                Deployment.suspect.is_(True),
                Deployment.caused_incident.is_(True),
                Deployment.status.in_(_FAILED),
            )
        )
    return stmt


async def services_by_id(
    session: AsyncSession, deployments: Sequence[Deployment]
) -> dict[int, Service]:
    ids = {d.service_id for d in deployments}
    if not ids:
        return {}
    rows = await session.scalars(select(Service).where(Service.id.in_(ids)))
    return {s.id: s for s in rows}


async def recent_for_service(
    session: AsyncSession, service_id: int, *, limit: int = 20
) -> Sequence[Deployment]:
    return (
        await session.scalars(
            select(Deployment)
            .where(Deployment.service_id == service_id)
            .order_by(Deployment.started_at.desc(), Deployment.id.desc())
            .limit(limit)
        )
    ).all()


@dataclass(frozen=True)
class LinkedIncident:
    link: IncidentDeploy
    incident: Incident


async def incidents_of(session: AsyncSession, deployment_id: int) -> list[LinkedIncident]:
    rows = await session.execute(
        select(IncidentDeploy, Incident)
        .join(Incident, Incident.id == IncidentDeploy.incident_id)
        .where(IncidentDeploy.deployment_id == deployment_id)
        .order_by(Incident.id)
    )
    return [LinkedIncident(link, incident) for link, incident in rows]


async def deploys_of_incident(
    session: AsyncSession, incident_id: int
) -> list[tuple[IncidentDeploy, Deployment]]:
    rows = await session.execute(
        select(IncidentDeploy, Deployment)
        .join(Deployment, Deployment.id == IncidentDeploy.deployment_id)
        .where(IncidentDeploy.incident_id == incident_id)
        .order_by(Deployment.started_at.desc())
    )
    return [(link, deployment) for link, deployment in rows]


@dataclass(frozen=True)
class VerdictReport:
    deployment: Deployment
    verdict: watch.Verdict
    watching: bool
    watched_until: datetime
    failed_change: bool
    recovered_at: datetime | None
    incidents: list[LinkedIncident]


async def verdict_of(session: AsyncSession, deployment_id: int) -> VerdictReport:
    """What the pager says of a deploy: clean, suspect or failed, and why."""
    deployment, service = await get_with_service(session, deployment_id)
    now = session_clock(session).now()
    linked = await incidents_of(session, deployment_id)
    failed = reported_failed(deployment)
    said = watch.verdict(
        reported_failed=failed, judgements=[item.link.verdict.value for item in linked]
    )
    until = watched_until(deployment, service)
    failed_change = failed or deployment.caused_incident
    recovered = None
    if failed_change:
        next_success = await session.scalar(
            select(func.min(func.coalesce(Deployment.finished_at, Deployment.started_at))).where(
                Deployment.service_id == deployment.service_id,
                Deployment.environment == deployment.environment,
                Deployment.started_at > deployment.started_at,
                Deployment.status == DeployStatus.SUCCEEDED,
            )
        )
        caused = [
            item.incident.resolved_at
            for item in linked
            if item.link.verdict is CauseVerdict.CONFIRMED
        ]
        if caused:
            recovered = watch.recovered_at(caused_resolved=caused, next_success_at=next_success)
        elif deployment.status is DeployStatus.ROLLED_BACK:
            recovered = deployment.finished_at  # the rollback itself restored service
        else:
            recovered = next_success
    return VerdictReport(
        deployment=deployment,
        verdict=said,
        watching=now <= until,
        watched_until=until,
        failed_change=failed_change,
        recovered_at=recovered,
        incidents=linked,
    )


# ------------------------------------------------------------------------ the deploy watch


async def nearby(
    session: AsyncSession, service: Service, at: datetime
) -> decide.DeployWatch | None:
    """The latest deploy of ``service`` whose watch ``at`` falls in (installed into
    ``incidents.service.NEARBY_DEPLOY``): one indexed query per new incident."""
    span = watch_of(service)
    values: dict[str, object] = {
        "service_id": service.id,
        "at": at,
        "earliest": watch.earliest_start_watching(at, span),
        "finished_since": at - span,
    }
    stmt = _NEARBY
    if service.deploy_watch_environments:
        stmt = _NEARBY_IN_ENVIRONMENTS
        values["environments"] = list(service.deploy_watch_environments)
    for deployment in (await session.scalars(stmt, values)).all():
        if not watch.Run(deployment.started_at, deployment.finished_at).watches(at, span):
            continue
        return decide.DeployWatch(
            deploy=decide.NearbyDeploy(
                deployment_id=deployment.id,
                version=deployment.version,
                deployed_at=deployed_at(deployment),
                previous_version=deployment.previous_version,
                environment=deployment.environment,
                deployer_user_id=deployment.deployer_user_id,
                deployer_name=deployment.deployer_name,
            ),
            deployer_notice=DeployerNotice(service.deployer_notice).value,
        )
    return None


# Built once: every batch of new incidents asks.
_NEARBY = (
    select(Deployment)
    .where(
        Deployment.service_id == bindparam("service_id"),
        Deployment.started_at <= bindparam("at"),
        Deployment.started_at >= bindparam("earliest"),
        or_(
            Deployment.finished_at.is_(None), Deployment.finished_at >= bindparam("finished_since")
        ),
    )
    .order_by(Deployment.started_at.desc(), Deployment.id.desc())
    .limit(5)
)
_NEARBY_IN_ENVIRONMENTS = _NEARBY.where(
    Deployment.environment.in_(bindparam("environments", expanding=True))
)


async def judge(
    session: AsyncSession,
    principal: Principal,
    incident_id: int,
    deployment_id: int,
    *,
    caused: bool,
    note: str = "",
) -> Incident:
    """A responder says the deploy caused the incident, or that it is not related."""
    return await incidents.judge_deploy(
        session, principal, incident_id, deployment_id, caused=caused, note=note
    )


async def resolve_service(session: AsyncSession, reference: int | str) -> Service:
    if isinstance(reference, int):
        return await catalog.get_service(session, reference)
    found = await catalog.get_service_by_name(session, reference)
    if found is None:
        raise NotFound(f"service {reference!r} not found")
    return found
