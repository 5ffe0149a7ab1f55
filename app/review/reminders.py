"""Action item reminders and review nudges: the engine's ``review-reminders`` job.

An action item's owner hears on its due day and, if it is still open, the day after; the
owner of a review still owed hears once, ``review_nudge_days`` after the incident resolved
(its draft is made then if nobody made one). Each goes out at :data:`REMIND_AT` in the
owner's own zone, along their own low-urgency rules (``notify.informational``), once: a
reminder is claimed by setting its stamp with ``UPDATE ... WHERE stamp IS NULL``, and only the
transaction whose update changed the row queues the message, so two replicas running the job
at once, or a restart, never send it twice. The message leaves after the claim commits.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Service
from app.core.db import Database
from app.incidents.models import Incident
from app.notify import messages
from app.notify.informational import inform_by_rules
from app.people.models import User
from app.review import service
from app.review.models import ActionItem, ActionStatus, Review

log = logging.getLogger(__name__)

# Reminders wait for the working day in the owner's zone: nobody needs a 00:01 text about a
# follow-up task.
REMIND_AT = time(9, 0)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def due_at(day: date, zone: ZoneInfo) -> datetime:
    """When the reminder for ``day`` goes out in ``zone``."""
    return datetime.combine(day, REMIND_AT, tzinfo=zone)


def first_remind_at(instant: datetime, zone: ZoneInfo) -> datetime:
    """The first reminder time at or after ``instant`` in ``zone``."""
    day = instant.astimezone(zone).date()
    at = due_at(day, zone)
    return at if at >= instant else due_at(day + timedelta(days=1), zone)


def review_path(incident_id: int) -> str:
    return f"{messages.incident_path(incident_id)}/review"


async def _claim(
    session: AsyncSession,
    model: type[ActionItem] | type[Review],
    row_id: int,
    stamp: str,
    now: datetime,
) -> bool:
    column = getattr(model, stamp)
    result = await session.execute(
        update(model)
        .where(model.id == row_id, column.is_(None))
        .values({stamp: now})
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def _item_reminders(session: AsyncSession, now: datetime) -> int:
    # No zone is more than a day ahead of UTC: items due later are not due anywhere yet.
    horizon = now.date() + timedelta(days=1)
    rows = await session.execute(
        select(ActionItem, User.time_zone, Incident, Service.name)
        .join(User, User.id == ActionItem.owner_id)
        .join(Review, Review.id == ActionItem.review_id)
        .join(Incident, Incident.id == Review.incident_id)
        .join(Service, Service.id == Incident.service_id)
        .where(
            ActionItem.status == ActionStatus.OPEN,
            ActionItem.due_date.is_not(None),
            ActionItem.due_date <= horizon,
            ActionItem.overdue_reminded_at.is_(None),
        )
        .order_by(ActionItem.id)
    )
    sent = 0
    for item, zone_name, incident, service_name in rows:
        assert item.due_date is not None and item.owner_id is not None
        zone = _zone(zone_name)
        what = f"incident #{incident.id} ({service_name}: {incident.title})"
        if now >= due_at(item.due_date + timedelta(days=1), zone):
            if not await _claim(session, ActionItem, item.id, "overdue_reminded_at", now):
                continue
            # Overdue says all a due reminder would have: the due one is never sent after it.
            await _claim(session, ActionItem, item.id, "due_reminded_at", now)
            subject = f"[Overdue] Action item: {item.title}"
            text = (
                f"Your action item from the review of {what} was due on "
                f"{item.due_date.isoformat()} and is still open: {item.title}"
            )
            event = "action_item.overdue"
        elif now >= due_at(item.due_date, zone) and item.due_reminded_at is None:
            if not await _claim(session, ActionItem, item.id, "due_reminded_at", now):
                continue
            subject = f"[Due today] Action item: {item.title}"
            text = f"Your action item from the review of {what} is due today: {item.title}"
            event = "action_item.due"
        else:
            continue
        if item.tracker_url:
            text += f" ({item.tracker_url})"
        await inform_by_rules(
            session,
            item.owner_id,
            incident_id=None,  # a follow-up task: it does not belong on the incident's timeline
            subject=subject,
            text=text,
            context={
                "event": event,
                "incident_id": incident.id,
                "action_item_id": item.id,
                "path": review_path(incident.id),
            },
        )
        sent += 1
    return sent


async def _nudges(session: AsyncSession, now: datetime) -> int:
    sent = 0
    for owed in await service.owed_reviews(session, now=now):
        if not owed.nudge_due or owed.owner_id is None:
            continue
        zone_name = await session.scalar(select(User.time_zone).where(User.id == owed.owner_id))
        if zone_name is None:
            continue
        if now < first_remind_at(owed.nudge_due_at, _zone(zone_name)):
            continue
        review, _ = await service.ensure_review(session, owed.incident)
        if review.owner_id is None:
            review.owner_id = owed.owner_id
        if not await _claim(session, Review, review.id, "nudged_at", now):
            continue
        incident = owed.incident
        await inform_by_rules(
            session,
            owed.owner_id,
            incident_id=None,
            subject=f"[Review owed] #{incident.id} {owed.service.name}: {incident.title}",
            text=(
                f"Incident #{incident.id} ({owed.service.name}: {incident.title}) needs a "
                f"review: {'; '.join(owed.why)}. A draft from its timeline is waiting for you."
            ),
            context={
                "event": "review.nudge",
                "incident_id": incident.id,
                "review_id": review.id,
                "path": review_path(incident.id),
            },
        )
        sent += 1
    return sent


async def remind(db: Database) -> int:
    """Send every action item reminder and review nudge due now; returns how many this run
    claimed (a reminder another run claimed first is not counted)."""
    now = db.clock.now()
    async with db.transaction() as session:
        sent = await _item_reminders(session, now)
        sent += await _nudges(session, now)
    if sent:
        log.info("review reminders sent", extra={"sent": sent})
    return sent
