"""The words of a team's weekly digest, pure: a ``Digest`` in, a subject, a text and Slack
blocks out.

No database, clock or settings: ``app/review/digest.py`` gathers the figures into a ``Digest``
and queues it; the Slack provider turns the stored ``Digest`` (``to_json``) back into blocks
with ``slack_blocks`` when it posts, because only it knows the public URL links point at.
The text goes to e-mail and is Slack's fallback; it stays under the outbox's 4,000 characters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

EVENT = "team.digest"  # ``context["event"]`` of a digest's outbox rows
BODY_LIMIT = 4000  # notifications.body
SECTION_LIMIT = 3000  # Slack: characters in one section's text
MAX_LISTED = 8  # of each list; the rest is "... and N more"


@dataclass(frozen=True)
class Change:
    """A figure this week against the week before; ``None``: nothing to measure."""

    now: float | None
    before: float | None


@dataclass(frozen=True)
class Carrier:
    """A person who was interrupted, or on call, this week."""

    name: str
    interruptions: int
    night: int  # of them in their sleep hours, in their own zone
    on_call_hours: float


@dataclass(frozen=True)
class OwedLine:
    incident_id: int
    title: str
    service: str
    why: str
    owner: str  # "" when nobody owns it yet


@dataclass(frozen=True)
class OverdueLine:
    title: str
    owner: str  # "" when nobody owns it
    due: date
    incident_id: int | None


@dataclass(frozen=True)
class DoraLine:
    """A service's DORA figures over the last 30 days, with their bands ("" when unknown)."""

    service: str
    deploys: int
    frequency_band: str
    change_failure_rate: float | None
    failure_rate_band: str
    lead_time_band: str
    recovery_band: str


@dataclass(frozen=True)
class Digest:
    team_id: int
    team: str
    time_zone: str
    since: datetime  # the week covered, [since, until), UTC
    until: datetime
    incidents: Change
    mtta_seconds: Change  # medians
    mttr_seconds: Change
    carriers: tuple[Carrier, ...] = ()
    owed: tuple[OwedLine, ...] = ()
    overdue: tuple[OverdueLine, ...] = ()
    dora: tuple[DoraLine, ...] = ()
    dora_source: str = ""  # the report the bands come from, e.g. "DORA 2024"

    def to_json(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "team": self.team,
            "time_zone": self.time_zone,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "incidents": [self.incidents.now, self.incidents.before],
            "mtta_seconds": [self.mtta_seconds.now, self.mtta_seconds.before],
            "mttr_seconds": [self.mttr_seconds.now, self.mttr_seconds.before],
            "carriers": [
                [c.name, c.interruptions, c.night, c.on_call_hours] for c in self.carriers
            ],
            "owed": [[o.incident_id, o.title, o.service, o.why, o.owner] for o in self.owed],
            "overdue": [[o.title, o.owner, o.due.isoformat(), o.incident_id] for o in self.overdue],
            "dora": [
                [
                    d.service,
                    d.deploys,
                    d.frequency_band,
                    d.change_failure_rate,
                    d.failure_rate_band,
                    d.lead_time_band,
                    d.recovery_band,
                ]
                for d in self.dora
            ],
            "dora_source": self.dora_source,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Digest:
        return cls(
            team_id=int(data["team_id"]),
            team=str(data["team"]),
            time_zone=str(data["time_zone"]),
            since=datetime.fromisoformat(data["since"]),
            until=datetime.fromisoformat(data["until"]),
            incidents=Change(*data["incidents"]),
            mtta_seconds=Change(*data["mtta_seconds"]),
            mttr_seconds=Change(*data["mttr_seconds"]),
            carriers=tuple(Carrier(*c) for c in data.get("carriers", [])),
            owed=tuple(OwedLine(*o) for o in data.get("owed", [])),
            overdue=tuple(
                OverdueLine(o[0], o[1], date.fromisoformat(o[2]), o[3])
                for o in data.get("overdue", [])
            ),
            dora=tuple(DoraLine(*d) for d in data.get("dora", [])),
            dora_source=str(data.get("dora_source", "")),
        )


# ------------------------------------------------------------------------------ figures


def duration(seconds: float | None) -> str:
    """``45s``, ``3m 20s``, ``2h 05m``, ``1d 3h``; ``—`` when there is nothing to measure."""
    if seconds is None or math.isnan(seconds):
        return "—"
    total = round(abs(seconds))
    sign = "-" if seconds < 0 else ""
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s" if secs else f"{sign}{minutes}m"
    return f"{sign}{secs}s"


def _count(value: float | None) -> str:
    return "—" if value is None else str(round(value))


def _against(change: Change, show: Any) -> str:
    """``3m 20s (last week 5m, 1m 40s faster)``: the week before, and the difference."""
    now, before = change.now, change.before
    if before is None:
        return f"{show(now)} (last week —)"
    if now is None:
        return f"{show(now)} (last week {show(before)})"
    return f"{show(now)} (last week {show(before)}, {_delta(now - before, show)})"


def _delta(difference: float, show: Any) -> str:
    if round(difference) == 0:
        return "same"
    return ("+" if difference > 0 else "-") + show(abs(difference))


def incidents_line(digest: Digest) -> str:
    return "Incidents: " + _against(digest.incidents, _count)


def mtta_line(digest: Digest) -> str:
    return "MTTA (median): " + _against(digest.mtta_seconds, duration)


def mttr_line(digest: Digest) -> str:
    return "MTTR (median): " + _against(digest.mttr_seconds, duration)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def carrier_line(carrier: Carrier) -> str:
    night = f"{carrier.night} at night" if carrier.night else "none at night"
    hours = f", {carrier.on_call_hours:.0f} h on call" if carrier.on_call_hours else ""
    return f"{carrier.name}: {_plural(carrier.interruptions, 'interruption')}, {night}{hours}"


def owed_line(line: OwedLine) -> str:
    owner = f" (owner {line.owner})" if line.owner else " (no owner)"
    return f"#{line.incident_id} {line.service}: {line.title} — {line.why}{owner}"


def overdue_line(line: OverdueLine) -> str:
    owner = line.owner or "no owner"
    incident = f" (#{line.incident_id})" if line.incident_id is not None else ""
    return f"{line.title} — {owner}, due {line.due.isoformat()}{incident}"


def dora_line(line: DoraLine) -> str:
    def band(name: str) -> str:
        return f" ({name})" if name else ""

    rate = f"{line.change_failure_rate * 100:.0f}%" if line.change_failure_rate is not None else "—"
    parts = [
        f"{_plural(line.deploys, 'deploy')}{band(line.frequency_band)}",
        f"change failure rate {rate}{band(line.failure_rate_band)}",
    ]
    if line.lead_time_band:
        parts.append(f"lead time {line.lead_time_band}")
    if line.recovery_band:
        parts.append(f"recovery {line.recovery_band}")
    return f"{line.service}: " + ", ".join(parts)


def week_label(digest: Digest) -> str:
    """``Mon 23 Feb to Mon 02 Mar 2026`` in the team's zone (the end is the digest's slot)."""
    zone = ZoneInfo(digest.time_zone)
    start = digest.since.astimezone(zone)
    end = digest.until.astimezone(zone)
    return f"{start:%a %d %b} to {end:%a %d %b %Y}"


def subject(digest: Digest) -> str:
    return f"Baton weekly digest for {digest.team}: {week_label(digest)}"


# ------------------------------------------------------------------------------ sections


def _listed(lines: list[str], bullet: str = "• ") -> list[str]:
    shown = [bullet + line for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"… and {len(lines) - MAX_LISTED} more in Baton")
    return shown


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[str, ...]


def sections(digest: Digest) -> list[Section]:
    """What the digest says, in order; each renderer words the titles its own way."""
    carriers = [
        carrier_line(c)
        for c in sorted(digest.carriers, key=lambda c: (-c.interruptions, -c.night, c.name))
    ]
    result = [
        Section("This week", (incidents_line(digest), mtta_line(digest), mttr_line(digest))),
        Section(
            "Who carried the pager",
            tuple(_listed(carriers)) if carriers else ("Nobody was interrupted.",),
        ),
        Section(
            f"Reviews owed ({len(digest.owed)})",
            tuple(_listed([owed_line(o) for o in digest.owed])) or ("None. :tada:",),
        ),
        Section(
            f"Overdue action items ({len(digest.overdue)})",
            tuple(_listed([overdue_line(o) for o in digest.overdue])) or ("None.",),
        ),
    ]
    source = f"; bands from the {digest.dora_source} report" if digest.dora_source else ""
    result.append(
        Section(
            f"DORA, last 30 days{source}",
            tuple(_listed([dora_line(d) for d in digest.dora])) or ("No services.",),
        )
    )
    return result


def text(digest: Digest, link: str | None = None) -> str:
    """The plain text: the e-mail's body and Slack's notification fallback."""
    parts = [f"Weekly digest for {digest.team}: {week_label(digest)} ({digest.time_zone})"]
    for section in sections(digest):
        lines = [line.replace(" :tada:", "") for line in section.lines]
        parts.append("\n".join([f"{section.title}:", *lines]))
    if link:
        parts.append(f"In Baton: {link}")
    body = "\n\n".join(parts)
    return body if len(body) <= BODY_LIMIT else body[: BODY_LIMIT - 1] + "…"


def _escape(value: object) -> str:
    """Slack mrkdwn treats ``&``, ``<`` and ``>`` as control characters."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(markdown: str) -> dict[str, Any]:
    clipped = markdown if len(markdown) <= SECTION_LIMIT else markdown[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": clipped}}


def slack_blocks(digest: Digest, public_url: str) -> list[dict[str, Any]]:
    """Block Kit: a header, one section per part, a link to the team in Baton."""
    link = f"{public_url.rstrip('/')}/teams/{digest.team_id}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": f"Weekly digest: {digest.team}"[:150],
                "emoji": True,
            },
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _escape(f"{week_label(digest)} ({digest.time_zone})"),
                }
            ],
        },
    ]
    for section in sections(digest):
        body = "\n".join(_escape(line) for line in section.lines)
        blocks.append(_section(f"*{_escape(section.title)}*\n{body}"))
    blocks.append(
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": f"<{link}|Open {_escape(digest.team)} in Baton>"}
            ],
        }
    )
    return blocks
