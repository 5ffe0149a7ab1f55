"""The states an incident moves through. Which command may move it where is ``decide.py``."""

from __future__ import annotations

from enum import StrEnum


class IncidentState(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
