"""Incident state transitions, pure: which action is allowed from which state, and the result."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class IncidentState(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    ACK_TIMEOUT = "ack_timeout"
    NOTE = "note"
    SET_URGENCY = "set_urgency"


@dataclass(frozen=True, slots=True)
class Transition:
    new_state: IncidentState
    # False when the incident is already where the action would take it (idempotent repeat).
    changed: bool
    stops_escalation: bool
    restarts_escalation: bool


class TransitionRefused(ValueError):
    def __init__(self, action: Action, state: IncidentState, reason: str) -> None:
        super().__init__(reason)
        self.action = action
        self.state = state


_T = IncidentState


def transition(state: IncidentState, action: Action) -> Transition:
    if state is _T.RESOLVED and action is not Action.NOTE:
        raise TransitionRefused(
            action, state, f"the incident is resolved; it cannot be {_past(action)} any more"
        )
    if action is Action.ACKNOWLEDGE:
        return Transition(_T.ACKNOWLEDGED, state is not _T.ACKNOWLEDGED, True, False)
    if action is Action.UNACKNOWLEDGE:
        if state is not _T.ACKNOWLEDGED:
            raise TransitionRefused(
                action, state, "only an acknowledged incident can be unacknowledged"
            )
        return Transition(_T.TRIGGERED, True, False, True)
    if action is Action.RESOLVE:
        return Transition(_T.RESOLVED, True, True, False)
    if action in (Action.ESCALATE, Action.REASSIGN):
        return Transition(_T.TRIGGERED, True, False, True)
    if action is Action.ACK_TIMEOUT:
        if state is not _T.ACKNOWLEDGED:
            raise TransitionRefused(action, state, "only an acknowledged incident can time out")
        return Transition(_T.TRIGGERED, True, False, True)
    return Transition(state, action is Action.SET_URGENCY, False, False)


def _past(action: Action) -> str:
    return {
        Action.ACKNOWLEDGE: "acknowledged",
        Action.UNACKNOWLEDGE: "unacknowledged",
        Action.RESOLVE: "resolved again",
        Action.ESCALATE: "escalated",
        Action.REASSIGN: "reassigned",
        Action.ACK_TIMEOUT: "re-triggered",
        Action.SET_URGENCY: "changed",
        Action.NOTE: "annotated",
    }[action]
