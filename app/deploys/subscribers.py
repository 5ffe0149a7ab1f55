"""What the deploys do when something happens to an incident (registered by ``app/wiring.py``).

* ``deploy_nearby``: the incident is linked to the deploy, the deploy becomes suspect, and its
  deployer gets an FYI when the service says ``notify``.
* ``deploy_confirmed`` / ``deploy_rejected``: the link carries the verdict; a confirmed deploy is
  a failed change.
"""

from __future__ import annotations

from sqlalchemy import Exists, exists, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.deploys.models import CauseVerdict, Deployment, IncidentDeploy
from app.incidents import events as ev
from app.incidents.render import deploy_phrase
from app.incidents.subscribers import Applied
from app.notify import informational, messages


async def follow_deploy_judgements(session: AsyncSession, applied: Applied) -> None:
    event = applied.event
    match event:
        case ev.DeployNearby():
            # A plain UPDATE (PostgreSQL's FOR NO KEY UPDATE lock) does not conflict with the
            # key-share lock the link's foreign key takes, so incidents opening together after
            # one deploy do not deadlock; once the deploy is suspect, the next ones lock nothing.
            await session.execute(
                update(Deployment)
                .where(Deployment.id == event.deployment_id, Deployment.suspect.is_(False))
                .values(suspect=True)
            )
            session.add(
                IncidentDeploy(
                    incident_id=applied.incident.id,
                    deployment_id=event.deployment_id,
                    linked_at=applied.at,
                    minutes_after_deploy=event.minutes_before,
                    verdict=CauseVerdict.SUSPECTED,
                )
            )
            await session.flush()
            if event.deployer_told == "notify" and event.deployer_user_id is not None:
                await _tell_deployer(session, applied, event)
        case ev.DeployConfirmed() | ev.DeployRejected():
            link = await session.get(IncidentDeploy, (applied.incident.id, event.deployment_id))
            if link is None:
                return
            link.verdict = (
                CauseVerdict.CONFIRMED
                if isinstance(event, ev.DeployConfirmed)
                else CauseVerdict.REJECTED
            )
            link.judged_at = applied.at
            link.judged_by_id = event.by_user_id
            await session.flush()
            await _refresh_flags(session, event.deployment_id)


async def _refresh_flags(session: AsyncSession, deployment_id: int) -> None:
    """The deploy's flags from its links, in one statement (no row read and locked first)."""

    def linked(verdict: CauseVerdict) -> Exists:
        return exists().where(
            IncidentDeploy.deployment_id == deployment_id, IncidentDeploy.verdict == verdict
        )

    await session.execute(
        update(Deployment)
        .where(Deployment.id == deployment_id)
        .values(
            suspect=linked(CauseVerdict.SUSPECTED), caused_incident=linked(CauseVerdict.CONFIRMED)
        )
    )


async def _tell_deployer(session: AsyncSession, applied: Applied, event: ev.DeployNearby) -> None:
    incident, service = applied.incident, applied.service
    phrase = deploy_phrase(event.version, "", event.minutes_before, event.previous_version)
    subject = f"[FYI] #{incident.id} {service.name} opened after your deploy {event.version}"
    text = (
        f"Incident #{incident.id} on {service.name} ({incident.title}) opened after your "
        f"{phrase}. The on-call responders are paged; this is for your information."
    )
    await informational.inform_by_rules(
        session,
        event.deployer_user_id,  # type: ignore[arg-type]  # checked by the caller
        incident_id=incident.id,
        subject=subject,
        text=text,
        context={
            "event": "incident.deploy_nearby",
            "incident_id": incident.id,
            "deployment_id": event.deployment_id,
            "path": messages.incident_path(incident.id),
        },
    )
