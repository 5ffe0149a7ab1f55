"""``/baton items``: the caller's open action items from incident reviews.

Each item shows its incident, its due date and whether it is overdue or due today, on the
caller's own calendar (their Baton time zone): an item due "on the 14th" is overdue from the
15th where they live. Overdue items come first, then by due date; items without a date last.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from app.incidents.models import Incident
from app.integrations.slack.app_blocks import Reply, mrkdwn_section
from app.integrations.slack.command_context import Call
from app.integrations.slack.page_blocks import escape
from app.people.models import User
from app.review import service as reviews
from app.review.models import Review

MAX_LISTED_ITEMS = 15


@dataclass(frozen=True)
class ItemLine:
    item_id: int
    title: str
    due: date | None
    incident_id: int | None
    incident_title: str
    tracker_url: str


def flag(due: date | None, today: date) -> str:
    """``overdue``, ``due today`` or "" (not yet due, or no date)."""
    if due is None:
        return ""
    if due < today:
        return "overdue"
    if due == today:
        return "due today"
    return ""


def _order(line: ItemLine, today: date) -> tuple[int, date, int]:
    if line.due is None:
        return (2, date.max, line.item_id)
    return (0 if line.due < today else 1, line.due, line.item_id)


def items_reply(lines: Sequence[ItemLine], today: date, public_url: str) -> Reply:
    """The list, overdue first; ``today`` is the caller's local date."""
    if not lines:
        return Reply("You have no open action items. :tada:")
    ordered = sorted(lines, key=lambda line: _order(line, today))
    overdue = sum(flag(line.due, today) == "overdue" for line in ordered)
    heading = f"Your open action items ({len(ordered)}" + (
        f", {overdue} overdue)" if overdue else ")"
    )
    text_lines = [heading]
    blocks = [mrkdwn_section(f"*{escape(heading)}*")]
    for line in ordered[:MAX_LISTED_ITEMS]:
        status = flag(line.due, today)
        due = f"due {line.due.isoformat()}" if line.due else "no due date"
        mark = (
            f" — *{status.upper()}*" if status == "overdue" else (f" — {status}" if status else "")
        )
        where = f"#{line.incident_id} {line.incident_title}" if line.incident_id else ""
        text_lines.append(
            f"{line.title} ({due}{', ' + status if status else ''})"
            + (f" — {where}" if where else "")
        )
        title = escape(line.title)
        if line.tracker_url:
            title = f"<{line.tracker_url}|{title}>"
        detail = [f":warning: {due}" if status == "overdue" else due]
        if line.incident_id:
            review = f"{public_url}/incidents/{line.incident_id}/review"
            detail.append(f"<{review}|#{line.incident_id} {escape(line.incident_title)}>")
        blocks.append(mrkdwn_section(f"*{title}*{mark}\n" + " · ".join(detail)))
    more = len(ordered) - MAX_LISTED_ITEMS
    if more > 0:
        text_lines.append(f"… and {more} more in Baton")
        blocks.append(mrkdwn_section(f"… and {more} more: <{public_url}/me|open My on-call>"))
    return Reply("\n".join(text_lines), blocks)


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, ZoneInfoNotFoundError):
        return ZoneInfo("UTC")


async def list_items(call: Call) -> Reply:
    async with call.ctx.db.transaction() as session:
        await call.principal(session)
        user = await session.get(User, call.user_id)
        today = call.ctx.db.clock.now().astimezone(_zone(user.time_zone if user else None)).date()
        items = await reviews.open_items_for_user(session, call.user_id)
        review_ids = {item.review_id for item in items}
        incidents: dict[int, tuple[int, str]] = {}
        if review_ids:
            rows = await session.execute(
                select(Review.id, Incident.id, Incident.title)
                .join(Incident, Incident.id == Review.incident_id)
                .where(Review.id.in_(review_ids))
            )
            incidents = {review_id: (iid, title) for review_id, iid, title in rows}
        lines = [
            ItemLine(
                item_id=item.id,
                title=item.title,
                due=item.due_date,
                incident_id=incidents.get(item.review_id, (None, ""))[0],
                incident_title=incidents.get(item.review_id, (None, ""))[1],
                tracker_url=item.tracker_url,
            )
            for item in items
        ]
    return items_reply(lines, today, call.ctx.public_url)


HANDLERS: dict[str, Callable[[Call], Awaitable[Reply]]] = {"items": list_items}
