"""Deploys over HTTP: reporting them (API token or integration key), lists, verdicts, judging."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy import select

from app.catalog.models import Service
from app.core.auth import Principal, Reader, Writer, bearer_token, public_route
from app.core.authguard import Credential, auth_guard, source_address
from app.core.errors import Forbidden, InvalidInput, Unauthenticated
from app.core.hooks import Hook
from app.core.pagination import PageQuery, paginate
from app.core.schemas import Id, Instant, Page
from app.core.session import DbSession
from app.deploys import schemas, service
from app.deploys.models import Deployment, DeploySource, DeployStatus
from app.incidents import service as incidents
from app.incidents.schemas import IncidentOut
from app.people.service import TOKEN_PREFIX

router = APIRouter(tags=["deploys"])

# An integration key's service, for senders that hold a key rather than an API token (a CI
# system's secret): installed from app.integrations, which owns the keys. None: not a key.
IntegrationKeyService = Callable[[Request, str], Awaitable[int | None]]
INTEGRATION_KEY_SERVICE: Hook[IntegrationKeyService] = Hook("the service of an integration key")


@dataclass(frozen=True)
class Sender:
    """Who reports a deploy: a person's API token, or a service's integration key."""

    principal: Principal | None
    key_service_id: int | None
    source: DeploySource


async def _sender(request: Request, session: DbSession) -> Sender:
    token = bearer_token(request)
    if token is None:
        raise Unauthenticated("an API token or an integration key is required (bearer token)")
    guard, address = auth_guard(request), source_address(request)
    guard.check(address, Credential.API_TOKEN)
    cli = request.headers.get("user-agent", "").startswith("baton-cli")
    source = DeploySource.CLI if cli else DeploySource.API
    # Integration keys carry no prefix; API tokens do. A key is looked up before the request's
    # own transaction starts (on SQLite, a second writer would wait for it).
    if not token.startswith(f"{TOKEN_PREFIX}_"):
        service_id = await INTEGRATION_KEY_SERVICE.call(request, token)
        if service_id is not None:
            return Sender(None, service_id, source)
    principal = await request.app.state.resolve_token(session, token)
    if principal is None:
        guard.failed(address, Credential.API_TOKEN)
        raise Unauthenticated("the API token or integration key is unknown, expired or revoked")
    principal.require_write()
    request.state.principal = principal
    return Sender(principal, None, source)


SenderDep = Annotated[Sender, Depends(_sender)]


async def _service_for(session: DbSession, sender: Sender, reference: int | str | None) -> Service:
    if sender.key_service_id is not None:
        own = await service.resolve_service(session, sender.key_service_id)
        if reference is not None and reference not in (own.id, own.name):
            raise Forbidden("an integration key reports deploys of its own service only")
        return own
    if reference is None:
        raise InvalidInput("name the service (its id or name)", field="body.service")
    found = await service.resolve_service(session, reference)
    assert sender.principal is not None
    sender.principal.require_team_write(found.team_id, "this service's deploys")
    return found


def out(deployment: Deployment, owner: Service) -> schemas.DeploymentOut:
    return schemas.DeploymentOut(
        id=deployment.id,
        service_id=deployment.service_id,
        service_name=owner.name,
        environment=deployment.environment,
        version=deployment.version,
        previous_version=deployment.previous_version,
        summary=deployment.summary,
        commit_sha=deployment.commit_sha,
        committed_at=deployment.committed_at,
        repository_url=deployment.repository_url,
        deployer_user_id=deployment.deployer_user_id,
        deployer_name=deployment.deployer_name,
        status=deployment.status,
        source=deployment.source,
        external_id=deployment.external_id,
        started_at=deployment.started_at,
        finished_at=deployment.finished_at,
        watched_until=service.watched_until(deployment, owner),
        links=list(deployment.links),
        details=dict(deployment.details),
        suspect=deployment.suspect,
        caused_incident=deployment.caused_incident,
        created_at=deployment.created_at,
    )


@router.post(
    "/api/v1/deployments",
    response_model=schemas.DeploymentOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "A repeat of a deploy already known by its external id."}},
    openapi_extra=public_route("api-token-or-integration-key"),
)
async def report_deployment(
    session: DbSession, sender: SenderDep, body: schemas.DeploymentCreate, response: Response
) -> schemas.DeploymentOut:
    """Report a deploy (API token with write access to the service's team, or an integration
    key of the service). Sending the same ``external_id`` again changes nothing; a started
    deploy reported again with its outcome moves on. Never pages anyone."""
    owner = await _service_for(session, sender, body.service)
    recorded = await service.record(session, owner, body.report(), sender.source)
    if not recorded.created:
        response.status_code = status.HTTP_200_OK
    return out(recorded.deployment, owner)


@router.patch("/api/v1/deployments/{deployment_id}", response_model=schemas.DeploymentOut)
async def finish_deployment(
    session: DbSession, principal: Writer, deployment_id: Id, body: schemas.DeploymentOutcome
) -> schemas.DeploymentOut:
    """Move a started deploy to its outcome (or a finished one to rolled back)."""
    deployment = await service.set_outcome(
        session, principal, deployment_id, body.status, body.finished_at
    )
    owner = await service.resolve_service(session, deployment.service_id)
    return out(deployment, owner)


@router.get("/api/v1/deployments", response_model=Page[schemas.DeploymentOut])
async def list_deployments(
    session: DbSession,
    _: Reader,
    page: PageQuery,
    service_id: Id | None = None,
    team_id: Id | None = None,
    environment: str | None = None,
    deploy_status: Annotated[DeployStatus | None, Query(alias="status")] = None,
    since: Instant | None = None,
    until: Instant | None = None,
) -> Page[schemas.DeploymentOut]:
    """Deploys, newest first, by service, team, environment, status and start time."""
    criteria = service.DeployFilter(
        service_id=service_id,
        team_id=team_id,
        environment=environment,
        status=deploy_status,
        since=since,
        until=until,
    )
    rows, cursor = await paginate(
        session,
        service.filtered(select(Deployment), criteria),
        Deployment.id,
        page,
        descending=True,
    )
    owners = await service.services_by_id(session, rows)
    return Page(items=[out(d, owners[d.service_id]) for d in rows], next_cursor=cursor)


@router.get("/api/v1/deployments/{deployment_id}", response_model=schemas.DeploymentOut)
async def get_deployment(session: DbSession, _: Reader, deployment_id: Id) -> schemas.DeploymentOut:
    deployment, owner = await service.get_with_service(session, deployment_id)
    return out(deployment, owner)


@router.get("/api/v1/deployments/{deployment_id}/verdict", response_model=schemas.VerdictOut)
async def deployment_verdict(
    session: DbSession, _: Reader, deployment_id: Id
) -> schemas.VerdictOut:
    """What the pager says of a deploy, for a pipeline's gate: ``clean``, ``suspect``
    (incidents opened in its watch, not judged yet) or ``failed`` (confirmed as a cause, or
    reported failed or rolled back). ``watching`` is true while more incidents can still count."""
    report = await service.verdict_of(session, deployment_id)
    return schemas.VerdictOut(
        deployment_id=report.deployment.id,
        verdict=report.verdict,
        watching=report.watching,
        watched_until=report.watched_until,
        failed_change=report.failed_change,
        recovered_at=report.recovered_at,
        incidents=[_link_out(item) for item in report.incidents],
    )


def _link_out(item: service.LinkedIncident) -> schemas.IncidentLink:
    return schemas.IncidentLink(
        incident_id=item.incident.id,
        title=item.incident.title,
        state=item.incident.state,
        opened_at=item.incident.created_at,
        resolved_at=item.incident.resolved_at,
        minutes_after_deploy=item.link.minutes_after_deploy,
        verdict=item.link.verdict,
        judged_at=item.link.judged_at,
        judged_by_id=item.link.judged_by_id,
    )


@router.get(
    "/api/v1/incidents/{incident_id}/deploys", response_model=list[schemas.IncidentDeployOut]
)
async def incident_deploys(
    session: DbSession, _: Reader, incident_id: Id
) -> list[schemas.IncidentDeployOut]:
    """The deploys whose watch the incident opened in, with what responders judged."""
    await incidents.get_incident(session, incident_id)
    linked = await service.deploys_of_incident(session, incident_id)
    owners = await service.services_by_id(session, [d for _, d in linked])
    return [
        schemas.IncidentDeployOut(
            **out(deployment, owners[deployment.service_id]).model_dump(),
            minutes_after_deploy=link.minutes_after_deploy,
            verdict=link.verdict,
            judged_at=link.judged_at,
            judged_by_id=link.judged_by_id,
        )
        for link, deployment in linked
    ]


async def _judge(
    session: DbSession,
    principal: Principal,
    incident_id: int,
    deployment_id: int,
    body: schemas.Judgement | None,
    *,
    caused: bool,
) -> IncidentOut:
    incident = await service.judge(
        session,
        principal,
        incident_id,
        deployment_id,
        caused=caused,
        note=body.note if body is not None else "",
    )
    return IncidentOut.model_validate(incident)


@router.post(
    "/api/v1/incidents/{incident_id}/deploys/{deployment_id}/confirm", response_model=IncidentOut
)
async def confirm_deploy_caused_incident(
    session: DbSession,
    principal: Writer,
    incident_id: Id,
    deployment_id: Id,
    body: schemas.Judgement | None = None,
) -> IncidentOut:
    """Caused by this deploy: the deploy becomes a failed change (the change failure rate)."""
    return await _judge(session, principal, incident_id, deployment_id, body, caused=True)


@router.post(
    "/api/v1/incidents/{incident_id}/deploys/{deployment_id}/reject", response_model=IncidentOut
)
async def reject_deploy_caused_incident(
    session: DbSession,
    principal: Writer,
    incident_id: Id,
    deployment_id: Id,
    body: schemas.Judgement | None = None,
) -> IncidentOut:
    """Not related: the deploy is no longer suspect for this incident."""
    return await _judge(session, principal, incident_id, deployment_id, body, caused=False)
