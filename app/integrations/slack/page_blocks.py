"""Slack Block Kit for incident pages, pure: what a page looks like and which buttons it has.

Buttons carry the incident id as ``value`` and one of the ``ACTION_*`` ids; the interactivity
endpoint (``interactions``) maps them back to incident actions. A page of an incident that
followed a deploy says so, and asks whether the deploy caused it (``ACTION_DEPLOY_*``, whose
``value`` is ``"<incident id>:<deployment id>"``) until someone answers. Every Baton button
is made by ``button`` here, the Slack app's too (``app_blocks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.notify import messages

ACTION_ACKNOWLEDGE = "incident_acknowledge"
ACTION_RESOLVE = "incident_resolve"
ACTION_ESCALATE = "incident_escalate"
# A responder's verdict on the deploy the incident followed (``value``: "<incident>:<deploy>").
ACTION_DEPLOY_CAUSED = "incident_deploy_caused"
ACTION_DEPLOY_UNRELATED = "incident_deploy_unrelated"

_BUTTONS: dict[str, tuple[str, str | None]] = {
    ACTION_ACKNOWLEDGE: ("Acknowledge", "primary"),
    ACTION_RESOLVE: ("Resolve", None),
    ACTION_ESCALATE: ("Escalate", "danger"),
}
_BUTTONS_BY_STATE = {
    "triggered": (ACTION_ACKNOWLEDGE, ACTION_RESOLVE, ACTION_ESCALATE),
    "acknowledged": (ACTION_RESOLVE, ACTION_ESCALATE),
    "resolved": (),
}
_STATE_EMOJI = {
    "triggered": ":rotating_light:",
    "acknowledged": ":eyes:",
    "resolved": ":white_check_mark:",
}
SECTION_LIMIT = 3000
FALLBACK_LIMIT = 3000


def escape(text: object) -> str:
    """Slack mrkdwn treats ``&``, ``<`` and ``>`` as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def incident_url(public_url: str, context: Mapping[str, Any]) -> str:
    return f"{public_url}{context.get('path', '')}"


def incident_fallback(context: Mapping[str, Any]) -> str:
    """The notification text Slack shows where blocks are not rendered (and in push alerts)."""
    prefix = "[shadow] " if context.get("shadow") else ""
    deploy = _deploy_of(context)
    # The push alert names a deploy that may be the cause; one judged not related is noise.
    suffix = f" - {deploy_text(context)}" if deploy and deploy.get("verdict") != "rejected" else ""
    return _clip(
        f"{prefix}[{str(context.get('urgency', '')).upper()}] #{context.get('incident_id')} "
        f"{context.get('service', '')}: {context.get('title', '')}{suffix}",
        FALLBACK_LIMIT,
    )


def _deploy_of(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    deploy = context.get("deploy")
    return deploy if isinstance(deploy, Mapping) and deploy.get("version") else None


def deploy_text(context: Mapping[str, Any]) -> str:
    """What the message says of the deploy the incident followed: ``messages.deploy_line``'s
    words, and ``not related: deploy ...`` once a responder said so (a page never carries a
    rejected deploy; an updated message does, to show the verdict)."""
    deploy = _deploy_of(context)
    if deploy is None:
        return ""
    if deploy.get("verdict") == "rejected":
        said = messages.deploy_line({"deploy": {**deploy, "verdict": "suspected"}})
        return "not related: " + said.removeprefix("after ")
    return messages.deploy_line({"deploy": deploy})


def deploy_value(incident_id: object, deployment_id: object) -> str:
    return f"{incident_id}:{deployment_id}"


def _deploy_blocks(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The deploy line, with the two verdict buttons while nobody has judged it."""
    deploy = _deploy_of(context)
    if deploy is None:
        return []
    said = deploy_text(context)
    verdict = str(deploy.get("verdict") or "suspected")
    emoji = {"confirmed": ":rotating_light:", "rejected": ":heavy_check_mark:"}.get(
        verdict, ":rocket:"
    )
    where = f" · {escape(deploy['environment'])}" if deploy.get("environment") else ""
    blocks = [_mrkdwn_section(f"{emoji} {escape(said[:1].upper() + said[1:])}{where}")]
    if verdict == "suspected":
        value = deploy_value(context.get("incident_id"), deploy.get("deployment_id"))
        blocks.append(
            {
                "type": "actions",
                "block_id": f"incident-{context.get('incident_id')}-deploy",
                "elements": [
                    button(ACTION_DEPLOY_CAUSED, "Caused by this deploy", "danger", value),
                    button(ACTION_DEPLOY_UNRELATED, "Not related", None, value),
                ],
            }
        )
    return blocks


def incident_blocks(
    context: Mapping[str, Any], public_url: str, *, status_line: str = ""
) -> list[dict[str, Any]]:
    """The incident as a message: summary, facts, labels, runbook, latest change and buttons."""
    incident_id = context.get("incident_id")
    state = str(context.get("state", "triggered"))
    title = escape(context.get("title", ""))
    link = incident_url(public_url, context)
    shadow = " _(you are shadowing)_" if context.get("shadow") else ""
    headline = f"{_STATE_EMOJI.get(state, ':bell:')} *<{link}|#{incident_id} {title}>*{shadow}"
    blocks: list[dict[str, Any]] = [_mrkdwn_section(headline)]
    fields = [
        f"*Service*\n{escape(context.get('service', ''))}",
        f"*Urgency*\n{escape(str(context.get('urgency', '')).capitalize())}",
        f"*State*\n{escape(state.capitalize())}",
    ]
    count = int(context.get("alert_count") or 0)
    if count > 1:
        fields.append(f"*Alerts*\n{count}")
    blocks.append({"type": "section", "fields": [_mrkdwn(f) for f in fields]})
    labels = dict(context.get("labels") or {})
    if labels:
        shown = " ".join(f"`{escape(k)}={escape(v)}`" for k, v in sorted(labels.items())[:20])
        blocks.append({"type": "context", "elements": [_mrkdwn(_clip(shown, 2000))]})
    runbook = str(context.get("runbook_url") or "")
    if runbook:
        blocks.append(_mrkdwn_section(f":book: <{runbook}|Runbook>"))
    blocks += _deploy_blocks(context)
    if status_line:
        blocks.append({"type": "context", "elements": [_mrkdwn(_clip(escape(status_line), 2000))]})
    buttons = [
        button(action_id, *_BUTTONS[action_id], str(incident_id))
        for action_id in _BUTTONS_BY_STATE.get(state, ())
    ]
    if buttons:
        blocks.append(
            {"type": "actions", "block_id": f"incident-{incident_id}-actions", "elements": buttons}
        )
    return blocks


def summary_blocks(context: Mapping[str, Any], public_url: str) -> list[dict[str, Any]]:
    services = ", ".join(
        f"{escape(name)} x{count}" for name, count in dict(context.get("services") or {}).items()
    )
    ids = ", ".join(f"#{i}" for i in list(context.get("incident_ids") or [])[:30])
    text = (
        f":rotating_light: *{context.get('bundled')} more pages need you* ({services})\n"
        f"Incidents {ids} — <{incident_url(public_url, context)}|open them in Baton>"
    )
    return [_mrkdwn_section(text)]


def text_blocks(text: str) -> list[dict[str, Any]]:
    return [_mrkdwn_section(escape(text))]


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(_clip(text, SECTION_LIMIT))}


def button(action_id: str, label: str, style: str | None, value: str) -> dict[str, Any]:
    """A Block Kit button; every Baton button is made here."""
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    if style:
        element["style"] = style
    return element
