"""Slack Block Kit of the Slack app, pure: command answers, incident lists, dialogs, cover requests.

Everything Baton shows in Slack besides the pages themselves (``page_blocks``). No database,
Slack or clock. The action and callback ids here are the contract between the messages Baton
sends and the interaction handlers in ``modals``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.integrations.slack.page_blocks import ACTION_ACKNOWLEDGE, button, escape
from app.schedules.schemas import AssignmentOut, OnCallOut

ACTION_RESOLVE_OPEN = "baton_resolve_open"
ACTION_HANDOFF_OPEN = "baton_handoff_open"
ACTION_NOTE_OPEN = "baton_note_open"
ACTION_COVER_ACCEPT = "cover_accept"

VIEW_HANDOFF = "baton_handoff"
VIEW_NOTE = "baton_note"
VIEW_RESOLVE = "baton_resolve"

BLOCK_HANDOFF_USER = "handoff_user"
BLOCK_NOTE = "note"
INPUT_USER = "user"
INPUT_TEXT = "text"

SECTION_LIMIT = 3000
MAX_LISTED_INCIDENTS = 10


@dataclass(frozen=True)
class Reply:
    """An answer to the person who ran a command; ``silent`` answers with an empty 200."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    in_channel: bool = False

    @property
    def silent(self) -> bool:
        return not self.text and not self.blocks

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "response_type": "in_channel" if self.in_channel else "ephemeral",
            "text": self.text,
        }
        if self.blocks:
            body["blocks"] = self.blocks
        return body

    def publicly(self, here: bool) -> Reply:
        return Reply(self.text, self.blocks, in_channel=here)


SILENT = Reply("")


def when(instant: datetime, zone: str) -> str:
    """``Tue 03 Mar 09:00 CET``: short, in the zone the schedule (or person) lives in."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M %Z")


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn_section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def _person(item: AssignmentOut) -> str:
    label = escape(item.name)
    return f"{label} (override)" if item.source_kind == "override" else label


def _people(items: Iterable[AssignmentOut]) -> str:
    return ", ".join(_person(i) for i in items)


def oncall_text(answer: OnCallOut) -> str:
    """One schedule's answer: who now (until when), shadows, who next."""
    lines = [f"*{escape(answer.schedule_name)}* ({answer.time_zone})"]
    if not answer.responders:
        lines.append("On call: _nobody_")
    else:
        until = f" until {when(answer.until, answer.time_zone)}" if answer.until else ""
        lines.append(f"On call: {_people(answer.responders)}{until}")
    if answer.shadows:
        lines.append(f"Shadow: {_people(answer.shadows)}")
    if answer.until is not None:
        lines.append(f"Next: {_people(answer.next_responders) or '_nobody_'}")
    return "\n".join(lines)


def oncall_reply(heading: str, answers: Sequence[OnCallOut], extra: Sequence[str] = ()) -> Reply:
    if not answers and not extra:
        return Reply(f"{heading}: no schedules yet.")
    sections = [oncall_text(a) for a in answers] + list(extra)
    text = "\n\n".join([heading, *sections])
    blocks = [mrkdwn_section(f"*{escape(heading)}*")]
    blocks += [mrkdwn_section(s) for s in sections[:45]]
    return Reply(text, blocks)


@dataclass(frozen=True)
class IncidentLine:
    incident_id: int
    title: str
    service: str
    state: str
    urgency: str
    created_at: datetime


def incident_url(public_url: str, incident_id: int) -> str:
    return f"{public_url}/incidents/{incident_id}"


def incident_buttons(incident_id: int, state: str) -> dict[str, Any]:
    """Acknowledge (while triggered), Resolve…, Hand off…, Add note… for one incident."""
    value = str(incident_id)
    buttons = []
    if state == "triggered":
        buttons.append(button(ACTION_ACKNOWLEDGE, "Acknowledge", "primary", value))
    buttons += [
        button(ACTION_RESOLVE_OPEN, "Resolve…", None, value),
        button(ACTION_HANDOFF_OPEN, "Hand off…", None, value),
        button(ACTION_NOTE_OPEN, "Add note…", None, value),
    ]
    return {"type": "actions", "block_id": f"baton-incident-{incident_id}", "elements": buttons}


def incidents_reply(
    heading: str, lines: Sequence[IncidentLine], public_url: str, *, total: int
) -> Reply:
    """The first incidents, each with its buttons, and how many more there are."""
    if not lines:
        return Reply(f"{heading}: none open. :tada:")
    shown = list(lines[:MAX_LISTED_INCIDENTS])
    more = total - len(shown)
    text_lines = [heading]
    blocks = [mrkdwn_section(f"*{escape(heading)}*")]
    for line in shown:
        summary = (
            f"#{line.incident_id} [{line.state}] {line.service}: {line.title} "
            f"(opened {when(line.created_at, 'UTC')})"
        )
        text_lines.append(summary)
        link = incident_url(public_url, line.incident_id)
        blocks.append(
            mrkdwn_section(
                f"*<{link}|#{line.incident_id} {escape(line.title)}>*\n"
                f"{escape(line.service)} · {line.state.capitalize()} · "
                f"{line.urgency.capitalize()} urgency · opened {when(line.created_at, 'UTC')}"
            )
        )
        blocks.append(incident_buttons(line.incident_id, line.state))
    if more > 0:
        text_lines.append(f"… and {more} more in Baton")
        blocks.append(mrkdwn_section(f"… and {more} more: <{public_url}/incidents|open Baton>"))
    return Reply("\n".join(text_lines), blocks)


# ------------------------------------------------------------------------------- modals


def metadata(**values: Any) -> str:
    """``private_metadata`` (at most 3000 characters) carrying what the submission needs."""
    return json.dumps(values, separators=(",", ":"))[:3000]


def read_metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(str(view.get("private_metadata") or "{}"))
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _modal(callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]], meta: str):
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta,
        "blocks": blocks,
    }


def _text_input(label: str, *, optional: bool, placeholder: str) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": BLOCK_NOTE,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "plain_text_input",
            "action_id": INPUT_TEXT,
            "multiline": True,
            "max_length": 2000,
            "placeholder": {"type": "plain_text", "text": placeholder},
        },
    }


def _headline(incident_id: int, title: str) -> dict[str, Any]:
    return mrkdwn_section(f"*#{incident_id} {escape(title)}*")


def handoff_modal(incident_id: int, title: str, meta: str) -> dict[str, Any]:
    picker = {
        "type": "input",
        "block_id": BLOCK_HANDOFF_USER,
        "label": {"type": "plain_text", "text": "Hand off to"},
        "element": {"type": "users_select", "action_id": INPUT_USER},
    }
    blocks = [
        _headline(incident_id, title),
        picker,
        _text_input("Note", optional=True, placeholder="What they should know"),
    ]
    return _modal(VIEW_HANDOFF, "Hand off incident", "Hand off", blocks, meta)


def note_modal(incident_id: int, title: str, meta: str) -> dict[str, Any]:
    blocks = [
        _headline(incident_id, title),
        _text_input("Note", optional=False, placeholder="What happened, what you tried"),
    ]
    return _modal(VIEW_NOTE, "Add a note", "Add note", blocks, meta)


def resolve_modal(incident_id: int, title: str, meta: str) -> dict[str, Any]:
    blocks = [
        _headline(incident_id, title),
        _text_input("Resolution note", optional=True, placeholder="What fixed it"),
    ]
    return _modal(VIEW_RESOLVE, "Resolve incident", "Resolve", blocks, meta)


def submitted_text(view: Mapping[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(BLOCK_NOTE) or {}
    return str((values.get(INPUT_TEXT) or {}).get("value") or "").strip()


def submitted_user(view: Mapping[str, Any]) -> str:
    values = ((view.get("state") or {}).get("values") or {}).get(BLOCK_HANDOFF_USER) or {}
    return str((values.get(INPUT_USER) or {}).get("selected_user") or "")


# ------------------------------------------------------------------------ cover requests


def cover_request_blocks(text: str, request_id: int) -> list[dict[str, Any]]:
    """The cover request a colleague receives, with the Accept button."""
    return [
        mrkdwn_section(f":raising_hand: {escape(text)}"),
        {
            "type": "actions",
            "block_id": f"cover-{request_id}",
            "elements": [
                button(ACTION_COVER_ACCEPT, "Accept", "primary", str(request_id)),
            ],
        },
    ]
