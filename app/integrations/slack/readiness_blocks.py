"""Block Kit of hand-over and handback in Slack, pure: the notices and their dialogs.

A readiness notice (``app.readiness.text.Notice``) is posted to the owner team's and the Ops
team's channels. One that can be answered (a hand-over request, a handback proposal) carries
Accept / Decline buttons whose value is the request's or proposal's id; once someone decided,
the posted copies are redrawn without buttons and with who decided. No database, Slack or
clock. The action and callback ids here are the contract with ``readiness_actions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.integrations.slack.app_blocks import mrkdwn_section
from app.integrations.slack.page_blocks import button, escape
from app.readiness.text import Notice

HANDOVER = "handover"
HANDBACK = "handback"

ACTION_HANDOVER_ACCEPT = "readiness_handover_accept"
ACTION_HANDOVER_DECLINE = "readiness_handover_decline"
ACTION_HANDBACK_ACCEPT = "readiness_handback_accept"
ACTION_HANDBACK_DECLINE = "readiness_handback_decline"
# (kind, accepts?) of each button.
ACTIONS: Mapping[str, tuple[str, bool]] = {
    ACTION_HANDOVER_ACCEPT: (HANDOVER, True),
    ACTION_HANDOVER_DECLINE: (HANDOVER, False),
    ACTION_HANDBACK_ACCEPT: (HANDBACK, True),
    ACTION_HANDBACK_DECLINE: (HANDBACK, False),
}

VIEW_HANDOVER_ACCEPT = "readiness_handover_accept"
VIEW_DECLINE = "readiness_decline"

BLOCK_POLICY = "policy"
BLOCK_KEEP_DEVELOPERS = "keep_developers"
BLOCK_OVERRIDE = "override_reason"
BLOCK_REASON = "reason"
INPUT_POLICY = "policy"
INPUT_KEEP_DEVELOPERS = "keep"
INPUT_TEXT = "text"
KEEP_DEVELOPERS = "keep"

# Slack's limits: a header's text, a static select's options and an option's label.
HEADER_LIMIT = 150
MAX_OPTIONS = 100
OPTION_LIMIT = 75
SECTION_LIMIT = 3000


def what(kind: str) -> str:
    return "hand-over request" if kind == HANDOVER else "handback proposal"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notice_of(context: Mapping[str, Any]) -> Notice | None:
    """The notice an outbox row's context carries (None: not a readable one)."""
    data = context.get("notice")
    if not isinstance(data, Mapping):
        return None
    try:
        return Notice.from_json(data)
    except (KeyError, TypeError, ValueError):
        return None


def notice_url(public_url: str, notice: Notice) -> str:
    return f"{public_url.rstrip('/')}{notice.path}"


def notice_fallback(notice: Notice) -> str:
    """What Slack shows where blocks are not rendered (and in push alerts)."""
    return f"{notice.service}: {notice.headline}"


def answer_buttons(kind: str, answer_id: int) -> dict[str, Any]:
    accept, decline = (
        (ACTION_HANDOVER_ACCEPT, ACTION_HANDOVER_DECLINE)
        if kind == HANDOVER
        else (ACTION_HANDBACK_ACCEPT, ACTION_HANDBACK_DECLINE)
    )
    value = str(answer_id)
    return {
        "type": "actions",
        "block_id": f"readiness-{kind}-{answer_id}",
        "elements": [
            button(accept, "Accept…" if kind == HANDOVER else "Accept", "primary", value),
            button(decline, "Decline…", "danger", value),
        ],
    }


def notice_blocks(
    notice: Notice, public_url: str, *, decided: str | None = None
) -> list[dict[str, Any]]:
    """The headline, the evidence lines, a link to the service's readiness page, and Accept /
    Decline while the notice can be answered (``decided``: who answered, shown instead)."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(notice.headline, HEADER_LIMIT)},
        }
    ]
    if notice.lines:
        body = "\n".join(f"• {escape(line)}" for line in notice.lines)
        blocks.append(mrkdwn_section(_clip(body, SECTION_LIMIT)))
    teams = f"{escape(notice.dev_team)} (Dev) · {escape(notice.ops_team)} (Ops)"
    link = f"<{notice_url(public_url, notice)}|Readiness of {escape(notice.service)} in Baton>"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{teams} · {link}"}]}
    )
    if decided is not None:
        blocks.append(mrkdwn_section(escape(decided)))
    elif notice.answer is not None:
        kind, answer_id = notice.answer
        blocks.append(answer_buttons(kind, answer_id))
    return blocks


# ------------------------------------------------------------------------------- dialogs


@dataclass(frozen=True, slots=True)
class PolicyChoice:
    policy_id: int
    name: str
    team: str


def _modal(
    callback_id: str, title: str, submit: str, blocks: list[dict[str, Any]], meta: str
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": {"type": "plain_text", "text": title[:24]},
        "submit": {"type": "plain_text", "text": submit[:24]},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": meta,
        "blocks": blocks,
    }


def _text_input(
    block_id: str, label: str, *, optional: bool, placeholder: str, hint: str = ""
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
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
    if hint:
        block["hint"] = {"type": "plain_text", "text": hint}
    return block


def _option(choice: PolicyChoice) -> dict[str, Any]:
    label = f"{choice.name} ({choice.team})"
    return {
        "text": {"type": "plain_text", "text": _clip(label, OPTION_LIMIT)},
        "value": str(choice.policy_id),
    }


def handover_accept_modal(
    *,
    service: str,
    dev_team: str,
    ops_team: str,
    policies: Sequence[PolicyChoice],
    preselected: int | None,
    meta: str,
) -> dict[str, Any]:
    """Ops picks the escalation policy the service moves to (theirs first), and whether the
    developers stay reachable as the policy's last step."""
    options = [_option(c) for c in policies[:MAX_OPTIONS]]
    select: dict[str, Any] = {
        "type": "static_select",
        "action_id": INPUT_POLICY,
        "placeholder": {"type": "plain_text", "text": "Pick an escalation policy"},
        "options": options,
    }
    initial = next((o for o in options if o["value"] == str(preselected)), None)
    if initial is not None:
        select["initial_option"] = initial
    blocks: list[dict[str, Any]] = [
        mrkdwn_section(
            f"*{escape(ops_team)} takes on {escape(service)}* from {escape(dev_team)}.\n"
            "New incidents of the service will escalate by the policy you pick."
        ),
        {
            "type": "input",
            "block_id": BLOCK_POLICY,
            "label": {"type": "plain_text", "text": "Escalation policy"},
            "element": select,
        },
        {
            "type": "input",
            "block_id": BLOCK_KEEP_DEVELOPERS,
            "optional": True,
            "label": {"type": "plain_text", "text": "The developers"},
            "element": {
                "type": "checkboxes",
                "action_id": INPUT_KEEP_DEVELOPERS,
                "options": [
                    {
                        "text": {
                            "type": "plain_text",
                            "text": "Keep the developers as a last step",
                        },
                        "description": {
                            "type": "plain_text",
                            "text": "A copy of the policy ends with the developers' first step.",
                        },
                        "value": KEEP_DEVELOPERS,
                    }
                ],
            },
        },
        _text_input(
            BLOCK_OVERRIDE,
            "Override reason (admins only)",
            optional=True,
            placeholder="Only when a required item fails: why take it on anyway",
            hint="Leave empty unless you are an admin accepting despite failing required items.",
        ),
    ]
    return _modal(VIEW_HANDOVER_ACCEPT, "Accept the hand-over", "Accept", blocks, meta)


def decline_modal(kind: str, *, service: str, meta: str) -> dict[str, Any]:
    title = "Decline the hand-over" if kind == HANDOVER else "Decline the handback"
    blocks = [
        mrkdwn_section(f"*Decline the {what(kind)} of {escape(service)}*"),
        _text_input(
            BLOCK_REASON,
            "Reason",
            optional=False,
            placeholder="Why: both teams see it",
        ),
    ]
    return _modal(VIEW_DECLINE, title, "Decline", blocks, meta)


# ---------------------------------------------------------------------------- submissions


def _values(view: Mapping[str, Any], block_id: str) -> Mapping[str, Any]:
    return ((view.get("state") or {}).get("values") or {}).get(block_id) or {}


def submitted_text(view: Mapping[str, Any], block_id: str) -> str:
    value = (_values(view, block_id).get(INPUT_TEXT) or {}).get("value")
    return str(value or "").strip()


def submitted_policy(view: Mapping[str, Any]) -> int | None:
    option = (_values(view, BLOCK_POLICY).get(INPUT_POLICY) or {}).get("selected_option") or {}
    value = str(option.get("value") or "")
    return int(value) if value.isdigit() and len(value) <= 18 else None


def submitted_keep_developers(view: Mapping[str, Any]) -> bool:
    field = _values(view, BLOCK_KEEP_DEVELOPERS).get(INPUT_KEEP_DEVELOPERS) or {}
    chosen = field.get("selected_options") or []
    return any(isinstance(o, dict) and o.get("value") == KEEP_DEVELOPERS for o in chosen)
