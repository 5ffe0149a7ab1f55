"""How inbound alerts become incidents, pure: the normalized alert shape every integration
produces, severity and urgency rules, and incident titles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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


# Labels that usually tell one alert of a group from another: the first one an alert has is
# shown when nothing else sets it apart.
IDENTITY_LABELS = ("instance", "pod", "host", "hostname", "node", "container", "device", "job")
# Said elsewhere on the same line: the summary names the alert, the severity is shown apart.
_SAID_ELSEWHERE = frozenset({"alertname", "severity"})
MAX_DISTINGUISHING_LABELS = 4


def alert_labels(details: Mapping[str, Any]) -> dict[str, str]:
    """An alert's labels, where its source has them (Alertmanager, Grafana)."""
    labels = details.get("labels")
    if not isinstance(labels, dict):
        return {}
    return {str(name): value for name, value in labels.items() if isinstance(value, str)}


def varying_labels(label_sets: Iterable[Mapping[str, str]]) -> frozenset[str]:
    """The label names whose value is not the same on every one of ``label_sets``."""
    total = 0
    values: dict[str, set[str]] = {}
    carriers: dict[str, int] = {}
    for labels in label_sets:
        total += 1
        for name, value in labels.items():
            values.setdefault(name, set()).add(value)
            carriers[name] = carriers.get(name, 0) + 1
    # A label only some of them have sets those apart too.
    return frozenset(n for n, seen in values.items() if len(seen) > 1 or carriers[n] < total)


def distinguishing_labels(
    labels: Mapping[str, str], varying: frozenset[str], summary: str = ""
) -> dict[str, str]:
    """What tells an alert from the others it arrived with: its labels that vary among them,
    identity labels first; with none, its first identity label (``instance``, ``pod``, ...).
    A label whose value the summary already says is left out."""
    unsaid = [n for n in labels if n not in _SAID_ELSEWHERE and not says(summary, labels[n])]
    names = [n for n in IDENTITY_LABELS if n in unsaid and n in varying]
    names += sorted(n for n in unsaid if n in varying and n not in IDENTITY_LABELS)
    if not names and not any(n in varying for n in labels):
        names = [n for n in IDENTITY_LABELS if n in unsaid][:1]
    return {n: _clip(labels[n], 200) for n in names[:MAX_DISTINGUISHING_LABELS]}


def says(text: str, value: str) -> bool:
    r"""Whether ``value`` appears in ``text`` as a word of its own, not inside another (what the
    pattern ``(?<!\w)value(?!\w)`` finds). Without a regular expression: label values are
    often unique (a shard, a pod), so each would compile a pattern of its own, and a storm
    asks this for every label of every alert."""
    if not value:
        return False
    start = text.find(value)
    while start != -1:
        end = start + len(value)
        if not (start and _word_character(text[start - 1])) and not (
            end < len(text) and _word_character(text[end])
        ):
            return True
        start = text.find(value, start + 1)
    return False


def _word_character(character: str) -> bool:
    return character.isalnum() or character == "_"
