"""A review as Markdown and as HTML, for teams to paste into their wiki.

No database, clock or settings: a :class:`~app.review.draft.ReviewDocument` in, text out. The
review's own texts are Markdown and go into the Markdown export as the user wrote them; what
Baton adds (titles, names, labels, notes from the timeline) is escaped, so an alert summary
cannot turn into markup. The HTML export renders that Markdown with markdown-it-py and then
sanitizes the result with nh3: HTML a user typed is kept only where it is harmless (no scripts,
event handlers, styles, frames or ``javascript:`` links), never executed.
"""

from __future__ import annotations

import html
import re
from datetime import datetime

import nh3
from markdown_it import MarkdownIt

from app.review.draft import CONFIRMED, REJECTED, ReviewDocument, minutes

# Sections the responder writes, in the order a review reads.
SECTIONS = (
    ("summary", "Summary"),
    ("customer_impact", "Customer impact"),
    ("root_cause", "Root cause"),
    ("contributing_factors", "Contributing factors"),
    ("went_well", "What went well"),
    ("went_badly", "What went badly"),
    ("lessons", "Lessons"),
)
NOT_WRITTEN = "_Not written yet._"
VERDICT_WORDS = {
    CONFIRMED: "confirmed as the cause",
    REJECTED: "judged not related",
}

# A pasted export loads nothing from elsewhere: no images (tracking pixels), image maps or
# anything nh3 does not already know to be harmless.
_TAGS = set(nh3.ALLOWED_TAGS) - {"img", "area", "map"}
_URL_SCHEMES = {"http", "https", "mailto"}
_ESCAPED = re.compile(r"([\\`*_{}\[\]<>()#+!|~&-])")


def _md(value: object) -> str:
    """Text Baton adds, as literal Markdown on one line (every punctuation mark that could
    start markup is backslash-escaped, which CommonMark allows for any of them)."""
    return _ESCAPED.sub(r"\\\1", " ".join(str(value).split()))


def _at(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def export_markdown(doc: ReviewDocument) -> str:
    """The review as one Markdown document."""
    review, incident, draft = doc.review, doc.incident, doc.draft
    out: list[str] = [
        f"# Incident review: #{incident.id} {_md(incident.service_name)}: {_md(incident.title)}",
        "",
        "| | |",
        "| --- | --- |",
        f"| State | {_md(review.state.replace('_', ' '))} |",
        f"| Severity | {_md(review.severity or 'not set')} |",
        f"| Service | {_md(incident.service_name)} |",
        f"| Urgency | {_md(incident.urgency)} |",
        f"| Started | {_at(draft.started_at or incident.opened_at)} |",
    ]
    ack = draft.first_ack
    if ack is not None:
        out.append(
            f"| Acknowledged | {_at(ack.at)} by {_md(ack.name or 'Baton')} "
            f"after {minutes(ack.after_seconds)} |"
        )
    if draft.resolution is not None:
        who = "by itself" if draft.resolution.automatic else f"by {_md(draft.resolution.by)}"
        out.append(
            f"| Resolved | {_at(draft.resolution.at)} {who} "
            f"after {minutes(draft.resolution.after_seconds)} |"
        )
    out.append(f"| Owner | {_md(review.owner_name or 'nobody yet')} |")
    if review.published_at is not None:
        by = f" by {_md(review.published_by_name)}" if review.published_by_name else ""
        out.append(f"| Published | {_at(review.published_at)}{by} |")
    out.append("")

    for attribute, heading in SECTIONS:
        text = getattr(review, attribute).strip()
        out += [f"## {heading}", "", text or NOT_WRITTEN, ""]

    out += ["## Timeline", ""]
    # The sentences already say how each action reached Baton ("via sms"); a note's says who.
    out += [
        f"- {_time(e.at)} " + _md(f"{e.by}: {e.text}" if e.kind == "note" and e.by else e.text)
        for e in draft.timeline
    ] or ["_No events._"]
    out.append("")

    if draft.pages:
        out += ["## Who was paged", ""]
        for page in draft.pages:
            where = f"step {page.step}" if page.step is not None else _md(page.reason or "by name")
            how = ", ".join(page.channels) or "no verified contact method"
            role = " (shadow)" if page.shadow else ""
            out.append(f"- {_time(page.at)} {_md(page.name)}{role}, {where}: {_md(how)}")
        out.append("")
    if draft.notifications:
        out += ["## Notifications", ""]
        out += [
            f"- {_time(n.at)} {_md(n.message_kind)} by {_md(n.contact_type)} to "
            f"{_md(n.address)}: {_md(n.outcome)}"
            for n in draft.notifications
        ]
        out.append("")
    if draft.acknowledgements:
        out += ["## Acknowledgements", ""]
        out += [
            f"- {_time(a.at)} {_md(a.name or 'Baton')} by {_md(a.channel)}, "
            f"{minutes(a.after_seconds)} after the start"
            for a in draft.acknowledgements
        ]
        out.append("")
    if draft.escalations:
        out += ["## Escalations", ""]
        out += [
            f"- {_time(s.at)} step {s.step} of {s.steps}: {_md(s.reason)}"
            + (f" ({_md(', '.join(s.responders))})" if s.responders else "")
            for s in draft.escalations
        ]
        out.append("")
    if draft.reassignments:
        out += ["## Reassignments", ""]
        out += [
            f"- {_time(r.at)} {_md(r.by or 'Baton')} handed it from "
            f"{_md(', '.join(r.from_names) or 'nobody')} to {_md(r.to_name)}"
            + (f": {_md(r.note)}" if r.note else "")
            for r in draft.reassignments
        ]
        out.append("")

    out += ["## Alerts", ""]
    alerts = []
    for alert in draft.alerts:
        line = f"- {_time(alert.at)} {_md(alert.summary)} (key {_md(alert.dedup_key)})"
        if alert.severity:
            line += f", severity {_md(alert.severity)}"
        if alert.labels:
            line += ", labels " + _md(", ".join(f"{k}={v}" for k, v in alert.labels.items()))
        if alert.resolved_at is not None:
            line += f", resolved {_time(alert.resolved_at)}"
        alerts.append(line)
    out += alerts or ["_No alerts: opened by hand._"]
    out.append("")

    out += ["## Deploys nearby", ""]
    deploys = []
    for deploy in doc.deploys:
        line = f"- {_md(deploy.version)}"
        if deploy.environment:
            line += f" to {_md(deploy.environment)}"
        if deploy.deployer:
            line += f" by {_md(deploy.deployer)}"
        line += f", {deploy.minutes_after_deploy} min before the incident"
        if deploy.previous_version:
            line += f" (previous {_md(deploy.previous_version)})"
        line += f", {_md(deploy.status.replace('_', ' '))}"
        line += f": {VERDICT_WORDS.get(deploy.verdict, 'not judged yet')}"
        deploys.append(line)
    out += deploys or ["_None._"]
    out.append("")

    if draft.notes:
        out += ["## Notes", ""]
        out += [f"- {_time(n.at)} {_md(n.by or 'Baton')}: {_md(n.text)}" for n in draft.notes]
        out.append("")

    out += ["## Action items", ""]
    items = []
    for item in doc.action_items:
        box = "x" if item.status == "done" else " "
        line = f"- [{box}] {_md(item.title)}"
        facts = [f"owner {_md(item.owner_name)}" if item.owner_name else "no owner"]
        if item.due_date is not None:
            facts.append(f"due {item.due_date.isoformat()}")
        if item.past_due:
            facts.append("**past due**")
        if item.status == "cancelled":
            facts.append("cancelled")
        line += " (" + ", ".join(facts) + ")"
        if item.tracker_url:
            line += f" [tracker](<{item.tracker_url.replace('>', '%3E')}>)"
        items.append(line)
    out += items or ["_None._"]
    out.append("")
    return "\n".join(out)


def _renderer() -> MarkdownIt:
    # CommonMark with tables (the summary table); raw HTML passes to nh3, which keeps only the
    # harmless part of it.
    return MarkdownIt("commonmark", {"html": True}).enable("table")


def sanitize(fragment: str) -> str:
    return nh3.clean(fragment, tags=_TAGS, url_schemes=_URL_SCHEMES)


def export_html(doc: ReviewDocument) -> str:
    """The review as a standalone HTML page: the Markdown export rendered, then sanitized."""
    body = sanitize(_renderer().render(export_markdown(doc)))
    title = html.escape(f"Incident review #{doc.incident.id}: {doc.incident.title}")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
