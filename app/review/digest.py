"""The weekly digest of each team: when it is due, what it says, and queueing it once.

A team's digest is due at its slot: ``digest_weekday`` at ``digest_time`` on the wall clock of
its ``time_zone``. It covers the week before the slot, ``[slot - 7 days, slot)`` measured on
that wall clock (so a week with a DST change has 167 or 169 hours), against the week before
that. The engine job ``weekly-digest`` (every few minutes, in every replica) looks for teams
whose latest slot has passed without a digest, and for each one, in one transaction:

1. claims the week: inserts ``team_digests (team_id, week_start)``; the unique key lets only one
   replica win (``ON CONFLICT DO NOTHING``: a loser inserts nothing and sends nothing);
2. gathers the figures (``metrics_queries.team_report``, ``service.owed_reviews``,
   ``service.overdue_items_for_team``) into a ``digest_text.Digest``;
3. writes the outbox rows: Slack to ``digest_slack_channel``, e-mail to ``digest_email`` or,
   without one, to each of the team's managers at their account's address.

The claim and the outbox rows commit together: a failure while gathering rolls back the claim
too, and the next run tries again. Only the latest slot is ever due, so a process that was down
through a slot sends that week's digest late, once, when it comes back; a slot before the team
existed is not sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import TeamRole
from app.core.db import Database
from app.notify.base import MessageKind
from app.notify.models import Notification, NotificationStatus
from app.notify.outbox import wake_dispatcher_after_commit
from app.people.models import ContactType, Team, TeamMembership, User
from app.review import digest_text, metrics_queries
from app.review import metrics as figures
from app.review import service as reviews
from app.review.digest_text import Carrier, Change, Digest, DoraLine, OverdueLine, OwedLine
from app.review.models import ActionItem, TeamDigest

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
DORA_WINDOW = timedelta(days=30)


# ------------------------------------------------------------------------------ the slot


@dataclass(frozen=True)
class Slot:
    """The latest digest slot of a team at or before some instant."""

    at: datetime  # the slot, UTC
    since: datetime  # the week it covers: [since, at), UTC
    previous_since: datetime  # the week before: [previous_since, since)
    week_start: date  # the local date ``since`` falls on: the key in team_digests


def parse_digest_time(value: str) -> time:
    """``"HH:MM"`` (the column's format); ValueError for anything else."""
    hours, sep, minutes = value.partition(":")
    if not sep or len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise ValueError(f"not HH:MM: {value!r}")
    return time(int(hours), int(minutes))


def _wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A wall time a DST change skips (02:30 on the spring-forward night) reads with the
    # offset before the change, i.e. an hour later on the clock; a repeated one is its first.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def latest_slot(now: datetime, zone: ZoneInfo, weekday: int, at: time) -> Slot:
    """The latest ``weekday`` at ``at`` in ``zone`` that is not after ``now``."""
    local = now.astimezone(zone)
    day = local.date() - timedelta(days=(local.weekday() - weekday) % 7)
    slot = _wall(day, at, zone)
    if slot > now:
        day -= WEEK
        slot = _wall(day, at, zone)
    start = day - WEEK
    return Slot(
        at=slot,
        since=_wall(start, at, zone),
        previous_since=_wall(start - WEEK, at, zone),
        week_start=start,
    )


def team_slot(team: Team, now: datetime) -> Slot | None:
    """The team's latest slot, or None when its settings cannot be read (logged)."""
    try:
        zone = ZoneInfo(team.time_zone or "UTC")
        at = parse_digest_time(team.digest_time)
    except (ValueError, ZoneInfoNotFoundError):
        log.warning(
            "team digest settings unreadable; no digest",
            extra={"team_id": team.id, "time_zone": team.time_zone, "at": team.digest_time},
        )
        return None
    return latest_slot(now, zone, team.digest_weekday, at)


# -------------------------------------------------------------------------------- the job


async def send_due_digests(db: Database) -> int:
    """Queue every team's digest whose slot has passed and that no replica sent yet; returns
    how many digests this run queued (the engine job ``weekly-digest``)."""
    now = db.clock.now()
    async with db.new_session() as session:
        teams = (await session.scalars(select(Team).where(Team.digest_enabled.is_(True)))).all()
        due: list[tuple[int, Slot]] = []
        for team in teams:
            slot = team_slot(team, now)
            if slot is None or slot.at < team.created_at:
                continue
            due.append((team.id, slot))
        if due:
            rows = await session.execute(
                select(TeamDigest.team_id, TeamDigest.week_start).where(
                    TeamDigest.team_id.in_([team_id for team_id, _ in due])
                )
            )
            sent = {(team_id, week_start) for team_id, week_start in rows}
            due = [(t, s) for t, s in due if (t, s.week_start) not in sent]
    queued = 0
    for team_id, slot in due:
        try:
            if await send_digest(db, team_id, slot):
                queued += 1
        except Exception:
            # One team's failure must not hold back the others; its claim rolled back with it,
            # so the next run tries that team again.
            log.exception("weekly digest failed", extra={"team_id": team_id})
    return queued


async def send_digest(db: Database, team_id: int, slot: Slot) -> bool:
    """Claim ``slot``'s week for the team and queue its digest, in one transaction; False when
    another run claimed it first, or the team has nobody to send it to."""
    async with db.transaction() as session:
        team = await session.get(Team, team_id)
        if team is None or not team.digest_enabled:
            return False
        emails = await _email_recipients(session, team)
        if not team.digest_slack_channel and not emails:
            return False
        if not await _claim(session, team_id, slot.week_start, db.clock.now()):
            return False
        digest = await gather(session, team, slot)
        _queue(session, team, digest, emails, db.clock.now())
        log.info(
            "weekly digest queued",
            extra={
                "team_id": team_id,
                "week_start": slot.week_start.isoformat(),
                "slack": bool(team.digest_slack_channel),
                "emails": len(emails),
            },
        )
    return True


async def _claim(session: AsyncSession, team_id: int, week_start: date, now: datetime) -> bool:
    """Insert the week's marker; False when it exists. On PostgreSQL a concurrent claim waits
    for the other transaction and inserts nothing if that one commits."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(TeamDigest)
        .values(team_id=team_id, week_start=week_start, sent_at=now)
        .on_conflict_do_nothing(index_elements=["team_id", "week_start"])
        .returning(TeamDigest.id)
    )
    return result.scalar_one_or_none() is not None


async def _email_recipients(session: AsyncSession, team: Team) -> list[str]:
    if team.digest_email:
        return [team.digest_email]
    managers = await session.scalars(
        select(User.email)
        .join(TeamMembership, TeamMembership.user_id == User.id)
        .where(TeamMembership.team_id == team.id, TeamMembership.role == TeamRole.MANAGER)
        .order_by(User.id)
    )
    return list(managers)


def _queue(
    session: AsyncSession, team: Team, digest: Digest, emails: list[str], now: datetime
) -> None:
    context = {
        "event": digest_text.EVENT,
        "team_id": team.id,
        "week_start": digest.since.astimezone(ZoneInfo(digest.time_zone)).date().isoformat(),
        "path": f"/teams/{team.id}",
        # The Slack provider renders the blocks from it, with links to this Baton.
        "digest": digest.to_json(),
    }
    subject = digest_text.subject(digest)
    body = digest_text.text(digest)
    targets = [(ContactType.SLACK, team.digest_slack_channel)] if team.digest_slack_channel else []
    targets += [(ContactType.EMAIL, address) for address in emails]
    for contact_type, address in targets:
        session.add(
            Notification(
                kind=MessageKind.INFO,
                contact_type=contact_type,
                address=address,
                subject=subject[:1024],
                body=body,
                context=dict(context),
                status=NotificationStatus.PENDING,
                due_at=now,
                created_at=now,
            )
        )
    wake_dispatcher_after_commit(session)


# ---------------------------------------------------------------------------- the figures


async def gather(session: AsyncSession, team: Team, slot: Slot) -> Digest:
    """The digest of ``slot``'s week for ``team``."""
    week = await metrics_queries.team_report(session, team.id, slot.since, slot.at)
    before = await metrics_queries.team_report(session, team.id, slot.previous_since, slot.since)
    delivery = await metrics_queries.team_report(session, team.id, slot.at - DORA_WINDOW, slot.at)
    today = slot.at.astimezone(ZoneInfo(digest_zone(team))).date()
    owed = await reviews.owed_reviews(session, now=slot.at, team_id=team.id)
    overdue = await reviews.overdue_items_for_team(session, team.id, today)
    return Digest(
        team_id=team.id,
        team=team.name,
        time_zone=digest_zone(team),
        since=slot.since,
        until=slot.at,
        incidents=Change(week.incidents.incidents, before.incidents.incidents),
        mtta_seconds=Change(week.incidents.mtta.median, before.incidents.mtta.median),
        mttr_seconds=Change(week.incidents.mttr.median, before.incidents.mttr.median),
        carriers=tuple(
            Carrier(p.name, p.interruptions, p.night, p.on_call_hours)
            for p in week.load.people
            if p.interruptions or p.on_call_hours
        ),
        owed=tuple(await _owed_lines(session, owed)),
        overdue=tuple(await _overdue_lines(session, overdue)),
        dora=tuple(
            DoraLine(
                service=s.service_name,
                deploys=s.dora.deployments,
                frequency_band=s.dora.deployment_frequency_band or "",
                change_failure_rate=s.dora.change_failure_rate,
                failure_rate_band=s.dora.change_failure_rate_band or "",
                lead_time_band=s.dora.change_lead_time_band or "",
                recovery_band=s.dora.recovery_time_band or "",
            )
            for s in delivery.services
        ),
        dora_source=f"DORA {figures.DORA_YEAR}",
    )


def digest_zone(team: Team) -> str:
    return team.time_zone or "UTC"


async def _names(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


async def _owed_lines(session: AsyncSession, owed: list[reviews.OwedReview]) -> list[OwedLine]:
    names = await _names(session, {o.owner_id for o in owed if o.owner_id is not None})
    return [
        OwedLine(
            incident_id=o.incident.id,
            title=o.incident.title,
            service=o.service.name,
            why="; ".join(o.why),
            owner=names.get(o.owner_id, "") if o.owner_id is not None else "",
        )
        for o in owed
    ]


async def _overdue_lines(session: AsyncSession, items: list[ActionItem]) -> list[OverdueLine]:
    names = await _names(session, {i.owner_id for i in items if i.owner_id is not None})
    incidents = await reviews.incident_of_items(session, items)
    return [
        OverdueLine(
            title=item.title,
            owner=names.get(item.owner_id, "") if item.owner_id is not None else "",
            due=item.due_date,
            incident_id=incidents.get(item.review_id),
        )
        for item in items
        if item.due_date is not None
    ]


__all__ = [
    "Slot",
    "gather",
    "latest_slot",
    "parse_digest_time",
    "send_digest",
    "send_due_digests",
    "team_slot",
]
