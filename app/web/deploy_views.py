"""What the pages show of deploys: the incident page's "Deploy nearby" panel, the service
page's recent deploys, the deploy pages. Read-only; the deploys' own service does the writing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import DeployerNotice, Service
from app.deploys import service as deploys
from app.deploys.models import Deployment, DeployStatus, IncidentDeploy
from app.deploys.watch import Verdict
from app.incidents.models import Incident
from app.people.models import User

_HEX = re.compile(r"[0-9a-fA-F]{4,64}")

NOTICE_WORDS = {
    DeployerNotice.OFF: "not told",
    DeployerNotice.NOTIFY: "told for information (an FYI on their own rules, not a page)",
    DeployerNotice.PAGE: "paged, as a responder",
}


def is_web_address(href: object) -> bool:
    return isinstance(href, str) and href.startswith(("https://", "http://"))


def commit_url(deployment: Deployment) -> str | None:
    """The commit's page where the repository is a web address and the SHA looks like one
    (senders other than the API do not all check either)."""
    if not (is_web_address(deployment.repository_url) and _HEX.fullmatch(deployment.commit_sha)):
        return None
    return f"{deployment.repository_url.rstrip('/')}/commit/{deployment.commit_sha}"


def status_words(status: DeployStatus) -> str:
    return status.value.replace("_", " ")


def watch_words(service: Service) -> dict[str, str]:
    """The service's deploy watch settings in words."""
    minutes = service.deploy_watch_minutes
    return {
        "window": (
            "while a deploy runs"
            if minutes == 0
            else f"while a deploy runs and {minutes} minute{'s' if minutes != 1 else ''} after it "
            "finished"
        ),
        "environments": ", ".join(service.deploy_watch_environments) or "every environment",
        "deployer": NOTICE_WORDS[DeployerNotice(service.deployer_notice)],
    }


@dataclass(frozen=True)
class DeployRow:
    deployment: Deployment
    service: Service | None
    verdict: Verdict
    commit_url: str | None


def rows_of(deployments: list[Deployment], services: dict[int, Service]) -> list[DeployRow]:
    return [
        DeployRow(d, services.get(d.service_id), deploys.verdict_of_row(d), commit_url(d))
        for d in deployments
    ]


async def names_of(session: AsyncSession, user_ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in user_ids if i is not None}
    if not ids:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(ids)))
    return {user_id: name for user_id, name in rows}


@dataclass(frozen=True)
class NearbyPanel:
    """A deploy the incident opened after, with what was judged and whether it can be judged
    here (only the deploy the incident's pages named: the API refuses any other)."""

    link: IncidentDeploy
    deployment: Deployment
    judged_by: str | None
    judgeable: bool


async def nearby_panels(session: AsyncSession, incident: Incident) -> list[NearbyPanel]:
    linked = await deploys.deploys_of_incident(session, incident.id)
    names = await names_of(session, (link.judged_by_id for link, _ in linked))
    named: dict[str, Any] = incident.nearby_deploy or {}
    return [
        NearbyPanel(
            link=link,
            deployment=deployment,
            judged_by=names.get(link.judged_by_id) if link.judged_by_id is not None else None,
            judgeable=named.get("deployment_id") == deployment.id,
        )
        for link, deployment in linked
    ]


def shown_verdicts(panels: Sequence[NearbyPanel]) -> str:
    """What the incident page shows of its deploys, for the live poll to notice a judgement
    made elsewhere (Slack, the API) and redraw the panel."""
    return ",".join(f"{p.deployment.id}:{p.link.verdict.value}" for p in panels)
