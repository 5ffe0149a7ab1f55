"""Slack Block Kit for incident pages, pure: what a page looks like and which buttons it has.

Buttons carry the incident id as ``value`` and one of the ``ACTION_*`` ids; the interactivity
endpoint (``interactions``) maps them back to incident actions. Every Baton button is made by
``button`` here, the Slack app's too (``app_blocks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ACTION_ACKNOWLEDGE = "incident_acknowledge"
ACTION_RESOLVE = "incident_resolve"
ACTION_ESCALATE = "incident_escalate"

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
    return _clip(
        f"{prefix}[{str(context.get('urgency', '')).upper()}] #{context.get('incident_id')} "
        f"{context.get('service', '')}: {context.get('title', '')}",
        FALLBACK_LIMIT,
    )


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
