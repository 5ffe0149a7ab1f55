"""What a page says, pure: short enough for an SMS, complete enough to act on at 3 a.m.

Notifications store the incident's facts as ``context``; providers render them for their
channel (Slack blocks, e-mail HTML, SMS with reply codes) and prepend Baton's public URL to
``path``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

# Prefixed to a page sent again after a crash left its first send's outcome unknown.
POSSIBLE_DUPLICATE = "(possible duplicate)"


def incident_path(incident_id: int) -> str:
    return f"/incidents/{incident_id}"


def page_context(
    *,
    incident_id: int,
    title: str,
    service_name: str,
    service_id: int,
    urgency: str,
    state: str,
    runbook_url: str,
    labels: Mapping[str, str],
    alert_count: int,
    shadow: bool = False,
    reason: str = "",
    deploy: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    said = {
        "incident_id": incident_id,
        "title": title,
        "service": service_name,
        "service_id": service_id,
        "urgency": urgency,
        "state": state,
        "runbook_url": runbook_url,
        "labels": dict(labels),
        "alert_count": alert_count,
        "shadow": shadow,
        "reason": reason,
        "path": incident_path(incident_id),
    }
    if deploy:
        said["deploy"] = dict(deploy)
    return said


def deploy_context(nearby_deploy: Mapping[str, Any] | None, at: datetime) -> dict[str, Any] | None:
    """What a page says of the deploy its incident opened after (``Incident.nearby_deploy``);
    None when there was none, or a responder judged it not related."""
    if not nearby_deploy or nearby_deploy.get("verdict") == "rejected":
        return None
    deployed_at = datetime.fromisoformat(str(nearby_deploy["deployed_at"]))
    return {
        "deployment_id": nearby_deploy["deployment_id"],
        "version": nearby_deploy["version"],
        "previous_version": nearby_deploy.get("previous_version") or "",
        "environment": nearby_deploy.get("environment") or "",
        "deployer": nearby_deploy.get("deployer_name") or "",
        "minutes_ago": max(0, int((at - deployed_at).total_seconds() // 60)),
        "verdict": nearby_deploy.get("verdict") or "suspected",
    }


def deploy_as_judged(
    paged: object, nearby_deploy: Mapping[str, Any] | None, at: datetime
) -> dict[str, Any] | None:
    """The deploy a page showed, with the verdict the incident holds now (``rejected``
    included: a channel that shows it says "not related"); rebuilt from the incident when the
    page did not carry it (it went out after the deploy was judged not related). The page's
    "12 min ago" is kept: it was true when the page came. None: no deploy was nearby."""
    if not nearby_deploy:
        return None
    same = isinstance(paged, Mapping) and paged.get("deployment_id") == nearby_deploy.get(
        "deployment_id"
    )
    deploy = (
        dict(paged)  # type: ignore[arg-type]  # a Mapping when ``same``
        if same
        else deploy_context({**nearby_deploy, "verdict": "suspected"}, at) or {}
    )
    return deploy | {"verdict": nearby_deploy.get("verdict") or "suspected"}


def deploy_line(context: Mapping[str, Any]) -> str:
    """ "after deploy v1.4.2 by dina 12 min ago (previous v1.4.1)", or "" without a deploy."""
    deploy = context.get("deploy")
    if not deploy or deploy.get("verdict") == "rejected":
        return ""
    said = f"deploy {deploy['version']}"
    if deploy.get("deployer"):
        said += f" by {deploy['deployer']}"
    said += f" {deploy.get('minutes_ago', 0)} min ago"
    if deploy.get("previous_version"):
        said += f" (previous {deploy['previous_version']})"
    return ("caused by " if deploy.get("verdict") == "confirmed" else "after ") + said


def page_subject(context: Mapping[str, Any]) -> str:
    prefix = "[shadow] " if context.get("shadow") else ""
    return (
        f"{prefix}[{str(context['urgency']).upper()}] #{context['incident_id']} "
        f"{context['service']}: {context['title']}"
    )


def page_text(context: Mapping[str, Any]) -> str:
    prefix = "(shadowing) " if context.get("shadow") else ""
    text = f"{prefix}Baton #{context['incident_id']} {context['service']}: {context['title']}"
    if context.get("alert_count", 1) > 1:
        text += f" ({context['alert_count']} alerts)"
    if deploy := deploy_line(context):
        text += f" - {deploy}"
    return text


def summary_context(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One message standing for many pages to the same person."""
    ids = sorted({int(i["incident_id"]) for i in items if "incident_id" in i}, reverse=True)
    services = Counter(str(i.get("service", "?")) for i in items)
    return {
        "bundled": len(items),
        "incident_ids": ids,
        "services": dict(services.most_common()),
        "latest": dict(items[-1]) if items else {},
        "path": "/incidents?assigned=me",
    }


def summary_subject(context: Mapping[str, Any]) -> str:
    return f"[Baton] {context['bundled']} pages for you"


def summary_text(context: Mapping[str, Any]) -> str:
    services = ", ".join(f"{name} x{count}" for name, count in context["services"].items())
    latest = context.get("latest") or {}
    text = f"Baton: {context['bundled']} more pages need you ({services})."
    if latest:
        text += f" Latest: #{latest.get('incident_id')} {latest.get('title', '')}"
    return text
