"""The deploy pages: every deploy (``/deploys``, filtered by service, team, environment, status
and day, newest first, in pages) and one deploy (``/deploys/{id}``) with its verdict, its watch
and the incidents that opened in it.

They read what the API's ``GET /deployments`` and ``GET /deployments/{id}/verdict`` read
(``app/deploys/api.py``); everyone signed in may look, as with the API's readers. Judging a
deploy is done on the incident's page, where the incident is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service as catalog
from app.catalog.models import Service
from app.core.errors import InvalidInput
from app.core.pagination import PageParams, decode_cursor, paginate
from app.core.schemas import Id
from app.core.session import DbSession
from app.deploys import service as deploys
from app.deploys.models import Deployment, DeployStatus
from app.people.models import Team
from app.web import timefmt
from app.web.auth import WebReader
from app.web.deploy_views import commit_url, names_of, rows_of, watch_words
from app.web.listing import all_teams, every_page
from app.web.templating import render

router = APIRouter()

PAGE_SIZE = 50
ENVIRONMENT_MAX = 100  # as long as a deploy's environment may be


# ----------------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class DeployListFilters:
    """The list's filters, read from and written back to the address. ``since`` and ``until``
    are days in the viewer's zone, both included."""

    service_id: int | None = None
    team_id: int | None = None
    environment: str = ""
    status: DeployStatus | None = None
    since: date | None = None
    until: date | None = None
    cursor: str | None = None

    def query(self, *, cursor: str | None = None) -> str:
        """The query string of this view (``cursor`` for another page of it)."""
        pairs: list[tuple[str, str]] = []
        if self.service_id is not None:
            pairs.append(("service_id", str(self.service_id)))
        if self.team_id is not None:
            pairs.append(("team_id", str(self.team_id)))
        if self.environment:
            pairs.append(("environment", self.environment))
        if self.status is not None:
            pairs.append(("status", self.status.value))
        if self.since is not None:
            pairs.append(("since", self.since.isoformat()))
        if self.until is not None:
            pairs.append(("until", self.until.isoformat()))
        if cursor:
            pairs.append(("cursor", cursor))
        return urlencode(pairs)

    @property
    def is_filtered(self) -> bool:
        return any(
            (
                self.service_id is not None,
                self.team_id is not None,
                self.environment,
                self.status is not None,
                self.since is not None,
                self.until is not None,
            )
        )

    def criteria(self, zone_name: str) -> deploys.DeployFilter:
        """The deploys' own filter: the days become instants at midnight in the viewer's zone
        (``until``'s day is included, so its end is the next midnight)."""
        zone = timefmt.zone(zone_name)

        def midnight(day: date) -> datetime:
            return datetime.combine(day, time(0), tzinfo=zone)

        return deploys.DeployFilter(
            service_id=self.service_id,
            team_id=self.team_id,
            environment=self.environment or None,
            status=self.status,
            since=midnight(self.since) if self.since else None,
            until=midnight(self.until + timedelta(days=1)) if self.until else None,
        )


def _id(value: str, name: str, what: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput(f"{name} must be a {what}'s id", field=f"query.{name}")
    return int(value)


def _day(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a day (YYYY-MM-DD)", field=f"query.{name}") from None


def list_filters(request: Request) -> DeployListFilters:
    """Read leniently: the filter form sends empty values for "any"."""
    params = request.query_params
    environment = (params.get("environment") or "").strip()
    if len(environment) > ENVIRONMENT_MAX:
        raise InvalidInput(
            f"environment: at most {ENVIRONMENT_MAX} characters", field="query.environment"
        )
    raw_status = params.get("status") or ""
    status: DeployStatus | None = None
    if raw_status:
        try:
            status = DeployStatus(raw_status)
        except ValueError:
            options = ", ".join(s.value for s in DeployStatus)
            raise InvalidInput(f"status must be one of {options}", field="query.status") from None
    since = _day(params.get("since") or "", "since")
    until = _day(params.get("until") or "", "until")
    if since and until and until < since:
        raise InvalidInput("until is before since", field="query.until")
    return DeployListFilters(
        service_id=_id(params.get("service_id") or "", "service_id", "service"),
        team_id=_id(params.get("team_id") or "", "team_id", "team"),
        environment=environment,
        status=status,
        since=since,
        until=until,
        cursor=params.get("cursor") or None,
    )


Filters = Annotated[DeployListFilters, Depends(list_filters)]


async def _services(session: AsyncSession) -> list[Service]:
    services = await every_page(lambda page: catalog.list_services(session, page))
    return sorted(services, key=lambda s: s.name.casefold())


@router.get("/deploys")
async def deploy_list(
    request: Request, signed_in: WebReader, session: DbSession, filters: Filters
) -> HTMLResponse:
    page = PageParams(
        limit=PAGE_SIZE, after_id=decode_cursor(filters.cursor) if filters.cursor else None
    )
    stmt = deploys.filtered(select(Deployment), filters.criteria(signed_in.viewer.time_zone))
    found, next_cursor = await paginate(session, stmt, Deployment.id, page, descending=True)
    services = await _services(session)
    teams = await all_teams(session)
    return render(
        request,
        "deploys/list.html",
        {
            "rows": rows_of(list(found), {s.id: s for s in services}),
            "services": services,
            "teams": teams,
            "filters": filters,
            "filter_summary": _summary(filters, services, teams),
            "statuses": list(DeployStatus),
            "next_query": filters.query(cursor=next_cursor) if next_cursor else None,
        },
    )


def _summary(filters: DeployListFilters, services: list[Service], teams: list[Team]) -> str:
    """The filters in words, for the folded filter form."""
    service_names = {s.id: s.name for s in services}
    team_names = {t.id: t.name for t in teams}
    said: list[str] = []
    if filters.service_id is not None:
        said.append(service_names.get(filters.service_id, f"service {filters.service_id}"))
    if filters.team_id is not None:
        said.append("team " + team_names.get(filters.team_id, str(filters.team_id)))
    if filters.environment:
        said.append(filters.environment)
    if filters.status is not None:
        said.append(filters.status.value.replace("_", " "))
    if filters.since is not None:
        said.append(f"from {filters.since.isoformat()}")
    if filters.until is not None:
        said.append(f"to {filters.until.isoformat()}")
    return ", ".join(said)


# -------------------------------------------------------------------------------- one deploy


async def _deploy_context(session: AsyncSession, deployment_id: int) -> dict[str, Any]:
    deployment, service = await deploys.get_with_service(session, deployment_id)
    report = await deploys.verdict_of(session, deployment_id)
    teams = {t.id: t for t in await all_teams(session)}
    judges = await names_of(session, (item.link.judged_by_id for item in report.incidents))
    return {
        "deploy": deployment,
        "service": service,
        "team": teams.get(service.team_id),
        "report": report,
        "judges": judges,
        "commit_url": commit_url(deployment),
        "watch": watch_words(service),
    }


@router.get("/deploys/{deployment_id}")
async def deploy_page(
    request: Request, signed_in: WebReader, session: DbSession, deployment_id: Id
) -> HTMLResponse:
    context = await _deploy_context(session, deployment_id)
    return render(request, "deploys/deploy.html", context)
