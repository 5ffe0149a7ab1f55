"""SMS text, pure: pages that fit one GSM-7 segment, and the replies people text back.

A single non-GSM character (a curly quote in an alert title, an emoji) switches a whole SMS to
UCS-2, where a segment holds 70 characters instead of 160, so page texts are transliterated to
the GSM 03.38 alphabet first. The reply codes are never clipped; the title is, and a deploy
the incident followed outranks the title (``_with_deploy``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.incidents.channel_actions import Action
from app.notify import messages

SEGMENT = 160  # septets in a single GSM-7 SMS
SEGMENT_PART = 153  # septets per part of a concatenated SMS
ELLIPSIS = "..."  # "…" is not in the GSM alphabet

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")  # two septets each

# Look-alikes for characters outside GSM-7 (written as escapes: they are the confusable ones).
_LOOKALIKES = {
    **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032`\u00b4", "'"),
    **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    **dict.fromkeys("\u00a0\u2009\u202f\t", " "),
    "\u2026": "...",
    "\u2022": "*",
    "\u00b7": "*",
    "\u00d7": "x",
    "\u2192": "->",
    "\u2190": "<-",
    "\u2265": ">=",
    "\u2264": "<=",
}


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text)


def _gsm_char(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENDED:
        return char
    if char in _LOOKALIKES:
        return _LOOKALIKES[char]
    # Accented letters lose their accent ("á" -> "a") when the bare letter is in GSM-7.
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    if base and all(c in GSM7_BASIC for c in base):
        return base
    return "?"


def to_gsm7(text: str) -> str:
    """The text with look-alikes swapped in and anything else outside GSM-7 made a ``?``."""
    return "".join(_gsm_char(char) for char in text)


def septets(text: str) -> int:
    return sum(2 if c in GSM7_EXTENDED else 1 for c in text)


def segments(text: str) -> int:
    """How many SMS segments Twilio bills for ``text`` (GSM-7 160/153, else UCS-2 70/67)."""
    if is_gsm7(text):
        units, single, part = septets(text), SEGMENT, SEGMENT_PART
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // part)


def clip(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` septets, ending in ``...`` when something was cut."""
    if septets(text) <= budget:
        return text
    if budget <= len(ELLIPSIS):
        return ELLIPSIS[: max(budget, 0)]
    kept: list[str] = []
    used = 0
    for char in text:
        cost = 2 if char in GSM7_EXTENDED else 1
        if used + cost > budget - len(ELLIPSIS):
            break
        kept.append(char)
        used += cost
    return "".join(kept).rstrip() + ELLIPSIS


def _one_line(text: str) -> str:
    return " ".join(to_gsm7(str(text)).split())


def codes_hint(code: int) -> str:
    return f"Reply {code}a to ack, {code}r to resolve, {code}e to escalate"


def bundle_hint(code: int, count: int) -> str:
    return f"Reply {code}a to ack all {count}"


def _fit(head: str, title: str, tail: str, budget: int = SEGMENT) -> str:
    """``head + title + tail`` within ``budget`` septets: the title gives way first."""
    room = budget - septets(head) - septets(tail)
    if room < 12:
        # A service name long enough to crowd out the title is clipped too.
        head = clip(head, max(budget - septets(tail) - 12, 16))
        room = budget - septets(head) - septets(tail)
    return head + clip(title, max(room, 0)) + tail


def deploy_words(deploy: Mapping[str, Any], *, compact: bool = False) -> str:
    """The deploy the incident followed, as ``messages.deploy_line`` says it, or the compact
    form an SMS falls back to: ``after v1.4.2 by dina 12m ago (prev v1.4.1)``."""
    if not compact:
        return _one_line(messages.deploy_line({"deploy": deploy}))
    said = ("caused by " if deploy.get("verdict") == "confirmed" else "after ") + str(
        deploy["version"]
    )
    if deploy.get("deployer"):
        said += f" by {deploy['deployer']}"
    said += f" {deploy.get('minutes_ago', 0)}m ago"
    if deploy.get("previous_version"):
        said += f" (prev {deploy['previous_version']})"
    return _one_line(said)


def _fits(
    head: str, title: str, tail: str, budget: int, *, title_min: int, clip_head: bool
) -> bool:
    """Whether ``tail`` leaves the title ``title_min`` septets (or all of it, when shorter),
    with the head whole or, when ``clip_head``, cut down as far as ``_fit`` would."""
    head_size = min(septets(head), 16) if clip_head else septets(head)
    return head_size + min(septets(title), title_min) + septets(tail) <= budget


def _with_deploy(head: str, title: str, tail: str, deploy: Mapping[str, Any]) -> str:
    """The page with its deploy, which outranks the title and the service name: the full words
    in one segment, else the compact ones, else two segments; only a version or name too long
    even for that has its deploy words clipped. The reply codes stay whole throughout."""
    full, compact = (f" - {deploy_words(deploy, compact=c)}" for c in (False, True))
    two = SEGMENT_PART * 2
    for budget in (SEGMENT, two):
        for words, clip_head in ((full, False), (compact, False), (compact, True)):
            title_min = 12 if clip_head else 24
            if _fits(head, title, words + tail, budget, title_min=title_min, clip_head=clip_head):
                return _fit(head, title, words + tail, budget)
    room = two - min(septets(head), 16) - min(septets(title), 12) - septets(tail)
    return _fit(head, title, clip(compact, room) + tail, two)


def page_sms(context: Mapping[str, Any], code: int | None) -> str:
    """One page as an SMS, e.g. ``Baton #123 payments-api: Latency high. Reply 4a to ack, ...``,
    with ``- after deploy v1.4.2 by dina 12 min ago (previous v1.4.1)`` before the codes when
    the incident followed a deploy."""
    prefix = "(shadow) " if context.get("shadow") else ""
    head = f"{prefix}Baton #{context['incident_id']} {_one_line(context.get('service', ''))}: "
    count = int(context.get("alert_count") or 1)
    tail = f" ({count} alerts)" if count > 1 else ""
    if code is not None:
        tail += " " + codes_hint(code)
    title = _one_line(context.get("title", ""))
    deploy = context.get("deploy")
    if isinstance(deploy, Mapping) and deploy.get("version"):
        return _with_deploy(head, title, tail, deploy)
    return _fit(head, title, tail)


def summary_sms(context: Mapping[str, Any], code: int | None) -> str:
    """A storm folded into one SMS; the code acknowledges every incident it stands for."""
    count = int(context.get("bundled") or 0)
    services = ", ".join(
        f"{_one_line(name)} x{n}" for name, n in dict(context.get("services") or {}).items()
    )
    head = f"Baton: {count} more pages need you ({clip(services, 60)})."
    latest = context.get("latest") or {}
    title = ""
    if latest:
        title = f" Latest: #{latest.get('incident_id')} {_one_line(latest.get('title', ''))}"
    tail = f" {bundle_hint(code, count)}" if code is not None else ""
    return _fit(head, title, tail)


def plain_sms(text: str, budget: int = SEGMENT * 2) -> str:
    """Other messages (tests, verification codes, confirmations): GSM-7, at most two segments."""
    return clip(_one_line(text), budget)


# ------------------------------------------------------------------------------------ replies


class Intent(StrEnum):
    ACT = "act"
    STOP = "stop"
    START = "start"
    HELP = "help"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reply:
    intent: Intent
    action: Action | None = None
    # A reply code, or (when no code matches) an incident number as in "ACK 1042".
    number: int | None = None


# Twilio's standard opt-out / opt-in / help keywords (Advanced Opt-Out defaults).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
START_WORDS = frozenset({"start", "yes", "unstop"})
HELP_WORDS = frozenset({"help", "info"})
_ACTION_WORDS = {
    "a": Action.ACKNOWLEDGE,
    "ack": Action.ACKNOWLEDGE,
    "acknowledge": Action.ACKNOWLEDGE,
    "ok": Action.ACKNOWLEDGE,
    "r": Action.RESOLVE,
    "res": Action.RESOLVE,
    "resolve": Action.RESOLVE,
    "resolved": Action.RESOLVE,
    "e": Action.ESCALATE,
    "esc": Action.ESCALATE,
    "escalate": Action.ESCALATE,
}
_CODE_FIRST = re.compile(r"^#?(\d{1,7})\s*([a-z]+)$")
_WORD_FIRST = re.compile(r"^([a-z]+)\s*#?(\d{1,7})$")


def parse_reply(body: str) -> Reply:
    """Read what someone texted: ``4a``, ``4 a``, ``ACK 4``, ``a`` (latest page), ``STOP``..."""
    text = " ".join(body.strip().lower().split()).strip(".!?,;: ")
    if not text:
        return Reply(Intent.UNKNOWN)
    if text in STOP_WORDS:
        return Reply(Intent.STOP)
    if text in START_WORDS:
        return Reply(Intent.START)
    if text in HELP_WORDS:
        return Reply(Intent.HELP)
    if text in _ACTION_WORDS:
        return Reply(Intent.ACT, _ACTION_WORDS[text])
    for pattern, number_group, word_group in ((_CODE_FIRST, 1, 2), (_WORD_FIRST, 2, 1)):
        match = pattern.match(text)
        if match and match[word_group] in _ACTION_WORDS:
            return Reply(Intent.ACT, _ACTION_WORDS[match[word_group]], int(match[number_group]))
    return Reply(Intent.UNKNOWN)
