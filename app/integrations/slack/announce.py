"""Who is on call, told to Slack: channel posts at hand-offs and daily, a user group, a topic.

``announce_oncall_changes`` is an engine job. It is safe on several replicas and idempotent:

1. In one short transaction it takes the schedules' announcement rows with
   ``FOR UPDATE SKIP LOCKED`` (another replica skips them) and compares who is on call now
   with what the row says was last announced. Rows with Slack work get a lease
   (``claimed_until``) and a claim token, so no other run touches them until it expires.
2. With the transaction closed, it makes the Slack calls: post in the channel, replace the user
   group's members, set the topic.
3. In a second transaction it records what succeeded on the rows it still holds (same claim
   token) and releases them. What failed for a temporary reason is tried again next run; a
   post whose outcome is unknown (a timeout) is not repeated, like the dispatcher's pages.

The first look at a schedule only remembers who is on call (nothing changed yet), but it does
bring the user group and the topic up to date.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.db import Database
from app.core.declarative import Action, ApplyReport, assign
from app.integrations.slack.app_blocks import mrkdwn_section, when
from app.integrations.slack.client import SlackApi, SlackAppApi, SlackCallFailed
from app.integrations.slack.models import SlackAnnouncement, SlackUserLink
from app.integrations.slack.schemas import AnnouncementIn, AnnouncementOut
from app.people.models import ContactMethod, ContactType, User
from app.schedules import oncall_queries
from app.schedules.models import Schedule
from app.schedules.schemas import AssignmentOut, OnCallOut
from app.schedules.service import get_schedule

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
# A daily post that could not go out on time (the engine was down) is still worth posting
# this long after its time; later, the day's hand-off message has made it stale.
DAILY_GRACE = timedelta(hours=3)
BATCH = 100


# ---------------------------------------------------------------------------------- settings


def as_out(schedule_id: int, row: SlackAnnouncement | None) -> AnnouncementOut:
    if row is None:
        return AnnouncementOut(schedule_id=schedule_id, configured=False)
    return AnnouncementOut(
        schedule_id=schedule_id,
        configured=True,
        channel_id=row.channel_id,
        on_change=row.on_change,
        daily_at=row.daily_at,
        usergroup_id=row.usergroup_id,
        set_topic=row.set_topic,
        announced_responders=row.announced_responders,
        announced_at=row.announced_at,
        daily_posted_on=row.daily_posted_on,
        usergroup_members=row.usergroup_members,
        topic=row.topic,
        last_error=row.last_error,
    )


async def get_settings(session: AsyncSession, schedule_id: int) -> SlackAnnouncement | None:
    await get_schedule(session, schedule_id)
    return await session.scalar(
        select(SlackAnnouncement).where(SlackAnnouncement.schedule_id == schedule_id)
    )


async def set_settings(
    session: AsyncSession, principal: Principal, schedule_id: int, data: AnnouncementIn
) -> SlackAnnouncement:
    """Create or replace a schedule's announcement settings (its team or admins)."""
    schedule = await get_schedule(session, schedule_id)
    principal.require_team_write(schedule.team_id, "this schedule's Slack announcements")
    row, _, _ = await upsert_settings(session, schedule_id, data)
    return row


async def upsert_settings(
    session: AsyncSession, schedule_id: int, data: AnnouncementIn
) -> tuple[SlackAnnouncement, bool, tuple[str, ...]]:
    """The row with these settings, whether it was created, and the settings that changed."""
    row = await session.scalar(
        select(SlackAnnouncement)
        .where(SlackAnnouncement.schedule_id == schedule_id)
        .with_for_update()
    )
    created = row is None
    if row is None:
        row = SlackAnnouncement(schedule_id=schedule_id, last_error="")
        session.add(row)
    if data.usergroup_id != row.usergroup_id:
        row.usergroup_members = None  # a new group has to be filled from scratch
    if data.channel_id != row.channel_id or not data.set_topic:
        row.topic = None
    changed = assign(
        row,
        {
            "channel_id": data.channel_id,
            "on_change": data.on_change,
            "daily_at": data.daily_at,
            "usergroup_id": data.usergroup_id,
            "set_topic": data.set_topic,
        },
    )
    await session.flush()
    return row, created, changed


async def apply_declared(
    session: AsyncSession, schedule: Schedule, data: AnnouncementIn, report: ApplyReport
) -> None:
    """``baton apply``: a schedule's ``slack:`` key, applied idempotently."""
    _, created, changed = await upsert_settings(session, schedule.id, data)
    action = Action.CREATE if created else Action.UPDATE if changed else Action.UNCHANGED
    report.add(action, "slack announcements", schedule.name, () if created else changed)


async def delete_settings(session: AsyncSession, principal: Principal, schedule_id: int) -> bool:
    schedule = await get_schedule(session, schedule_id)
    principal.require_team_write(schedule.team_id, "this schedule's Slack announcements")
    row = await get_settings(session, schedule_id)
    if row is None:
        return False
    await session.delete(row)
    await session.flush()
    return True


# ------------------------------------------------------------------------------------ plan


@dataclass
class Plan:
    """What one run owes one schedule's channel, user group and topic."""

    row_id: int
    token: str
    answer: OnCallOut
    channel_id: str | None
    usergroup_id: str | None
    first_look: bool
    changed: bool
    post_change: bool
    post_daily: bool
    sync_usergroup: bool
    topic: str | None  # the topic to set, when it differs from the one set last
    local_day: date
    previous: list[str] = field(default_factory=list)  # names of the people handing off
    slack_ids: dict[int, str] = field(default_factory=dict)
    emails: dict[int, str] = field(default_factory=dict)


@dataclass
class Outcome:
    posted: bool = False  # the change (or daily) post is done, or was given up on
    usergroup: list[str] | None = None
    topic: str | None = None
    errors: list[str] = field(default_factory=list)


def responder_ids(answer: OnCallOut) -> list[int]:
    return sorted({a.user_id for a in answer.responders})


def topic_text(answer: OnCallOut) -> str:
    names = ", ".join(a.name for a in answer.responders) or "nobody"
    return f"On call for {answer.schedule_name}: {names}"[:250]


def daily_due(row: SlackAnnouncement, zone: str, now: datetime) -> tuple[bool, date]:
    local_now = now.astimezone(ZoneInfo(zone))
    if row.daily_at is None or not row.channel_id:
        return False, local_now.date()
    hour, minute = (int(p) for p in row.daily_at.split(":"))
    due = datetime.combine(local_now.date(), time(hour, minute), tzinfo=ZoneInfo(zone))
    fresh = due <= local_now < due + DAILY_GRACE
    return fresh and row.daily_posted_on != local_now.date(), local_now.date()


def plan_for(row: SlackAnnouncement, answer: OnCallOut, now: datetime) -> Plan:
    current = responder_ids(answer)
    first_look = row.announced_responders is None
    changed = not first_look and sorted(row.announced_responders or []) != current
    daily, local_day = daily_due(row, answer.time_zone, now)
    wanted_topic = topic_text(answer) if row.set_topic and row.channel_id else None
    return Plan(
        row_id=row.id,
        token=secrets.token_hex(8),
        answer=answer,
        channel_id=row.channel_id,
        usergroup_id=row.usergroup_id,
        first_look=first_look,
        changed=changed,
        post_change=changed and row.on_change and bool(row.channel_id),
        post_daily=daily,
        sync_usergroup=bool(row.usergroup_id)
        and (first_look or changed or row.usergroup_members is None),
        topic=wanted_topic if wanted_topic != row.topic else None,
        local_day=local_day,
    )


def has_network_work(plan: Plan) -> bool:
    return plan.post_change or plan.post_daily or plan.sync_usergroup or plan.topic is not None


async def _slack_ids(
    session: AsyncSession, user_ids: set[int]
) -> tuple[dict[int, str], dict[int, str]]:
    """Known Slack ids (links, then Slack contact methods), and e-mails to look the rest up."""
    if not user_ids:
        return {}, {}
    found: dict[int, str] = {}
    for user_id, slack_id in await session.execute(
        select(SlackUserLink.user_id, SlackUserLink.slack_user_id).where(
            SlackUserLink.user_id.in_(user_ids)
        )
    ):
        found.setdefault(user_id, slack_id)
    for user_id, address in await session.execute(
        select(ContactMethod.user_id, ContactMethod.address)
        .where(
            ContactMethod.user_id.in_(user_ids),
            ContactMethod.type == ContactType.SLACK,
            ContactMethod.disabled_at.is_(None),
        )
        .order_by(ContactMethod.id)
    ):
        if address[:1] in ("U", "W"):
            found.setdefault(user_id, address)
    emails = dict(
        (await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))).all()
    )
    return found, {u: e for u, e in emails.items() if u not in found}


async def _names(session: AsyncSession, user_ids: list[int]) -> list[str]:
    if not user_ids:
        return []
    rows = dict(
        (await session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))).all()
    )
    return [rows.get(u, f"user {u}") for u in user_ids]


async def _claim(db: Database) -> list[Plan]:
    """Step 1: who owes what, and a lease on the rows with Slack work."""
    async with db.transaction() as session:
        now = db.clock.now()
        rows = list(
            await session.scalars(
                select(SlackAnnouncement)
                .where(
                    or_(
                        SlackAnnouncement.claimed_until.is_(None),
                        SlackAnnouncement.claimed_until <= now,
                    )
                )
                .order_by(SlackAnnouncement.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return []
        found = await oncall_queries.who_is_on_call(session, [r.schedule_id for r in rows], now)
        by_schedule = {a.schedule_id: a for a in found}
        plans: list[Plan] = []
        for row in rows:
            answer = by_schedule.get(row.schedule_id)
            if answer is None:
                continue
            plan = plan_for(row, answer, now)
            if not has_network_work(plan):
                if plan.first_look or plan.changed:  # nothing to say, but remember it
                    row.announced_responders = responder_ids(answer)
                    row.announced_at = now
                continue
            row.claimed_until = now + LEASE
            row.claim_token = plan.token
            current = set(responder_ids(answer))
            people = current | {a.user_id for a in (*answer.shadows, *answer.next_responders)}
            plan.slack_ids, plan.emails = await _slack_ids(session, people)
            plan.previous = await _names(
                session, [u for u in row.announced_responders or [] if u not in current]
            )
            plans.append(plan)
        return plans


# ---------------------------------------------------------------------------------- words


def _who(items: list[AssignmentOut], slack_ids: dict[int, str]) -> str:
    return ", ".join(
        f"<@{slack_ids[i.user_id]}>" if i.user_id in slack_ids else i.name for i in items
    )


def _names_of(items: list[AssignmentOut]) -> str:
    return ", ".join(i.name for i in items)


def _announcement_line(plan: Plan, who: Callable[[list[AssignmentOut]], str]) -> str:
    answer = plan.answer
    name = answer.schedule_name
    until = f", until {when(answer.until, answer.time_zone)}" if answer.until else ""
    if not answer.responders:
        head = f":warning: *{name}*: nobody is on call now{until}."
    elif plan.post_change:
        verb = "is" if len(answer.responders) == 1 else "are"
        previous = f" (taking over from {', '.join(plan.previous)})" if plan.previous else ""
        head = f":pager: *{name}*: {who(answer.responders)} {verb} now on call{until}{previous}."
    else:
        head = f":calendar: *{name}* today: {who(answer.responders)} on call{until}."
    shadows = f" Shadow: {who(answer.shadows)}." if answer.shadows else ""
    next_up = f" Next: {who(answer.next_responders) or 'nobody'}." if answer.until else ""
    return head + shadows + next_up


def announcement(plan: Plan) -> tuple[str, list[dict[str, Any]]]:
    """The channel post: notification text with names, and a block with mentions."""
    plain = _announcement_line(plan, _names_of)
    rich = _announcement_line(plan, lambda items: _who(items, plan.slack_ids))
    return plain, [mrkdwn_section(rich)]


# ---------------------------------------------------------------------------------- send


async def _lookup_missing(api: SlackApi, plan: Plan, outcome: Outcome) -> None:
    for user_id, email in plan.emails.items():
        try:
            slack_id = await api.lookup_by_email(email)
        except SlackCallFailed as exc:
            outcome.errors.append(f"looking up {email}: {exc.detail}")
            continue
        if slack_id:
            plan.slack_ids[user_id] = slack_id


async def _post(api: SlackApi, plan: Plan, outcome: Outcome) -> None:
    assert plan.channel_id is not None
    text, blocks = announcement(plan)
    try:
        await api.post(plan.channel_id, text, blocks)
    except SlackCallFailed as exc:
        outcome.errors.append(f"posting in {plan.channel_id}: {exc.detail}")
        outcome.posted = not exc.temporary  # a lost answer or a bad channel: do not repeat
        return
    outcome.posted = True


async def _sync_usergroup(app_api: SlackAppApi, plan: Plan, outcome: Outcome) -> None:
    assert plan.usergroup_id is not None
    members = sorted({plan.slack_ids[u] for u in responder_ids(plan.answer) if u in plan.slack_ids})
    if not members:
        outcome.errors.append(
            "nobody on call has a Slack account Baton knows; the user group was left as it was"
        )
        return
    try:
        await app_api.set_usergroup_members(plan.usergroup_id, members)
    except SlackCallFailed as exc:
        outcome.errors.append(f"updating user group {plan.usergroup_id}: {exc.detail}")
        return
    outcome.usergroup = members


async def _set_topic(app_api: SlackAppApi, plan: Plan, outcome: Outcome) -> None:
    assert plan.channel_id is not None and plan.topic is not None
    try:
        await app_api.set_topic(plan.channel_id, plan.topic)
    except SlackCallFailed as exc:
        outcome.errors.append(f"setting the topic of {plan.channel_id}: {exc.detail}")
        return
    outcome.topic = plan.topic


async def carry_out(api: SlackApi, plan: Plan) -> Outcome:
    """Step 2: the Slack calls, outside any transaction."""
    outcome = Outcome()
    app_api = SlackAppApi(api)
    if plan.emails:
        await _lookup_missing(api, plan, outcome)
    if plan.post_change or plan.post_daily:
        await _post(api, plan, outcome)
    if plan.sync_usergroup:
        await _sync_usergroup(app_api, plan, outcome)
    if plan.topic is not None:
        await _set_topic(app_api, plan, outcome)
    return outcome


async def _record(db: Database, plan: Plan, outcome: Outcome) -> None:
    """Step 3: remember what was done, on a row this run still holds."""
    async with db.transaction() as session:
        row = await session.scalar(
            select(SlackAnnouncement)
            .where(SlackAnnouncement.id == plan.row_id, SlackAnnouncement.claim_token == plan.token)
            .with_for_update()
        )
        if row is None:
            return  # the lease expired and another run took over, or the settings went away
        now = db.clock.now()
        posting = plan.post_change or plan.post_daily
        if (plan.first_look or plan.changed) and (outcome.posted or not plan.post_change):
            row.announced_responders = responder_ids(plan.answer)
            row.announced_at = now
        if posting and outcome.posted:
            row.daily_posted_on = plan.local_day  # a hand-off post tells today's news too
        if outcome.usergroup is not None:
            row.usergroup_members = outcome.usergroup
        if outcome.topic is not None:
            row.topic = outcome.topic
        row.last_error = "; ".join(outcome.errors)[:500]
        row.claimed_until = None
        row.claim_token = None


async def announce_oncall_changes(db: Database, slack_api: SlackApi) -> int:
    """One run of the announcement job; returns how many schedules it did Slack work for."""
    plans = await _claim(db)
    for plan in plans:
        outcome = await carry_out(slack_api, plan)
        if outcome.errors:
            log.warning(
                "Slack announcement incomplete",
                extra={"schedule_id": plan.answer.schedule_id, "errors": outcome.errors},
            )
        await _record(db, plan, outcome)
    return len(plans)
