"""The grammar of ``/baton`` (and its shortcut ``/oncall``), pure: text in, an invocation out.

Slack sends everything after the command as one ``text`` field. With the manifest's
``should_escape: true`` a mention arrives as ``<@U123|name>`` and an e-mail address as
``<mailto:a@b.c|a@b.c>``; both are understood here, and so are their plain forms.

Nothing here touches the database, Slack or the clock; ``parse_range`` takes "now" and the
person's zone as arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

COMMANDS = ("/baton", "/oncall")
MAIN_COMMAND = "/baton"

# (name, arguments, what it does) in the order help shows them.
USAGE: tuple[tuple[str, str, str], ...] = (
    ("oncall", "[service|schedule|team] [--here]", "who is on call now and next, with shadows"),
    ("incidents", "[service|team] [--here]", "your open incidents, or a service's"),
    ("ack", "[#id]", "acknowledge (no id: this thread's incident, else your latest page)"),
    ("resolve", "[#id] [note]", "resolve, with an optional resolution note"),
    ("escalate", "[#id]", "page the next step of the escalation policy now"),
    ("handoff", "#id [@user] [note]", "hand the incident to someone, who is paged"),
    ("note", "#id [text]", "add a note to the incident's timeline"),
    ("page", "<service|team|@user> <message>", "open an incident by hand and page"),
    ("cover", "<2h|until 18:00|14:00-18:00|start/end> [schedule]", "ask your rotation for cover"),
    ("items", "", "your open action items from incident reviews, with due dates"),
    ("link", "", "connect your Slack account to your Baton user"),
    ("unlink", "", "disconnect it"),
    ("help", "[subcommand]", "this help"),
)
SUBCOMMANDS = tuple(name for name, _, _ in USAGE)
ALIASES = {
    "who": "oncall",
    "acknowledge": "ack",
    "esc": "escalate",
    "hand-off": "handoff",
    "handover": "handoff",
    "incident": "incidents",
    "inc": "incidents",
    "actions": "items",
    "action-items": "items",
    "todo": "items",
}
HERE_FLAG = "--here"

_INCIDENT_REF = re.compile(r"^(?:#|inc-)?(\d{1,18})$", re.IGNORECASE)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|([^>]*))?>$")
_MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_DURATION = re.compile(r"^(?:(\d{1,3})d)?(?:(\d{1,4})h)?(?:(\d{1,5})m(?:in)?)?$", re.IGNORECASE)
_CLOCK = re.compile(r"^([01]?\d|2[0-3])[:.h]?([0-5]\d)$")


class UsageError(Exception):
    """The command could not be understood; ``subcommand`` names the usage line to show."""

    def __init__(self, problem: str, subcommand: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.subcommand = subcommand


@dataclass(frozen=True, slots=True)
class Invocation:
    name: str
    text: str  # everything after the subcommand, flags removed, original spacing inside
    here: bool = False

    @property
    def words(self) -> list[str]:
        return self.text.split()


@dataclass(frozen=True, slots=True)
class SlackMention:
    slack_user_id: str
    label: str


@dataclass(frozen=True, slots=True)
class EmailMention:
    email: str


Mention = SlackMention | EmailMention


def split_first(text: str) -> tuple[str, str]:
    """The first word and the rest (stripped), keeping the spacing inside the rest."""
    parts = text.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1].strip() if len(parts) > 1 else ""


def _without_here(text: str) -> tuple[str, bool]:
    words = text.split(" ")
    kept = [w for w in words if w.strip().lower() != HERE_FLAG]
    return " ".join(kept).strip(), len(kept) != len(words)


def parse(command: str, text: str) -> Invocation:
    """``/baton <sub> ...``; ``/oncall ...`` means ``/baton oncall ...`` unless it names a sub."""
    command = command.strip().lower()
    if command not in COMMANDS:
        raise UsageError(f"Baton does not handle the command {command or '(none)'}")
    body, here = _without_here(text.replace("\u00a0", " "))
    first, rest = split_first(body)
    name = ALIASES.get(first.lower(), first.lower())
    if command == "/oncall" and name not in SUBCOMMANDS:
        return Invocation("oncall", body, here)
    if not first:
        return Invocation("help", "", here)
    if name not in SUBCOMMANDS:
        raise UsageError(f"`{first}` is not a Baton subcommand")
    return Invocation(name, rest, here)


def incident_id(word: str) -> int | None:
    """``#123``, ``123`` or ``INC-123``; None for anything else."""
    match = _INCIDENT_REF.match(word.strip())
    return int(match[1]) if match else None


def optional_incident(text: str) -> tuple[int | None, str]:
    """An incident reference at the start of ``text`` if there is one, and the rest."""
    first, rest = split_first(text)
    found = incident_id(first) if first else None
    return (found, rest) if found is not None else (None, text.strip())


def mention(word: str) -> Mention | None:
    """A Slack mention (``<@U123|bob>``) or an e-mail address, plain or escaped."""
    word = word.strip()
    if match := _MENTION.match(word):
        return SlackMention(match[1], match[2] or match[1])
    if match := _MAILTO.match(word):
        return EmailMention(match[1].strip().lower())
    if _EMAIL.match(word):
        return EmailMention(word.lower())
    return None


def duration(word: str) -> timedelta | None:
    """``2h``, ``90m``, ``1h30m``, ``1d``; None if ``word`` is not a duration."""
    match = _DURATION.match(word.strip())
    if not match or not any(match.groups()):
        return None
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes)
    return span if span > timedelta(0) else None


def clock_time(word: str) -> time | None:
    match = _CLOCK.match(word.strip())
    return time(int(match[1]), int(match[2])) if match else None


def _local(day: datetime, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=zone)


def _instant(text: str, zone: ZoneInfo) -> datetime | None:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def parse_range(text: str, now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime, str]:
    """The cover range at the start of ``text`` and what follows it (the schedule).

    Forms: a duration from now (``2h``), ``until 18:00``, ``14:00-18:00`` (today, or the next
    such range if it is over) and ``<start>/<end>`` in ISO 8601. Wall-clock times are in
    ``zone`` (the person's time zone) unless they carry an offset.
    """
    first, rest = split_first(text)
    if not first:
        raise UsageError("say how long you need cover, e.g. `cover 2h`", "cover")
    if first.lower() == "until":
        word, rest = split_first(rest)
        at = clock_time(word)
        if at is None:
            raise UsageError(f"`until {word}` needs a time such as 18:00", "cover")
        local_now = now.astimezone(zone)
        end = _local(local_now, at, zone)
        if end <= local_now:
            end = _local(local_now + timedelta(days=1), at, zone)
        return now, end, rest
    if (span := duration(first)) is not None:
        return now, now + span, rest
    if "-" in first and all(clock_time(p) for p in first.split("-", 1)):
        start_at, end_at = (clock_time(p) for p in first.split("-", 1))
        assert start_at is not None and end_at is not None
        local_now = now.astimezone(zone)
        start = _local(local_now, start_at, zone)
        end = _local(local_now, end_at, zone)
        if end <= start:
            end += timedelta(days=1)
        if end <= local_now:
            start, end = start + timedelta(days=1), end + timedelta(days=1)
        return start, end, rest
    for separator in ("/", ".."):
        if separator in first:
            low, high = first.split(separator, 1)
            start, end = _instant(low, zone), _instant(high, zone)
            if start is not None and end is not None:
                if end <= start:
                    raise UsageError("the range ends before it starts", "cover")
                return start, end, rest
    raise UsageError(
        f"`{first}` is not a range: use 2h, 90m, `until 18:00`, 14:00-18:00 or "
        "2026-03-03T09:00/2026-03-03T17:00",
        "cover",
    )


def usage_line(name: str, command: str = MAIN_COMMAND) -> str:
    for sub, args, _ in USAGE:
        if sub == name:
            return f"`{command} {sub}{' ' + args if args else ''}`"
    return ""


def help_text(subcommand: str | None = None, problem: str | None = None) -> str:
    """Usage of every subcommand (or one), after what was wrong, if something was."""
    lines: list[str] = []
    if problem:
        lines.append(f":warning: {problem}.")
    if subcommand in SUBCOMMANDS and problem:
        lines.append(f"Usage: {usage_line(subcommand)}")
        lines.append(f"`{MAIN_COMMAND} help` lists every subcommand.")
        return "\n".join(lines)
    if subcommand in SUBCOMMANDS:
        (_, _, what) = next(u for u in USAGE if u[0] == subcommand)
        return f"{usage_line(subcommand)}: {what}"
    lines.append("*Baton* — on call, incidents, hand-offs and cover, from Slack:")
    lines += [f"• {usage_line(name)} — {what}" for name, _, what in USAGE]
    lines.append(
        "`/oncall [service|schedule|team]` is short for `/baton oncall`; "
        "`/oncall <subcommand> ...` works too. Answers are only for you; add `--here` to show "
        "`oncall` or `incidents` to the channel."
    )
    return "\n".join(lines)
