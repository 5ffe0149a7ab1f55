"""How inbound alerts become incidents, pure: the normalized alert shape every integration
produces, severity and urgency rules, and incident titles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class AlertAction(StrEnum):
    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


SEVERITIES = ("critical", "error", "warning", "info")
_SEVERITY_ALIASES = {
    "crit": "critical",
    "page": "critical",
    "high": "critical",
    "p1": "critical",
    "sev1": "critical",
    "err": "error",
    "major": "error",
    "p2": "error",
    "sev2": "error",
    "warn": "warning",
    "minor": "warning",
    "medium": "warning",
    "p3": "warning",
    "low": "info",
    "informational": "info",
    "none": "info",
    "p4": "info",
}


@dataclass(frozen=True, slots=True)
class InboundAlert:
    dedup_key: str
    action: AlertAction
    summary: str
    severity: str = ""
    source: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    links: tuple[dict[str, str], ...] = ()
    starts_at: datetime | None = None
    # When the source says a resolved alert ended (Alertmanager's endsAt); None: when it told us.
    ends_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class InboundBatch:
    """What one request delivered. Alerts sharing a ``group_key`` join one open incident."""

    alerts: tuple[InboundAlert, ...]
    group_key: str | None = None
    group_title: str | None = None
    truncated_alerts: int = 0


def normalize_severity(raw: str | None) -> str:
    if not raw:
        return ""
    value = raw.strip().lower()
    if value in SEVERITIES:
        return value
    return _SEVERITY_ALIASES.get(value, "")


def urgency_for(rule: str, severities: Iterable[str]) -> str:
    """``rule`` is the service's urgency rule: "high", "low" or "severity".

    With "severity", anything critical or error (or unknown: missing a page is worse than an
    extra one) is high; only an all-warning/info group is low.
    """
    if rule in ("high", "low"):
        return rule
    levels = [normalize_severity(s) for s in severities]
    if levels and all(level in ("warning", "info") for level in levels):
        return "low"
    return "high"


def incident_title(batch: InboundBatch, triggering: Sequence[InboundAlert]) -> str:
    if batch.group_title:
        return _clip(batch.group_title)
    if len(triggering) == 1:
        return _clip(triggering[0].summary)
    return _clip(f"{triggering[0].summary} (+{len(triggering) - 1} more alerts)")


def _clip(text: str, limit: int = 1024) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
