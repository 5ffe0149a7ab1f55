"""Acting on an incident from a page, whichever channel carried it: an SMS reply (``4a``), a
key pressed during a call, a Slack button.

Each action runs in a savepoint of the caller's transaction: a refusal (a viewer, an incident
already resolved) undoes only the attempt, and the caller still records that the request was
received and answers the person with what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import BatonError
from app.incidents import service as incidents
from app.incidents.lifecycle import IncidentState
from app.incidents.models import Incident


class Action(StrEnum):
    # The values are the letters of SMS reply codes (``4a``, ``4r``, ``4e``).
    ACKNOWLEDGE = "a"
    RESOLVE = "r"
    ESCALATE = "e"

    @property
    def verb(self) -> str:
        return {"a": "acknowledge", "r": "resolve", "e": "escalate"}[self.value]


@dataclass(frozen=True, slots=True)
class Outcome:
    incident_id: int
    title: str
    ok: bool
    changed: bool
    text: str


_DONE = {
    Action.ACKNOWLEDGE: "Acknowledged",
    Action.RESOLVE: "Resolved",
    Action.ESCALATE: "Escalated",
}
_STATE_AFTER = {
    Action.ACKNOWLEDGE: IncidentState.ACKNOWLEDGED,
    Action.RESOLVE: IncidentState.RESOLVED,
}


async def act(
    session: AsyncSession, principal: Principal, incident_id: int, action: Action
) -> Outcome:
    """Do ``action`` as ``principal``; the outcome's text says what happened, for the person."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        return Outcome(incident_id, "", False, False, f"Incident #{incident_id} does not exist")
    title = incident.title
    before = incident.state
    if before is IncidentState.RESOLVED and action is not Action.ESCALATE:
        return Outcome(
            incident_id, title, True, False, f"#{incident_id} {title} is already resolved"
        )
    if _STATE_AFTER.get(action) is before:
        return Outcome(
            incident_id,
            title,
            True,
            False,
            f"#{incident_id} {title} is already {before.value}",
        )
    try:
        async with session.begin_nested():
            if action is Action.ACKNOWLEDGE:
                await incidents.acknowledge(session, principal, incident_id)
            elif action is Action.RESOLVE:
                await incidents.resolve(session, principal, incident_id)
            else:
                await incidents.escalate(session, principal, incident_id)
    except BatonError as exc:
        return Outcome(
            incident_id,
            title,
            False,
            False,
            f"Could not {action.verb} #{incident_id}: {exc.detail}",
        )
    return Outcome(incident_id, title, True, True, f"{_DONE[action]} #{incident_id} {title}")
